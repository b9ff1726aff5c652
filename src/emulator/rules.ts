import { ALL_PERMISSION_BITS, type TokenResources } from "./token.js";
import { invalidTtl, invalidValue, pamError, type PamResponse } from "./responses.js";

/** TTL bounds in minutes that PubNub enforces on a grant (1 minute to 30 days). */
export const MIN_TTL_MINUTES = 1;
export const MAX_TTL_MINUTES = 43_200;

/**
 * Maximum length of a channel name and of an authorized uuid in PubNub Access Manager, in
 * characters (Unicode code points), as the service's own input rules count them.
 * NOTE: PubNub documents the limit in characters without saying how it counts non-ASCII text.
 */
export const MAX_CHANNEL_NAME_LENGTH = 92;
export const MAX_UUID_LENGTH = 92;

/** Counts Unicode code points, so that an emoji counts as one character. */
function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) {
    count++;
  }
  return count;
}

/** Query parameters that every signed Access Manager request must carry. */
export const REQUIRED_QUERY_PARAMETERS = ["uuid", "timestamp", "signature"] as const;

/** A grant request body after every check has passed. */
export interface GrantRequest {
  ttlMinutes: number;
  authorizedUuid?: string | undefined;
  resources: TokenResources;
  patterns: TokenResources;
  meta: Record<string, unknown>;
}

/** The outcome of a check: the accepted value, or the error response to send. */
export type CheckResult<T> = { ok: true; value: T } | { ok: false; response: PamResponse };

/** Thrown inside the body checks to stop at the first rejected value. */
class Rejection extends Error {
  constructor(readonly response: PamResponse) {
    super(response.body);
  }
}

const RESOURCE_TYPES: ReadonlyArray<keyof TokenResources> = ["channels", "groups", "uuids", "users", "spaces"];

// PubNub reserves "." for wildcard subscribe ("room.*"), so the emulator rejects it in channel names.
const FORBIDDEN_CHANNEL_CHARACTERS = new Set([",", ":", "*", "/", "\\", " ", "."]);

function reject(message: string, detail: string, location: string): never {
  throw new Rejection(invalidValue(message, "grant", detail, location, "body"));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isControlCharacter(character: string): boolean {
  const code = character.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
}

/**
 * Returns why PubNub would reject a channel name, or undefined when the name is valid. A valid
 * name has 1 to 92 characters and none of `,` `:` `*` `/` `\` `.`, space or control characters.
 */
export function channelNameProblem(name: string): string | undefined {
  if (name.length === 0) {
    return "A channel name must not be empty.";
  }
  if (characterCount(name) > MAX_CHANNEL_NAME_LENGTH) {
    return `Channel name ${JSON.stringify(name)} is ${characterCount(name)} characters long; the maximum is ${MAX_CHANNEL_NAME_LENGTH}.`;
  }
  for (const character of name) {
    if (FORBIDDEN_CHANNEL_CHARACTERS.has(character) || isControlCharacter(character)) {
      return `Channel name ${JSON.stringify(name)} contains ${JSON.stringify(character)}, which channel names must not contain.`;
    }
  }
  return undefined;
}

function checkBitmask(value: unknown, name: string, location: string): number {
  const valid =
    typeof value === "number" &&
    Number.isInteger(value) &&
    value >= 0 &&
    value <= ALL_PERMISSION_BITS &&
    (value & ~ALL_PERMISSION_BITS) === 0;
  if (!valid) {
    reject(
      "Invalid permissions",
      `Permissions for ${JSON.stringify(name)} must be a non-negative integer built from the bits 1, 2, 4, 8, 32, 64 and 128; got ${JSON.stringify(value)}.`,
      location,
    );
  }
  return value;
}

function checkResourceName(type: keyof TokenResources, name: string, isPattern: boolean, location: string): void {
  if (name.length === 0) {
    reject("Invalid resource name", `A name in ${location} must not be empty.`, location);
  }
  // Patterns are regular expressions, so "*" and "." are legitimate there.
  if (type === "channels" && !isPattern) {
    const problem = channelNameProblem(name);
    if (problem !== undefined) {
      reject("Invalid channel name", problem, location);
    }
  }
  if (type === "uuids" && characterCount(name) > MAX_UUID_LENGTH) {
    reject(
      "Invalid uuid",
      `Uuid ${JSON.stringify(name)} is ${characterCount(name)} characters long; the maximum is ${MAX_UUID_LENGTH}.`,
      location,
    );
  }
}

// NOTE: PubNub's exact rules for group, user, space and pattern names are not documented here, so
// the emulator only requires them to be non-empty.
function checkResources(value: unknown, location: string, isPattern: boolean): TokenResources {
  const resources: TokenResources = { channels: {}, groups: {}, uuids: {}, users: {}, spaces: {} };
  if (value === undefined) {
    return resources;
  }
  if (!isPlainObject(value)) {
    reject("Invalid permissions", `${location} must be a JSON object.`, location);
  }
  for (const [type, names] of Object.entries(value)) {
    const typeLocation = `${location}.${type}`;
    if (!(RESOURCE_TYPES as readonly string[]).includes(type)) {
      reject(
        "Invalid resource type",
        `Unknown resource type ${JSON.stringify(type)}; expected one of ${RESOURCE_TYPES.join(", ")}.`,
        typeLocation,
      );
    }
    if (!isPlainObject(names)) {
      reject("Invalid permissions", `${typeLocation} must be a JSON object.`, typeLocation);
    }
    const resourceType = type as keyof TokenResources;
    const entries: Array<[string, number]> = [];
    for (const [name, bitmask] of Object.entries(names)) {
      checkResourceName(resourceType, name, isPattern, typeLocation);
      entries.push([name, checkBitmask(bitmask, name, typeLocation)]);
    }
    resources[resourceType] = Object.fromEntries(entries);
  }
  return resources;
}

function checkTtl(value: unknown): number {
  const valid =
    typeof value === "number" && Number.isInteger(value) && value >= MIN_TTL_MINUTES && value <= MAX_TTL_MINUTES;
  if (!valid) {
    throw new Rejection(invalidTtl());
  }
  return value;
}

function checkAuthorizedUuid(value: unknown): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "string" || value.length === 0 || characterCount(value) > MAX_UUID_LENGTH) {
    reject(
      "Invalid uuid",
      `The authorized uuid must be a string of 1 to ${MAX_UUID_LENGTH} characters; got ${JSON.stringify(value)}.`,
      "permissions.uuid",
    );
  }
  return value;
}

// PubNub documents meta values as scalars only, so arrays and nested objects are rejected.
function checkMeta(value: unknown): Record<string, unknown> {
  if (value === undefined) {
    return {};
  }
  if (!isPlainObject(value)) {
    reject("Invalid meta", "permissions.meta must be a JSON object.", "permissions.meta");
  }
  for (const [name, item] of Object.entries(value)) {
    if (typeof item === "object" && item !== null) {
      reject(
        "Invalid meta",
        `Meta value ${JSON.stringify(name)} must be a string, number, boolean or null.`,
        "permissions.meta",
      );
    }
  }
  return value;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    reject("Invalid request body", `The body is not valid JSON: ${(error as Error).message}`, "body");
  }
}

function checkGrantBody(body: string): GrantRequest {
  const parsed = parseJson(body);
  if (!isPlainObject(parsed)) {
    reject("Invalid request body", "The body must be a JSON object with ttl and permissions.", "body");
  }
  const ttlMinutes = checkTtl(parsed.ttl);
  const permissions = parsed.permissions;
  if (!isPlainObject(permissions)) {
    reject("Invalid permissions", "The body must contain a permissions object.", "permissions");
  }
  return {
    ttlMinutes,
    authorizedUuid: checkAuthorizedUuid(permissions.uuid),
    resources: checkResources(permissions.resources, "permissions.resources", false),
    patterns: checkResources(permissions.patterns, "permissions.patterns", true),
    meta: checkMeta(permissions.meta),
  };
}

/**
 * Parses and checks a grant request body: JSON shape, TTL, authorized uuid, resource names,
 * bitmasks and meta. Stops at the first rejected value.
 */
export function parseGrantBody(body: string): CheckResult<GrantRequest> {
  try {
    return { ok: true, value: checkGrantBody(body) };
  } catch (error) {
    if (error instanceof Rejection) {
      return { ok: false, response: error.response };
    }
    throw error;
  }
}

/** Checks that the query carries every required parameter with a non-empty value. */
export function checkRequiredQuery(query: Record<string, string>, source: string): PamResponse | undefined {
  for (const name of REQUIRED_QUERY_PARAMETERS) {
    if (!query[name]) {
      return invalidValue(
        "Missing query parameter",
        source,
        `The ${JSON.stringify(name)} query parameter is required.`,
        name,
        "query",
      );
    }
  }
  return undefined;
}

/**
 * Checks that the `timestamp` query parameter is whole Unix seconds within `windowSeconds` of the
 * emulator clock `nowMs`.
 */
export function checkTimestamp(
  timestamp: string,
  nowMs: number,
  windowSeconds: number,
  source: string,
): PamResponse | undefined {
  if (!/^\d{1,15}$/.test(timestamp)) {
    return invalidValue(
      "Invalid timestamp",
      source,
      `The timestamp must be whole Unix seconds; got ${JSON.stringify(timestamp)}.`,
      "timestamp",
      "query",
    );
  }
  const nowSeconds = Math.floor(nowMs / 1000);
  const skewSeconds = Math.abs(Number(timestamp) - nowSeconds);
  if (skewSeconds > windowSeconds) {
    // NOTE: PubNub's status for a stale timestamp is not recorded. The emulator returns 403, as
    // for a bad signature, because both reject the request's authentication.
    return pamError(403, "Request expired", source, [
      {
        message: `Timestamp ${timestamp} is ${skewSeconds} s away from the server time ${nowSeconds}; at most ${windowSeconds} s is allowed. Check the client clock.`,
        location: "timestamp",
        locationType: "query",
      },
    ]);
  }
  return undefined;
}
