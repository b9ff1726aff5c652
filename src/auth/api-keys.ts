/**
 * API keys for internal callers.
 *
 * A key reads `r5ts_<keyId>_<secret>`, 61 ASCII characters in all:
 * - `r5ts_` is a fixed prefix, so secret scanners can find leaked keys in code, logs and chat.
 * - keyId is 12 random lowercase hex digits (48 bits). It is not secret. The server finds the
 *   stored hash by it without trying every entry, and logs and audit records name a key by it.
 *   createApiKeyVerifier rejects the rare case of two entries with the same key id.
 * - secret is 32 random bytes in base64url without padding (43 characters).
 *
 * The server stores only `sha256:<hex>`, the SHA-256 digest of the whole key. A fast hash is
 * enough because the secret carries 256 random bits, far beyond the reach of a brute-force search
 * of the digest. Slow password hashes such as bcrypt protect guessable passwords, and for random
 * keys they would only add CPU time to every call.
 */

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Prefix of every API key. */
export const API_KEY_PREFIX = "r5ts_";

/** Length of every API key in characters. */
export const API_KEY_LENGTH = 61;

const KEY_ID_BYTES = 6;
const SECRET_BYTES = 32;

// 32 bytes are 256 bits, and 43 base64url characters carry 258, so the last character encodes
// 4 bits followed by two zero bits. Only these 16 characters can end a secret that
// Buffer.toString("base64url") wrote, and the pattern rejects any other ending.
const API_KEY_PATTERN = /^r5ts_([0-9a-f]{12})_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const KEY_ID_PATTERN = /^[0-9a-f]{12}$/;
const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
const CALLER_NAME_PATTERN = /^[a-z0-9._-]{1,64}$/;

/** A new API key and what the server stores for it. */
export interface GeneratedApiKey {
  /** The key itself, to hand to the caller once. Never store or log it. */
  readonly key: string;
  readonly keyId: string;
  /** `sha256:` and the lowercase hex SHA-256 digest of the whole key. */
  readonly hash: string;
}

/** Generates a random API key and its stored hash. */
export function generateApiKey(): GeneratedApiKey {
  const keyId = randomBytes(KEY_ID_BYTES).toString("hex");
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  const key = `${API_KEY_PREFIX}${keyId}_${secret}`;
  return { key, keyId, hash: `sha256:${sha256(key).toString("hex")}` };
}

/**
 * Checks that text is exactly an API key in the format that generateApiKey writes and returns its
 * key id, or undefined for anything else. It never throws. The length is checked first, so the
 * work is bounded for input of any length.
 */
export function parseApiKey(text: string): { readonly keyId: string } | undefined {
  if (typeof text !== "string" || text.length !== API_KEY_LENGTH) {
    return undefined;
  }
  const match = API_KEY_PATTERN.exec(text);
  return match?.[1] === undefined ? undefined : { keyId: match[1] };
}

/**
 * Returns whether name is a valid caller name: 1 to 64 characters of a-z, 0-9, "-", "_" and ".".
 * Caller names appear in logs and key the rate limiter's buckets, so they are kept short and plain.
 */
export function isValidCallerName(name: string): boolean {
  return typeof name === "string" && CALLER_NAME_PATTERN.test(name);
}

/** A stored API key, as in the callers configuration. */
export interface ApiKeyEntry {
  readonly keyId: string;
  /** `sha256:` and the lowercase hex SHA-256 digest of the whole key. */
  readonly hash: string;
  /** Name of the caller that the key authenticates. Several keys may name one caller. */
  readonly caller: string;
}

/** The caller and key that a verified API key belongs to. */
export interface AuthenticatedCaller {
  readonly caller: string;
  readonly keyId: string;
}

/** Checks presented API keys against the stored entries. */
export interface ApiKeyVerifier {
  /** Returns the caller of a valid key, or undefined for any other input. Never throws. */
  verify(presentedKey: string): AuthenticatedCaller | undefined;
}

/**
 * An invalid API key entry. The message names the entry by its position and, when the key id is
 * valid, by its key id. It never contains the hash, nor a key id that failed the check, because
 * that field may contain a whole key pasted by mistake.
 */
export class ApiKeyEntryError extends Error {
  override readonly name = "ApiKeyEntryError";

  constructor(
    /** Zero-based position of the entry in the list. */
    readonly entryIndex: number,
    /** Key id of the entry, or undefined when the key id itself is invalid. */
    readonly keyId: string | undefined,
    problem: string,
  ) {
    super(`API key entry ${entryIndex}${keyId === undefined ? "" : ` (key id ${keyId})`} ${problem}`);
  }
}

interface StoredKey {
  readonly caller: string;
  readonly keyId: string;
  readonly digest: Buffer;
}

/**
 * Creates a verifier from stored entries, which it copies. Throws ApiKeyEntryError for the first
 * entry with an invalid key id, hash or caller, or with a key id that an earlier entry has.
 *
 * Verification hashes the presented key and compares the digest with crypto.timingSafeEqual. Both
 * digests are 32 bytes, so the comparison cannot throw on a length mismatch. A key with an unknown
 * key id is compared with a random digest, so it costs the same hashing and comparison as a known
 * one. verify returns early, before hashing, for input that is not an API key. That reveals
 * nothing about the stored keys, because the format is public.
 * NOTE: the Map lookup by key id is not constant-time, so timing may still differ slightly
 * between known and unknown key ids.
 */
export function createApiKeyVerifier(entries: readonly ApiKeyEntry[]): ApiKeyVerifier {
  const storedKeys = indexEntries(entries);
  const unknownKeyDigest = randomBytes(32);

  return {
    verify(presentedKey: string): AuthenticatedCaller | undefined {
      const parsed = parseApiKey(presentedKey);
      if (parsed === undefined) {
        return undefined;
      }

      const stored = storedKeys.get(parsed.keyId);
      const matches = timingSafeEqual(sha256(presentedKey), stored?.digest ?? unknownKeyDigest);
      if (stored === undefined || !matches) {
        return undefined;
      }
      return { caller: stored.caller, keyId: stored.keyId };
    },
  };
}

function indexEntries(entries: readonly ApiKeyEntry[]): Map<string, StoredKey> {
  const storedKeys = new Map<string, StoredKey>();
  const positions = new Map<string, number>();

  for (const [index, entry] of entries.entries()) {
    const stored = validateEntry(entry, index);
    const earlier = positions.get(stored.keyId);
    if (earlier !== undefined) {
      throw new ApiKeyEntryError(index, stored.keyId, `has the same key id as entry ${earlier}. Generate a new key instead of copying an entry.`);
    }
    positions.set(stored.keyId, index);
    storedKeys.set(stored.keyId, stored);
  }
  return storedKeys;
}

function validateEntry(entry: ApiKeyEntry, index: number): StoredKey {
  const { keyId, hash, caller } = entry;
  if (typeof keyId !== "string" || !KEY_ID_PATTERN.test(keyId)) {
    throw new ApiKeyEntryError(index, undefined, "has an invalid keyId: expected 12 lowercase hex digits, as scripts/create-api-key.ts prints.");
  }
  if (typeof hash !== "string" || !HASH_PATTERN.test(hash)) {
    throw new ApiKeyEntryError(index, keyId, 'has an invalid hash: expected "sha256:" and 64 lowercase hex digits, as scripts/create-api-key.ts prints.');
  }
  if (!isValidCallerName(caller)) {
    throw new ApiKeyEntryError(index, keyId, 'has an invalid caller: expected 1 to 64 characters of a-z, 0-9, "-", "_" and ".".');
  }
  return { caller, keyId, digest: Buffer.from(hash.slice("sha256:".length), "hex") };
}

// RFC 6750, section 2.1: credentials = "Bearer" 1*SP b64token, and
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// The scheme name is case-insensitive. Every character class excludes the character after it, so
// matching takes linear time.
const BEARER_PATTERN = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Extracts the token from an authorization header value of the form `Bearer <token>`, or returns
 * undefined when the value is missing or has any other form. The scheme matches in any case, and
 * one or more spaces (no tabs) separate it from the token. Whitespace around the value is
 * rejected, because HTTP's grammar puts it outside the field value and parsers strip it.
 */
export function parseBearerHeader(value: string | null): string | undefined {
  if (typeof value !== "string") {
    return undefined;
  }
  return BEARER_PATTERN.exec(value)?.[1];
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
