import { hash } from "node:crypto";
import { pino, type DestinationStream, type Logger } from "pino";
import { createRedactingLogger } from "../server/logger.js";
import type { ConferenceRole } from "../tokens/conference-token.js";
import type { ChatPermissions, PolicyRpc } from "./policy.js";

/** Canonical gRPC status code names, such as OK and PERMISSION_DENIED. */
export type GrpcCodeName =
  | "OK"
  | "CANCELLED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "UNAUTHENTICATED";

/** An authenticated caller, as the audit log names it. */
export interface AuditCaller {
  /** Caller name from the service's configuration. */
  readonly name: string;
  /**
   * Authentication method and identity: "api-key:" and the key's id, or "mtls:" and the subject
   * alternative name of the client certificate. Never the key itself.
   */
  readonly authenticatedBy: `api-key:${string}` | `mtls:${string}`;
}

/** Fields that every audit entry has, whichever RPC it records. */
interface AuditEntryCommon {
  /** When the attempt ended, by the service's clock. */
  readonly time: Date;
  readonly requestId: string;
  /** Undefined when the call failed authentication. */
  readonly caller: AuditCaller | undefined;
  readonly rpc: PolicyRpc;
  readonly userId: string;
  /** Effective token lifetime requested, in minutes, after the service's default of 60 is applied. */
  readonly minutes: number;
  /** Expiry of the token issued, or undefined when none was issued. */
  readonly expiresAt: Date | undefined;
  /** tokenFingerprint() of the token issued, or undefined when none was issued. */
  readonly tokenFingerprint: string | undefined;
  readonly code: GrpcCodeName;
  /** Time from the start of the call to its end, in milliseconds. */
  readonly latencyMs: number;
}

/** An attempt to mint a conference token. */
export interface ConferenceAuditEntry extends AuditEntryCommon {
  readonly rpc: "IssueConferenceToken";
  readonly roomId: string;
  /** Undefined when the request named no valid role. */
  readonly role: ConferenceRole | undefined;
}

/** An attempt to mint a chat token. */
export interface ChatAuditEntry extends AuditEntryCommon {
  readonly rpc: "IssueChatToken";
  readonly channelId: string;
  /** Permissions requested. */
  readonly permissions: ChatPermissions;
}

/** One attempt to mint a token, allowed or not. */
export type AuditEntry = ConferenceAuditEntry | ChatAuditEntry;

/** The audit log: one JSON record per mint attempt. */
export interface AuditLog {
  record(entry: AuditEntry): void;
}

/**
 * Maximum length, in code points, of a string copied into an audit record. Longer ones are cut,
 * because the ids of rejected requests are recorded too and may be up to the request size limit.
 */
export const MAX_AUDITED_STRING_LENGTH = 128;

/**
 * Paths that pino replaces with "[redacted]", as a second guard. record() copies only the fields
 * of AuditEntry, and none of them contains a token or a key. pino's redaction matches exact paths,
 * so these cover the names at the top level and two levels down.
 */
const AUDIT_REDACTED_PATHS = ["token", "key", "secret", "authorization"].flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);

const AUDIT_MESSAGE = "token mint attempt";

/**
 * Returns the first 12 hex digits (48 bits) of the SHA-256 hash of a token's UTF-8 text. That is
 * enough to tell whether a token found elsewhere is the one a record describes, but nothing of
 * the token can be recovered from it, and tokens carry signatures that cannot be guessed to test
 * against it. At 48 bits, among about 20 million tokens two share a fingerprint with even odds, so
 * match the user, room or channel and time too before concluding.
 */
export function tokenFingerprint(token: string): string {
  return hash("sha256", token, "hex").slice(0, 12);
}

/**
 * Creates the audit log, which writes one JSON line per record to its own destination, separate
 * from the call log: standard output, written synchronously, unless a destination is given.
 * The caller that creates a destination also flushes and closes it.
 * Records carry "log": "audit" to distinguish them when both logs share a stream.
 *
 * Ids are written as JSON strings, so quotes, backslashes, CR and LF inside them are escaped and
 * cannot end a record or start a forged one. pino 10 leaves U+2028 and U+2029 unescaped, as JSON
 * allows, so the log escapes them itself for readers that split lines at them.
 */
export function createAuditLog(destination?: DestinationStream): AuditLog {
  const logger = createAuditLogger(destination);
  return {
    record(entry: AuditEntry): void {
      logger.info(toRecord(entry), AUDIT_MESSAGE);
    },
  };
}

/**
 * Creates the pino logger under createAuditLog, with its redaction and line separator escaping.
 * createAuditLog is the interface for recording attempts. This logger is exported so that its
 * redaction can be tested on fields that record() never writes.
 */
export function createAuditLogger(destination?: DestinationStream): Logger {
  const options = { level: "info", base: { log: "audit" }, timestamp: false };
  return createRedactingLogger(options, AUDIT_REDACTED_PATHS, escapeLineSeparators(destination ?? pino.destination({ dest: 1, sync: true })));
}

/** Copies the fields of an entry, and nothing else, into the shape of a record. */
function toRecord(entry: AuditEntry): Record<string, unknown> {
  const target =
    entry.rpc === "IssueConferenceToken"
      ? { roomId: cut(entry.roomId), role: entry.role ?? null }
      : { channelId: cut(entry.channelId), permissions: { read: entry.permissions.read, write: entry.permissions.write } };

  return {
    time: entry.time.toISOString(),
    requestId: cut(entry.requestId),
    caller: entry.caller === undefined ? null : { name: cut(entry.caller.name), authenticatedBy: cut(entry.caller.authenticatedBy) },
    rpc: entry.rpc,
    userId: cut(entry.userId),
    ...target,
    minutes: entry.minutes,
    expiresAt: entry.expiresAt?.toISOString() ?? null,
    tokenFingerprint: entry.tokenFingerprint ?? null,
    code: entry.code,
    latencyMs: entry.latencyMs,
  };
}

function cut(text: string): string {
  // A string has at least as many UTF-16 code units as code points, so a short one needs no cut.
  if (text.length <= MAX_AUDITED_STRING_LENGTH) {
    return text;
  }
  const codePoints = Array.from(text);
  return codePoints.length > MAX_AUDITED_STRING_LENGTH ? codePoints.slice(0, MAX_AUDITED_STRING_LENGTH).join("") : text;
}

/**
 * Wraps a destination so that characters some readers treat as line breaks (U+2028, U+2029 and
 * the C1 controls, NEL U+0085 among them) reach it as JSON escapes. pino writes them raw only
 * inside strings, where the escape has the same meaning.
 */
function escapeLineSeparators(destination: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      destination.write(line.replace(/[\u0080-\u009f\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`));
    },
  };
}
