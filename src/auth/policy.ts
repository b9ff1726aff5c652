import { PUBNUB_MAX_TTL_MINUTES } from "../service/request-rules.js";
import type { ConferenceRole } from "../tokens/conference-token.js";
import { compileIdPatterns, IdPatternError, type IdMatcher } from "./id-patterns.js";

/** RPCs that a policy can allow, by their method names in the proto. */
export const POLICY_RPCS = ["IssueConferenceToken", "IssueChatToken"] as const;
export type PolicyRpc = (typeof POLICY_RPCS)[number];

const ROLES = ["admin", "publisher", "subscriber"] as const satisfies readonly ConferenceRole[];

/** Read and write permission on a chat channel and its presence channel. */
export interface ChatPermissions {
  readonly read: boolean;
  readonly write: boolean;
}

/**
 * Limits on the tokens that one authenticated caller may mint. Settings of an RPC that rpcs does
 * not contain are never consulted, because every check rejects that RPC first.
 */
export interface CallerPolicy {
  readonly rpcs: ReadonlySet<PolicyRpc>;
  /** Roles allowed in conference tokens. Empty when the policy sets none. */
  readonly roles: ReadonlySet<ConferenceRole>;
  /** Maximum lifetime of a conference token in minutes, 1 to 43200. Defaults to 43200. */
  readonly maxConferenceMinutes: number;
  /** Maximum lifetime of a chat token in minutes, 1 to 43200. Defaults to 43200. */
  readonly maxChatMinutes: number;
  /** Room ids allowed in conference tokens. Matches none when the policy sets none. */
  readonly rooms: IdMatcher;
  /** Channel ids allowed in chat tokens. Matches none when the policy sets none. */
  readonly channels: IdMatcher;
  /** Maximum permissions of a chat token. Neither read nor write when the policy sets none. */
  readonly chatPermissions: ChatPermissions;
}

/** Stable ids of the policy rules, for logs and metrics. */
export type PolicyRule = "policy.rpc" | "policy.role" | "policy.room" | "policy.channel" | "policy.max_minutes" | "policy.chat_permission";

/**
 * A request that the caller's policy forbids. The message names the broken rule and echoes the
 * request, but never reveals what the policy allows.
 */
export interface PolicyDenial {
  readonly rule: PolicyRule;
  readonly message: string;
}

/** The parts of an IssueConferenceToken request that a policy limits. */
export interface ConferenceRequest {
  readonly roomId: string;
  readonly role: ConferenceRole;
  /** Effective token lifetime in minutes, after the service's default of 60 is applied. */
  readonly minutes: number;
}

/** The parts of an IssueChatToken request that a policy limits. */
export interface ChatRequest {
  readonly channelId: string;
  readonly read: boolean;
  readonly write: boolean;
  /** Effective token lifetime in minutes, after the service's default of 60 is applied. */
  readonly minutes: number;
}

/** Chat permissions of the chat token embedded in a conference token, per role. */
export type RoleChatPermissions = Readonly<Record<ConferenceRole, ChatPermissions>>;

const READ_WRITE: ChatPermissions = Object.freeze({ read: true, write: true });
const READ_ONLY: ChatPermissions = Object.freeze({ read: true, write: false });

/** Read and write for every role, as Red5's backend SDK grants. */
export const DEFAULT_ROLE_CHAT_PERMISSIONS: RoleChatPermissions = Object.freeze({
  admin: READ_WRITE,
  publisher: READ_WRITE,
  subscriber: READ_WRITE,
});

/** Read only for subscribers, so that they can follow the chat but not post. Read and write for the other roles. */
export const LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS: RoleChatPermissions = Object.freeze({
  admin: READ_WRITE,
  publisher: READ_WRITE,
  subscriber: READ_ONLY,
});

/**
 * An invalid caller policy or role chat permission map. The message names the caller (for a
 * policy), the field path, the problem and the fix.
 */
export class PolicyError extends Error {
  override readonly name = "PolicyError";

  constructor(
    /** Caller whose policy is invalid; undefined for the role map. */
    readonly caller: string | undefined,
    /** Path of the invalid field, such as "rooms[1]" or "chatPermissions.read", or "" for the whole value. */
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

const POLICY_FIELDS = ["rpcs", "roles", "maxConferenceMinutes", "maxChatMinutes", "rooms", "channels", "chatPermissions"] as const;

/**
 * Reads and checks a caller's policy from parsed JSON. Throws PolicyError for the first problem.
 *
 * rpcs is required. roles and rooms are required when rpcs contains IssueConferenceToken, and
 * channels and chatPermissions when it contains IssueChatToken. Each is optional otherwise, but
 * still checked, so that a policy with an RPC switched off stays valid when it is switched back on.
 * maxConferenceMinutes and maxChatMinutes default to 43200, PubNub's limit, which leaves the
 * server's TOKEN_MAX_MINUTES as the only cap. Unknown fields, empty lists and repeated list
 * entries are rejected.
 */
export function parseCallerPolicy(json: unknown, callerName: string): CallerPolicy {
  const reader = new JsonReader(callerName, `policy of caller ${JSON.stringify(callerName)}`);
  const policy = reader.object(json, "", POLICY_FIELDS);

  const rpcs = reader.require(reader.nameList(policy, "rpcs", POLICY_RPCS), "rpcs", "List the RPCs this caller may call: IssueConferenceToken, IssueChatToken or both.");
  const roles = reader.nameList(policy, "roles", ROLES);
  const rooms = reader.patternList(policy, "rooms");
  const channels = reader.patternList(policy, "channels");
  const chatPermissions = policy.chatPermissions === undefined ? undefined : reader.chatPermissions(policy.chatPermissions, "chatPermissions");

  if (rpcs.includes("IssueConferenceToken")) {
    reader.require(roles, "roles", "IssueConferenceToken needs the roles this caller may issue: admin, publisher, subscriber or several.");
    reader.require(rooms, "rooms", 'IssueConferenceToken needs the room ids this caller may issue, such as ["lobby", "webinar-*"].');
  }
  if (rpcs.includes("IssueChatToken")) {
    reader.require(channels, "channels", 'IssueChatToken needs the channel ids this caller may issue, such as ["support-*"].');
    const allowed = reader.require(chatPermissions, "chatPermissions", 'IssueChatToken needs the most a chat token may grant, such as {"read": true, "write": false}.');
    if (!allowed.read && !allowed.write) {
      throw reader.error("chatPermissions", "allows neither read nor write. Set read, write or both to true, or remove IssueChatToken from rpcs.");
    }
  }

  return Object.freeze({
    rpcs: new Set(rpcs),
    roles: new Set(roles ?? []),
    maxConferenceMinutes: reader.minutes(policy, "maxConferenceMinutes"),
    maxChatMinutes: reader.minutes(policy, "maxChatMinutes"),
    rooms: rooms ?? compileIdPatterns([]),
    channels: channels ?? compileIdPatterns([]),
    chatPermissions: chatPermissions ?? Object.freeze({ read: false, write: false }),
  });
}

/**
 * Checks a conference token request against a policy: the RPC, then the role, the room and the
 * lifetime. Returns the first rule broken, or undefined when the policy allows the request.
 */
export function checkConferenceRequest(policy: CallerPolicy, request: ConferenceRequest): PolicyDenial | undefined {
  if (!policy.rpcs.has("IssueConferenceToken")) {
    return { rule: "policy.rpc", message: "IssueConferenceToken is not allowed for this caller" };
  }
  if (!policy.roles.has(request.role)) {
    return { rule: "policy.role", message: `role ${request.role} is not allowed for this caller` };
  }
  if (!policy.rooms.matches(request.roomId)) {
    return { rule: "policy.room", message: `room ${JSON.stringify(request.roomId)} is not allowed for this caller` };
  }
  return checkMinutes(request.minutes, policy.maxConferenceMinutes);
}

/**
 * Checks a chat token request against a policy: the RPC, then the channel, the permissions and
 * the lifetime. Returns the first rule broken, or undefined when the policy allows the request.
 */
export function checkChatRequest(policy: CallerPolicy, request: ChatRequest): PolicyDenial | undefined {
  if (!policy.rpcs.has("IssueChatToken")) {
    return { rule: "policy.rpc", message: "IssueChatToken is not allowed for this caller" };
  }
  if (!policy.channels.matches(request.channelId)) {
    return { rule: "policy.channel", message: `channel ${JSON.stringify(request.channelId)} is not allowed for this caller` };
  }

  const forbidden = [request.read && !policy.chatPermissions.read ? "read" : "", request.write && !policy.chatPermissions.write ? "write" : ""].filter(
    (permission) => permission !== "",
  );
  if (forbidden.length > 0) {
    const message = forbidden.length === 1 ? `${forbidden[0]} permission is not allowed for this caller` : "read and write permissions are not allowed for this caller";
    return { rule: "policy.chat_permission", message };
  }

  return checkMinutes(request.minutes, policy.maxChatMinutes);
}

/** Returns the chat permissions that a conference token for the role embeds. */
export function chatPermissionsForRole(map: RoleChatPermissions, role: ConferenceRole): ChatPermissions {
  return map[role];
}

/**
 * Reads and checks a role-to-chat-permission map from parsed JSON, such as
 * {"admin": {"read": true, "write": true}, "publisher": ..., "subscriber": {"read": true, "write": false}}.
 * Every role is required and must allow read, write or both, because every conference token
 * embeds a chat token. Throws PolicyError for the first problem.
 */
export function parseRoleChatPermissions(json: unknown): RoleChatPermissions {
  const reader = new JsonReader(undefined, "role chat permissions");
  const map = reader.object(json, "", ROLES);

  const permissionsOf = (role: ConferenceRole): ChatPermissions => {
    const value = reader.require(map[role], role, 'Set it to an object such as {"read": true, "write": false}.');
    const permissions = reader.chatPermissions(value, role);
    if (!permissions.read && !permissions.write) {
      throw reader.error(role, "allows neither read nor write. Set read, write or both to true, because every conference token embeds a chat token.");
    }
    return permissions;
  };

  return Object.freeze({ admin: permissionsOf("admin"), publisher: permissionsOf("publisher"), subscriber: permissionsOf("subscriber") });
}

function checkMinutes(minutes: number, maxMinutes: number): PolicyDenial | undefined {
  if (minutes <= maxMinutes) {
    return undefined;
  }
  return { rule: "policy.max_minutes", message: `a lifetime of ${minutes} minutes is longer than this caller may request` };
}

/**
 * Checks values of parsed JSON and builds PolicyErrors. Each message starts with the subject,
 * then the field path (none for the whole value), the problem and the fix.
 */
class JsonReader {
  constructor(
    private readonly caller: string | undefined,
    private readonly subject: string,
  ) {}

  error(path: string, problem: string): PolicyError {
    const message = path === "" ? `${this.subject} ${problem}` : `${this.subject}: ${path} ${problem}`;
    return new PolicyError(this.caller, path, message);
  }

  /** Returns the value, or throws a "missing" error with the fix when it is undefined. */
  require<T>(value: T | undefined, path: string, fix: string): T {
    if (value === undefined) {
      throw this.error(path, `is missing. ${fix}`);
    }
    return value;
  }

  /** Checks that the value is a JSON object with no fields but the known ones. */
  object<Field extends string>(value: unknown, path: string, fields: readonly Field[]): Partial<Record<Field, unknown>> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw this.error(path, `must be a JSON object with the fields ${fields.join(", ")}; got ${describeValue(value)}.`);
    }
    for (const key of Object.keys(value)) {
      if (!(fields as readonly string[]).includes(key)) {
        const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key);
        throw this.error(path === "" ? name : `${path}.${name}`, `is not a known field. The fields are ${fields.join(", ")}.`);
      }
    }
    return value as Partial<Record<Field, unknown>>;
  }

  /** Reads an optional, non-empty list of names from a fixed set, each at most once. */
  nameList<Name extends string>(object: Partial<Record<string, unknown>>, field: string, names: readonly Name[]): Name[] | undefined {
    const list = this.list(object, field, `List at least one of ${names.join(", ")}.`);
    list?.forEach((entry, index) => {
      if (typeof entry !== "string" || !(names as readonly string[]).includes(entry)) {
        throw this.error(`${field}[${index}]`, `must be one of ${names.join(", ")}; got ${describeValue(entry)}.`);
      }
      if (list.indexOf(entry) !== index) {
        throw this.error(`${field}[${index}]`, `repeats ${entry}. List each one once.`);
      }
    });
    return list as Name[] | undefined;
  }

  /** Reads an optional, non-empty list of distinct id patterns and compiles it. */
  patternList(object: Partial<Record<string, unknown>>, field: "rooms" | "channels"): IdMatcher | undefined {
    const list = this.list(object, field, `List at least one ${field === "rooms" ? "room" : "channel"} id pattern.`);
    if (list === undefined) {
      return undefined;
    }

    list.forEach((entry, index) => {
      if (typeof entry !== "string") {
        throw this.error(`${field}[${index}]`, `must be a string such as "lobby" or "webinar-*"; got ${describeValue(entry)}.`);
      }
      if (list.indexOf(entry) !== index) {
        throw this.error(`${field}[${index}]`, `repeats ${JSON.stringify(entry)}. List each pattern once.`);
      }
    });
    try {
      return compileIdPatterns(list as string[]);
    } catch (error) {
      if (error instanceof IdPatternError) {
        throw this.error(`${field}[${error.index}]`, `is invalid: ${error.message}`);
      }
      throw error;
    }
  }

  /** Reads an object with exactly the boolean fields read and write. */
  chatPermissions(value: unknown, path: string): ChatPermissions {
    const object = this.object(value, path, ["read", "write"]);
    const flag = (field: "read" | "write"): boolean => {
      const flagValue = this.require(object[field], `${path}.${field}`, "Set it to true or false.");
      if (typeof flagValue !== "boolean") {
        throw this.error(`${path}.${field}`, `must be true or false; got ${describeValue(flagValue)}.`);
      }
      return flagValue;
    };
    return Object.freeze({ read: flag("read"), write: flag("write") });
  }

  /** Reads an optional whole number of minutes from 1 to 43200, which defaults to 43200. */
  minutes(object: Partial<Record<string, unknown>>, field: string): number {
    const value = object[field];
    if (value === undefined) {
      return PUBNUB_MAX_TTL_MINUTES;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > PUBNUB_MAX_TTL_MINUTES) {
      throw this.error(field, `must be a whole number of minutes from 1 to ${PUBNUB_MAX_TTL_MINUTES}; got ${describeValue(value)}.`);
    }
    return value;
  }

  private list(object: Partial<Record<string, unknown>>, field: string, emptyFix: string): unknown[] | undefined {
    const value = object[field];
    if (value === undefined) {
      return undefined;
    }
    if (!Array.isArray(value)) {
      throw this.error(field, `must be a list; got ${describeValue(value)}.`);
    }
    if (value.length === 0) {
      throw this.error(field, `is empty. ${emptyFix}`);
    }
    return value;
  }
}

/** Describes a JSON value for an error message, with strings cut to 32 characters. */
function describeValue(value: unknown): string {
  if (value === null) {
    return "null";
  }
  if (Array.isArray(value)) {
    return "a list";
  }
  if (typeof value === "string") {
    return JSON.stringify(value.length > 32 ? `${value.slice(0, 32)}…` : value);
  }
  if (typeof value === "object") {
    return "an object";
  }
  return String(value);
}
