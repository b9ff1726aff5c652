import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema, type RetryInfo } from "../../gen/ts/google/rpc/error_details_pb.js";
import { GrantError } from "../pubnub/grant-client.js";
import type { FieldViolation } from "./request-rules.js";

/**
 * Builds the INVALID_ARGUMENT error for broken input rules: a message listing each field and rule,
 * and a google.rpc.BadRequest detail with one field violation each.
 */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const summary = violations
    .map((violation) => `${violation.field || "request"}: ${violation.description} [${violation.reason}]`)
    .join("; ");
  const detail = create(BadRequestSchema, {
    fieldViolations: violations.map((violation) => ({ ...violation })),
  });
  return new ConnectError(`invalid request: ${summary}`, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: detail },
  ]);
}

/**
 * Builds the PERMISSION_DENIED error for a request outside the caller's policy. It names the rule,
 * in the message and as the reason of a google.rpc.ErrorInfo detail, but not the policy's contents.
 */
export function permissionDenied(rule: string, message: string): ConnectError {
  const detail = create(ErrorInfoSchema, { reason: rule, domain: "red5-token-service" });
  return new ConnectError(`permission denied: ${message} [${rule}]`, Code.PermissionDenied, undefined, [{ desc: ErrorInfoSchema, value: detail }]);
}

/** Builds a google.rpc.RetryInfo detail asking the caller to wait retryAfterMs. */
export function retryInfo(retryAfterMs: number): { desc: typeof RetryInfoSchema; value: RetryInfo } {
  const seconds = Math.floor(retryAfterMs / 1000);
  const value = create(RetryInfoSchema, {
    retryDelay: { seconds: BigInt(seconds), nanos: Math.round((retryAfterMs - seconds * 1000) * 1_000_000) },
  });
  return { desc: RetryInfoSchema, value };
}

const GRANT_ERROR_CODES = {
  unavailable: Code.Unavailable,
  "deadline-exceeded": Code.DeadlineExceeded,
  rejected: Code.FailedPrecondition,
  invalid: Code.InvalidArgument,
  cancelled: Code.Canceled,
} as const satisfies Record<GrantError["kind"], Code>;

const GRANT_ERROR_MESSAGES = {
  unavailable: "PubNub is unavailable; retry later",
  "deadline-exceeded": "deadline exceeded while waiting for PubNub",
  rejected: "PubNub rejected the service's grant request; the operator must check its credentials and clock",
  invalid: "PubNub rejected the grant as invalid",
  cancelled: "the call was cancelled",
} as const satisfies Record<GrantError["kind"], string>;

/**
 * Maps any error a handler throws to the error a caller receives. ConnectErrors pass unchanged,
 * PubNub grant failures get a code the caller can act on, and anything else becomes a generic
 * INTERNAL error. The original error is kept only as the cause, for the server log.
 */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) {
    return error;
  }
  if (error instanceof GrantError && error.retryAfterMs !== undefined) {
    return new ConnectError(`PubNub is unavailable; retry in ${error.retryAfterMs} ms`, Code.Unavailable, undefined, [retryInfo(error.retryAfterMs)], error);
  }
  if (error instanceof GrantError && error.kind === "deadline-exceeded" && error.attempts === 0) {
    return new ConnectError("deadline exceeded before PubNub was asked", Code.DeadlineExceeded, undefined, undefined, error);
  }
  if (error instanceof GrantError) {
    const message =
      error.kind === "invalid" && error.upstreamMessage ? `${GRANT_ERROR_MESSAGES.invalid}: ${error.upstreamMessage}` : GRANT_ERROR_MESSAGES[error.kind];
    return new ConnectError(message, GRANT_ERROR_CODES[error.kind], undefined, undefined, error);
  }
  return new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}
