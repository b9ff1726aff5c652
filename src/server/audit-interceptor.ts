import { randomUUID } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { tokenFingerprint, type AuditLog, type GrpcCodeName } from "../auth/audit.js";
import { CALLER } from "../auth/caller-context.js";
import { toConnectError } from "../service/errors.js";
import { DEFAULT_TOKEN_MINUTES } from "../service/request-rules.js";
import type { ConferenceRole } from "../tokens/conference-token.js";

const ROLE_NAMES: Readonly<Record<number, ConferenceRole>> = { 1: "admin", 2: "publisher", 3: "subscriber" };

/** Unary request and response fields the audit record reads, common to both TokenService methods. */
interface MintMessage {
  readonly userId?: string;
  readonly roomId?: string;
  readonly channelId?: string;
  readonly role?: number;
  readonly read?: boolean;
  readonly write?: boolean;
  readonly expirationMinutes?: number;
  readonly ttlMinutes?: number;
}

interface MintResult {
  readonly token?: string;
  readonly expireTime?: { readonly seconds: bigint };
}

/**
 * Creates the interceptor that writes one audit record per TokenService call, successful or not:
 * who asked, for what, the outcome, and a fingerprint of the token issued. It runs outside
 * authentication, so rejected callers are audited too.
 */
export function createAuditInterceptor(auditLog: AuditLog, now: () => number): Interceptor {
  return (next) => async (request) => {
    const rpc = request.method.name;
    if (request.stream || (rpc !== "IssueConferenceToken" && rpc !== "IssueChatToken")) {
      return next(request);
    }

    const startedAt = performance.now();
    const requestId = randomUUID();
    const message = request.message as MintMessage;
    let code: GrpcCodeName = "OK";
    let result: MintResult | undefined;
    try {
      const response = await next(request);
      result = response.stream ? undefined : (response.message as MintResult);
      return response;
    } catch (error) {
      // Records the code the caller receives: the call log interceptor, outside this one, maps
      // raw errors, and a cancelled call is CANCELLED whatever its handler threw.
      const mapped = request.signal.aborted ? ConnectError.from(request.signal.reason) : toConnectError(error);
      code = grpcCodeName(mapped.code);
      throw error;
    } finally {
      const identity = request.contextValues.get(CALLER);
      const common = {
        time: new Date(now()),
        requestId,
        caller: identity === undefined ? undefined : { name: identity.caller.name, authenticatedBy: identity.authenticatedBy },
        userId: message.userId ?? "",
        expiresAt: result?.expireTime === undefined ? undefined : new Date(Number(result.expireTime.seconds) * 1000),
        tokenFingerprint: result?.token ? tokenFingerprint(result.token) : undefined,
        code,
        latencyMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
      };
      if (rpc === "IssueConferenceToken") {
        const minutes = message.expirationMinutes ?? DEFAULT_TOKEN_MINUTES;
        auditLog.record({ ...common, rpc, roomId: message.roomId ?? "", role: ROLE_NAMES[message.role ?? 0], minutes });
      } else {
        const minutes = message.ttlMinutes ?? DEFAULT_TOKEN_MINUTES;
        const permissions = { read: message.read === true, write: message.write === true };
        auditLog.record({ ...common, rpc, channelId: message.channelId ?? "", permissions, minutes });
      }
    }
  };
}

/** Converts a Connect code to its gRPC name, such as PERMISSION_DENIED. */
function grpcCodeName(code: Code): GrpcCodeName {
  if (code === Code.Canceled) {
    return "CANCELLED";
  }
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() as GrpcCodeName;
}
