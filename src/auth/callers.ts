import { createApiKeyVerifier, isValidCallerName, type ApiKeyEntry, type ApiKeyVerifier } from "./api-keys.js";
import {
  DEFAULT_ROLE_CHAT_PERMISSIONS,
  LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS,
  parseCallerPolicy,
  parseRoleChatPermissions,
  type CallerPolicy,
  type RoleChatPermissions,
} from "./policy.js";
import type { RateLimit } from "./rate-limiter.js";

/** One configured caller: its policy and, when set, its rate limit. */
export interface Caller {
  readonly name: string;
  readonly policy: CallerPolicy;
  readonly rateLimit: RateLimit | undefined;
}

/**
 * The callers configuration, resolved: who may authenticate how, and what each may mint.
 */
export interface CallerRegistry {
  readonly callers: ReadonlyMap<string, Caller>;
  readonly apiKeys: ApiKeyVerifier;
  /**
   * Certificate identities, as Node.js writes subject alternative names ("URI:spiffe://..." or
   * "DNS:name"), to caller names.
   */
  readonly tlsIdentities: ReadonlyMap<string, string>;
  /** Chat permissions embedded in conference tokens, by role. */
  readonly roleChatPermissions: RoleChatPermissions;
}

/** A callers configuration that cannot be used. The message names the place and the fix. */
export class CallersConfigError extends Error {
  override readonly name = "CallersConfigError";
}

const TOP_LEVEL_FIELDS = new Set(["roleChatPermissions", "callers"]);
const CALLER_FIELDS = new Set(["name", "apiKeys", "tlsIdentities", "rateLimit", "policy"]);
const TLS_IDENTITY = /^(URI:[\x21-\x7e]{1,512}|DNS:[A-Za-z0-9.*-]{1,253})$/;

/**
 * Reads a callers configuration from parsed JSON. Throws CallersConfigError, or the error of the
 * part at fault (PolicyError, ApiKeyEntryError), naming the caller and field.
 *
 * roleChatPermissions is "red5" (read and write for every role, Red5's behaviour; the default),
 * "least-privilege" (subscribers read only), or an object with admin, publisher and subscriber.
 */
export function parseCallers(json: unknown): CallerRegistry {
  const root = requireObject(json, "the callers configuration");
  rejectUnknownFields(root, TOP_LEVEL_FIELDS, "the callers configuration");

  const callers = new Map<string, Caller>();
  const keyEntries: ApiKeyEntry[] = [];
  const tlsIdentities = new Map<string, string>();
  if (!Array.isArray(root.callers) || root.callers.length === 0) {
    throw new CallersConfigError('callers must be a non-empty list of {"name", "policy", "apiKeys" or "tlsIdentities"} objects.');
  }

  root.callers.forEach((entry: unknown, index: number) => {
    const caller = parseCaller(entry, index);
    if (callers.has(caller.name)) {
      throw new CallersConfigError(`callers[${index}]: the name ${JSON.stringify(caller.name)} is used twice. Give each caller its own name.`);
    }
    callers.set(caller.name, caller.caller);
    keyEntries.push(...caller.apiKeys);
    for (const identity of caller.tlsIdentities) {
      const owner = tlsIdentities.get(identity);
      if (owner !== undefined) {
        const where = owner === caller.name ? "is listed twice" : `already belongs to caller ${JSON.stringify(owner)}`;
        throw new CallersConfigError(`callers[${index}]: the TLS identity ${JSON.stringify(identity)} ${where}. Keep one entry.`);
      }
      tlsIdentities.set(identity, caller.name);
    }
  });

  return {
    callers,
    apiKeys: createApiKeyVerifier(keyEntries),
    tlsIdentities,
    roleChatPermissions: parseRoleMap(root.roleChatPermissions),
  };
}

interface ParsedCaller {
  readonly name: string;
  readonly caller: Caller;
  readonly apiKeys: ApiKeyEntry[];
  readonly tlsIdentities: string[];
}

function parseCaller(entry: unknown, index: number): ParsedCaller {
  const place = `callers[${index}]`;
  const object = requireObject(entry, place);
  rejectUnknownFields(object, CALLER_FIELDS, place);

  const name = object.name;
  if (typeof name !== "string" || !isValidCallerName(name)) {
    throw new CallersConfigError(`${place}.name must be 1 to 64 characters of a-z, 0-9, ".", "_" and "-".`);
  }
  const apiKeys = parseApiKeys(object.apiKeys, name, place);
  const tlsIdentities = parseTlsIdentities(object.tlsIdentities, place);
  if (apiKeys.length === 0 && tlsIdentities.length === 0) {
    throw new CallersConfigError(`${place} (${name}) has no apiKeys and no tlsIdentities, so it could never authenticate. Add one.`);
  }

  const caller: Caller = { name, policy: parseCallerPolicy(object.policy, name), rateLimit: parseRateLimit(object.rateLimit, place) };
  return { name, caller, apiKeys, tlsIdentities };
}

function parseApiKeys(value: unknown, caller: string, place: string): ApiKeyEntry[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw new CallersConfigError(`${place}.apiKeys must be a list of {"keyId", "hash"} objects from scripts/create-api-key.ts.`);
  }
  return value.map((key: unknown, keyIndex: number) => {
    const object = requireObject(key, `${place}.apiKeys[${keyIndex}]`);
    rejectUnknownFields(object, new Set(["keyId", "hash", "caller"]), `${place}.apiKeys[${keyIndex}]`);
    const keyPlace = `${place}.apiKeys[${keyIndex}]`;
    if (typeof object.keyId !== "string" || typeof object.hash !== "string") {
      throw new CallersConfigError(`${keyPlace} needs keyId and hash as strings, as scripts/create-api-key.ts prints them.`);
    }
    if (object.caller !== undefined && object.caller !== caller) {
      throw new CallersConfigError(`${keyPlace} was created for another caller. Move it under that caller, or create a key for ${JSON.stringify(caller)}.`);
    }
    return { keyId: object.keyId, hash: object.hash, caller };
  });
}

function parseTlsIdentities(value: unknown, place: string): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || !value.every((identity) => typeof identity === "string" && TLS_IDENTITY.test(identity))) {
    throw new CallersConfigError(`${place}.tlsIdentities must be a list of "URI:..." or "DNS:..." subject alternative names.`);
  }
  return value as string[];
}

function parseRateLimit(value: unknown, place: string): RateLimit | undefined {
  if (value === undefined) {
    return undefined;
  }
  const object = requireObject(value, `${place}.rateLimit`);
  rejectUnknownFields(object, new Set(["perSecond", "burst"]), `${place}.rateLimit`);
  const { perSecond, burst } = object;
  if (typeof perSecond !== "number" || !(perSecond > 0) || !Number.isFinite(perSecond) || typeof burst !== "number" || !(burst >= 1) || !Number.isFinite(burst)) {
    throw new CallersConfigError(`${place}.rateLimit needs perSecond (a positive number) and burst (at least 1).`);
  }
  return { perSecond, burst };
}

function parseRoleMap(value: unknown): RoleChatPermissions {
  if (value === undefined || value === "red5") {
    return DEFAULT_ROLE_CHAT_PERMISSIONS;
  }
  if (value === "least-privilege") {
    return LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS;
  }
  if (typeof value === "string") {
    throw new CallersConfigError('roleChatPermissions must be "red5", "least-privilege" or an object with admin, publisher and subscriber.');
  }
  return parseRoleChatPermissions(value);
}

function requireObject(value: unknown, place: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CallersConfigError(`${place} must be a JSON object.`);
  }
  return value as Record<string, unknown>;
}

/** Field names short and plain enough to quote in a message; anything else might be a pasted key. */
const QUOTABLE_FIELD = /^[A-Za-z][A-Za-z0-9]{0,31}$/;

function rejectUnknownFields(object: Record<string, unknown>, known: ReadonlySet<string>, place: string): void {
  const unknown = Object.keys(object).find((field) => !known.has(field));
  if (unknown !== undefined) {
    const name = QUOTABLE_FIELD.test(unknown) ? `field ${JSON.stringify(unknown)}` : "field (its name is not shown, in case it is a key)";
    throw new CallersConfigError(`${place} has an unknown ${name}. Known fields: ${[...known].join(", ")}.`);
  }
}
