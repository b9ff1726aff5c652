import { createHmac, timingSafeEqual } from "node:crypto";
import { decode } from "cbor2";
import { encodeCbor } from "./cbor.js";

/** Access Manager permission bits, as PubNub defines them. Read+write is 3. */
export const PERMISSION_BITS = {
  read: 1,
  write: 2,
  manage: 4,
  delete: 8,
  get: 32,
  update: 64,
  join: 128,
} as const;

/** Union of every defined permission bit (239). Any other bit makes a bitmask invalid. */
export const ALL_PERMISSION_BITS = Object.values(PERMISSION_BITS).reduce((all, bit) => all | bit, 0);

/** The token version that Access Manager v3 issues. */
export const TOKEN_VERSION = 2;

/** Length in bytes of the HMAC-SHA256 signature stored under the token's `sig` key. */
export const TOKEN_SIGNATURE_BYTES = 32;

/** Resource names mapped to permission bitmasks, one record per resource type. */
export interface TokenResources {
  channels: Record<string, number>;
  groups: Record<string, number>;
  uuids: Record<string, number>;
  users: Record<string, number>;
  spaces: Record<string, number>;
}

/** The grant that a token carries: what the emulator signs into it. */
export interface TokenGrant {
  /** Issue time in whole Unix seconds. */
  issuedAt: number;
  /** Lifetime in minutes, counted from `issuedAt`. */
  ttlMinutes: number;
  /** The only user id allowed to use the token, or undefined when the grant names none. */
  authorizedUuid?: string | undefined;
  resources: TokenResources;
  /** Permissions on every resource whose name matches a regular expression. */
  patterns: TokenResources;
  meta: Record<string, unknown>;
}

/** A decoded token: its grant, version and the 32-byte signature. */
export interface DecodedToken extends TokenGrant {
  version: number;
  signature: Buffer;
}

/** Error thrown when a string is not a well-formed Access Manager v3 token. */
export class InvalidTokenError extends Error {
  override name = "InvalidTokenError";
}

/** CBOR key of each resource type inside the token's `res` and `pat` maps, in encoding order. */
const RESOURCE_KEYS: ReadonlyArray<readonly [string, keyof TokenResources]> = [
  ["chan", "channels"],
  ["grp", "groups"],
  ["usr", "users"],
  ["spc", "spaces"],
  ["uuid", "uuids"],
];

// encodeCbor, like cbor2 2.3, writes a Uint8Array as a plain CBOR byte string and a Map in insertion
// order, so a Map with Uint8Array keys gives the exact layout of a PubNub token. A Buffer would not
// do, because cbor2 encodes it through its toJSON method.
type CborMap = Map<unknown, unknown>;

/** The UTF-8 bytes of each map key, encoded once. Keys are only read, so tokens share them. */
const KEY_BYTES = new Map<string, Uint8Array>();

function key(name: string): Uint8Array {
  let bytes = KEY_BYTES.get(name);
  if (bytes === undefined) {
    bytes = new TextEncoder().encode(name);
    KEY_BYTES.set(name, bytes);
  }
  return bytes;
}

function encodeResources(resources: TokenResources): CborMap {
  return new Map(
    RESOURCE_KEYS.map(([cborKey, field]) => [key(cborKey), new Map(Object.entries(resources[field]))]),
  );
}

/** Builds the token map without `sig`, with keys in the order PubNub uses. */
function unsignedTokenMap(grant: TokenGrant): CborMap {
  const map: CborMap = new Map<unknown, unknown>([
    [key("v"), TOKEN_VERSION],
    [key("t"), grant.issuedAt],
    [key("ttl"), grant.ttlMinutes],
    [key("res"), encodeResources(grant.resources)],
    [key("pat"), encodeResources(grant.patterns)],
    [key("meta"), new Map(Object.entries(grant.meta))],
  ]);
  if (grant.authorizedUuid !== undefined) {
    map.set(key("uuid"), grant.authorizedUuid);
  }
  return map;
}

// PubNub does not publish how its servers compute `sig`. The emulator's own choice is
// HMAC-SHA256, keyed with the secret key, over the CBOR encoding of the token map without `sig`.
function signTokenMap(unsigned: CborMap, secretKey: string): Uint8Array {
  return new Uint8Array(createHmac("sha256", secretKey).update(encodeCbor(unsigned)).digest());
}

/** Encodes bytes as base64 with the URL-safe alphabet, keeping `=` padding as PubNub tokens do. */
function toPaddedBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * Mints an Access Manager v3 token: one CBOR map with byte-string keys v, t, ttl, res, pat, meta,
 * uuid (only when set) and sig, encoded as padded URL-safe base64.
 */
export function mintToken(grant: TokenGrant, secretKey: string): string {
  const map = unsignedTokenMap(grant);
  map.set(key("sig"), signTokenMap(map, secretKey));
  return toPaddedBase64Url(encodeCbor(map));
}

function fail(reason: string): never {
  throw new InvalidTokenError(`Invalid token: ${reason}.`);
}

function isCborMap(value: unknown): value is CborMap {
  return value instanceof Map;
}

/** Converts a CBOR map with byte-string keys to a record keyed by the UTF-8 text of each key. */
function byteKeyedEntries(map: CborMap, where: string): Map<string, unknown> {
  const entries = new Map<string, unknown>();
  for (const [rawKey, value] of map) {
    if (!(rawKey instanceof Uint8Array)) {
      fail(`${where} has a key that is not a byte string`);
    }
    entries.set(Buffer.from(rawKey).toString("utf8"), value);
  }
  return entries;
}

function readInteger(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail(`"${name}" is not a non-negative integer`);
  }
  return value;
}

function readBitmasks(value: unknown, where: string): Record<string, number> {
  if (value === undefined) {
    return {};
  }
  if (!isCborMap(value)) {
    fail(`"${where}" is not a map`);
  }
  const entries: Array<[string, number]> = [];
  for (const [name, bitmask] of value) {
    if (typeof name !== "string") {
      fail(`"${where}" has a resource name that is not a text string`);
    }
    entries.push([name, readInteger(bitmask, `${where}.${name}`)]);
  }
  // Object.fromEntries defines own properties, so a name such as "__proto__" stays a plain key.
  return Object.fromEntries(entries);
}

function readResources(value: unknown, name: string): TokenResources {
  if (!isCborMap(value)) {
    fail(`"${name}" is missing or not a map`);
  }
  const entries = byteKeyedEntries(value, name);
  const resources: TokenResources = { channels: {}, groups: {}, uuids: {}, users: {}, spaces: {} };
  for (const [cborKey, field] of RESOURCE_KEYS) {
    resources[field] = readBitmasks(entries.get(cborKey), `${name}.${cborKey}`);
  }
  return resources;
}

function readMeta(value: unknown): Record<string, unknown> {
  if (value === undefined) {
    return {};
  }
  if (!isCborMap(value)) {
    fail(`"meta" is not a map`);
  }
  const entries: Array<[string, unknown]> = [];
  for (const [name, item] of value) {
    entries.push([typeof name === "string" ? name : String(name), item]);
  }
  return Object.fromEntries(entries);
}

function decodeTokenBytes(token: string): Buffer {
  if (token.length === 0 || !/^[A-Za-z0-9_-]+={0,2}$/.test(token)) {
    fail("expected URL-safe base64 text");
  }
  return Buffer.from(token, "base64url");
}

function decodeTokenMap(token: string): Map<string, unknown> {
  let decoded: unknown;
  try {
    decoded = decode(decodeTokenBytes(token), { preferMap: true });
  } catch (error) {
    if (error instanceof InvalidTokenError) {
      throw error;
    }
    fail(`the bytes are not valid CBOR (${(error as Error).message})`);
  }
  if (!isCborMap(decoded)) {
    fail("the CBOR value is not a map");
  }
  return byteKeyedEntries(decoded, "token");
}

/**
 * Decodes an Access Manager v3 token into its grant, version and signature without checking the
 * signature. Accepts tokens with or without `=` padding.
 *
 * @throws InvalidTokenError if the text is not URL-safe base64 of a CBOR token map, or a field
 *   is missing or has the wrong type.
 */
export function decodeToken(token: string): DecodedToken {
  const fields = decodeTokenMap(token);

  const authorizedUuid = fields.get("uuid");
  if (authorizedUuid !== undefined && typeof authorizedUuid !== "string") {
    fail(`"uuid" is not a text string`);
  }
  const signature = fields.get("sig");
  if (!(signature instanceof Uint8Array) || signature.length !== TOKEN_SIGNATURE_BYTES) {
    fail(`"sig" is not a ${TOKEN_SIGNATURE_BYTES}-byte string`);
  }

  return {
    version: readInteger(fields.get("v"), "v"),
    issuedAt: readInteger(fields.get("t"), "t"),
    ttlMinutes: readInteger(fields.get("ttl"), "ttl"),
    authorizedUuid,
    resources: readResources(fields.get("res"), "res"),
    patterns: readResources(fields.get("pat"), "pat"),
    meta: readMeta(fields.get("meta")),
    signature: Buffer.from(signature),
  };
}

/**
 * Checks that a token was minted by `mintToken` with this secret key. Tokens minted by PubNub's
 * servers are not expected to pass, because PubNub does not publish how it computes `sig`.
 *
 * @throws InvalidTokenError if the token cannot be decoded.
 */
export function verifyTokenSignature(token: string, secretKey: string): boolean {
  const decoded = decodeToken(token);
  if (decoded.version !== TOKEN_VERSION) {
    return false;
  }
  const expected = signTokenMap(unsignedTokenMap(decoded), secretKey);
  return timingSafeEqual(expected, decoded.signature);
}
