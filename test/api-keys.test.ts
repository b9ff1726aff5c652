import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  API_KEY_LENGTH,
  API_KEY_PREFIX,
  ApiKeyEntryError,
  createApiKeyVerifier,
  generateApiKey,
  isValidCallerName,
  parseApiKey,
  parseBearerHeader,
  type ApiKeyEntry,
} from "../src/auth/api-keys.js";
import { REPO_ROOT } from "./support/process.js";

/** Computes the stored hash of a key, independently of the code under test. */
function hashOf(key: string): string {
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

const KEY_ID = "0123456789ab";
/** 32 bytes of 0xab in base64url: 42 characters and a final "s". */
const SECRET = Buffer.alloc(32, 0xab).toString("base64url");
const KEY = `r5ts_${KEY_ID}_${SECRET}`;
/** 32 bytes of 0xff: the secret starts with "_", the separator character. */
const UNDERSCORE_KEY = `r5ts_fedcba987654_${Buffer.alloc(32, 0xff).toString("base64url")}`;

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** KEY with its last character replaced by one that decodes to the same 32 bytes. */
function nonCanonicalKey(): string {
  const last = KEY.at(-1) ?? "";
  const other = BASE64URL_ALPHABET[BASE64URL_ALPHABET.indexOf(last) + 1] ?? "";
  return `${KEY.slice(0, -1)}${other}`;
}

const TEN_MEGABYTES = 10 * 1024 * 1024;

/** Inputs that are not exactly an API key, each with KEY as its starting point where it has one. */
const MALFORMED_KEYS: { name: string; text: string }[] = [
  { name: "empty string", text: "" },
  { name: "prefix only", text: "r5ts_" },
  { name: "truncated by one character", text: KEY.slice(0, -1) },
  { name: "truncated to the key id", text: `r5ts_${KEY_ID}_` },
  { name: "extra character at the end", text: `${KEY}A` },
  { name: "extra character at the start", text: `x${KEY}` },
  { name: "trailing newline", text: `${KEY}\n` },
  { name: "surrounding spaces", text: ` ${KEY} ` },
  { name: "uppercase prefix", text: `R5TS_${KEY.slice(5)}` },
  { name: "mixed-case prefix", text: `R5ts_${KEY.slice(5)}` },
  { name: "prefix with uppercase TS", text: `r5TS_${KEY.slice(5)}` },
  { name: "other prefix", text: `r6ts_${KEY.slice(5)}` },
  { name: "uppercase key id", text: `r5ts_${KEY_ID.toUpperCase()}_${SECRET}` },
  { name: "key id not hex", text: `r5ts_0123456789ag_${SECRET}` },
  { name: "key id of 11 digits", text: `r5ts_0123456789a_${SECRET}A` },
  { name: "key id of 13 digits", text: `r5ts_0123456789abc_${SECRET.slice(1)}` },
  { name: "hyphen as separator", text: `r5ts_${KEY_ID}-${SECRET}` },
  { name: "standard base64 characters", text: `r5ts_${KEY_ID}_+/${SECRET.slice(2)}` },
  { name: "padded secret", text: `r5ts_${KEY_ID}_${SECRET.slice(0, -1)}=` },
  { name: "non-canonical last character", text: nonCanonicalKey() },
  { name: "non-ASCII letter in the secret", text: `${KEY.slice(0, -2)}é${KEY.slice(-1)}` },
  { name: "emoji replacing two characters", text: `${KEY.slice(0, -3)}😀${KEY.slice(-1)}` },
  { name: "NUL character in the secret", text: `${KEY.slice(0, -2)}\0${KEY.slice(-1)}` },
  { name: "10 MB string", text: `${KEY}${"a".repeat(TEN_MEGABYTES)}` },
];

describe("generateApiKey", () => {
  it("writes the documented format", () => {
    const { key, keyId, hash } = generateApiKey();

    expect(key).toMatch(/^r5ts_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(key).toHaveLength(API_KEY_LENGTH);
    expect(key.startsWith(`${API_KEY_PREFIX}${keyId}_`)).toBe(true);
    expect(keyId).toMatch(/^[0-9a-f]{12}$/);
    expect(hash).toBe(hashOf(key));
  });

  it("encodes 32 bytes in the secret", () => {
    const secret = generateApiKey().key.slice(-43);
    const bytes = Buffer.from(secret, "base64url");

    expect(bytes).toHaveLength(32);
    expect(bytes.toString("base64url")).toBe(secret);
  });

  it("makes a different key each time", () => {
    const first = generateApiKey();
    const second = generateApiKey();

    expect(second.key).not.toBe(first.key);
    expect(second.keyId).not.toBe(first.keyId);
    expect(second.hash).not.toBe(first.hash);
  });

  it("writes keys that parseApiKey accepts", () => {
    for (let i = 0; i < 200; i++) {
      const { key, keyId } = generateApiKey();
      expect(parseApiKey(key)).toEqual({ keyId });
    }
  });
});

describe("parseApiKey", () => {
  it("returns the key id", () => {
    expect(parseApiKey(KEY)).toEqual({ keyId: KEY_ID });
  });

  it("accepts a secret that starts with the separator", () => {
    expect(parseApiKey(UNDERSCORE_KEY)).toEqual({ keyId: "fedcba987654" });
  });

  it.each(MALFORMED_KEYS)("rejects $name", ({ text }) => {
    expect(parseApiKey(text)).toBeUndefined();
  });

  it("rejects a non-canonical ending that decodes to the same bytes", () => {
    const text = nonCanonicalKey();

    expect(Buffer.from(text.slice(-43), "base64url")).toEqual(Buffer.from(SECRET, "base64url"));
    expect(parseApiKey(text)).toBeUndefined();
  });

  it.each([undefined, null, 61, {}])("returns undefined for %s", (value) => {
    expect(parseApiKey(value as unknown as string)).toBeUndefined();
  });
});

describe("isValidCallerName", () => {
  const cases: { name: string; valid: boolean }[] = [
    { name: "a", valid: true },
    { name: "a".repeat(64), valid: true },
    { name: "billing-api_v2.eu", valid: true },
    { name: "0", valid: true },
    { name: "", valid: false },
    { name: "a".repeat(65), valid: false },
    { name: "Billing", valid: false },
    { name: "billing api", valid: false },
    { name: "billing/api", valid: false },
    { name: "billing\n", valid: false },
    { name: "café", valid: false },
  ];

  it.each(cases)("returns $valid for $name", ({ name, valid }) => {
    expect(isValidCallerName(name)).toBe(valid);
  });
});

describe("createApiKeyVerifier", () => {
  const STORED: ApiKeyEntry = { keyId: KEY_ID, hash: hashOf(KEY), caller: "billing" };

  it("verifies a generated key", () => {
    const { key, keyId, hash } = generateApiKey();
    const verifier = createApiKeyVerifier([{ keyId, hash, caller: "billing" }]);

    expect(verifier.verify(key)).toEqual({ caller: "billing", keyId });
  });

  it("verifies a key whose secret starts with the separator", () => {
    const verifier = createApiKeyVerifier([{ keyId: "fedcba987654", hash: hashOf(UNDERSCORE_KEY), caller: "billing" }]);

    expect(verifier.verify(UNDERSCORE_KEY)).toEqual({ caller: "billing", keyId: "fedcba987654" });
  });

  it("rejects a wrong secret with a known key id", () => {
    const verifier = createApiKeyVerifier([STORED]);
    const otherSecret = generateApiKey().key.slice(-43);

    expect(verifier.verify(`r5ts_${KEY_ID}_${otherSecret}`)).toBeUndefined();
  });

  it("rejects an unknown key id", () => {
    const verifier = createApiKeyVerifier([STORED]);

    expect(verifier.verify(`r5ts_ba9876543210_${SECRET}`)).toBeUndefined();
    expect(verifier.verify(generateApiKey().key)).toBeUndefined();
  });

  it.each(MALFORMED_KEYS)("rejects $name", ({ text }) => {
    const verifier = createApiKeyVerifier([STORED]);

    expect(verifier.verify(text)).toBeUndefined();
  });

  it.each([undefined, null, 61, {}])("returns undefined for %s", (value) => {
    const verifier = createApiKeyVerifier([STORED]);

    expect(verifier.verify(value as unknown as string)).toBeUndefined();
  });

  it("rejects a hash moved to another key id", () => {
    const first = generateApiKey();
    const second = generateApiKey();
    const verifier = createApiKeyVerifier([
      { keyId: first.keyId, hash: second.hash, caller: "billing" },
      { keyId: second.keyId, hash: first.hash, caller: "billing" },
    ]);

    expect(verifier.verify(first.key)).toBeUndefined();
    expect(verifier.verify(second.key)).toBeUndefined();
  });

  it("verifies two keys of one caller", () => {
    const old = generateApiKey();
    const current = generateApiKey();
    const verifier = createApiKeyVerifier([
      { keyId: old.keyId, hash: old.hash, caller: "billing" },
      { keyId: current.keyId, hash: current.hash, caller: "billing" },
    ]);

    expect(verifier.verify(old.key)).toEqual({ caller: "billing", keyId: old.keyId });
    expect(verifier.verify(current.key)).toEqual({ caller: "billing", keyId: current.keyId });
  });

  it("keeps callers apart", () => {
    const billing = generateApiKey();
    const reports = generateApiKey();
    const verifier = createApiKeyVerifier([
      { keyId: billing.keyId, hash: billing.hash, caller: "billing" },
      { keyId: reports.keyId, hash: reports.hash, caller: "reports" },
    ]);

    expect(verifier.verify(billing.key)?.caller).toBe("billing");
    expect(verifier.verify(reports.key)?.caller).toBe("reports");
  });

  it("rejects a removed key", () => {
    const old = generateApiKey();
    const current = generateApiKey();
    const before = [
      { keyId: old.keyId, hash: old.hash, caller: "billing" },
      { keyId: current.keyId, hash: current.hash, caller: "billing" },
    ];
    const after = createApiKeyVerifier(before.filter((entry) => entry.keyId !== old.keyId));

    expect(createApiKeyVerifier(before).verify(old.key)).toEqual({ caller: "billing", keyId: old.keyId });
    expect(after.verify(old.key)).toBeUndefined();
    expect(after.verify(current.key)).toEqual({ caller: "billing", keyId: current.keyId });
  });

  it("copies the entries", () => {
    const { key, keyId, hash } = generateApiKey();
    const entries = [{ keyId, hash, caller: "billing" }];
    const verifier = createApiKeyVerifier(entries);

    entries.pop();

    expect(verifier.verify(key)).toEqual({ caller: "billing", keyId });
  });

  it("verifies nothing without entries", () => {
    expect(createApiKeyVerifier([]).verify(KEY)).toBeUndefined();
  });
});

describe("createApiKeyVerifier entry validation", () => {
  const VALID_HASH = hashOf(KEY);
  const entry = (overrides: Partial<Record<keyof ApiKeyEntry, unknown>>): ApiKeyEntry =>
    ({ keyId: KEY_ID, hash: VALID_HASH, caller: "billing", ...overrides }) as ApiKeyEntry;

  const KEY_ID_MESSAGE = "has an invalid keyId: expected 12 lowercase hex digits, as scripts/create-api-key.ts prints.";
  const HASH_MESSAGE = 'has an invalid hash: expected "sha256:" and 64 lowercase hex digits, as scripts/create-api-key.ts prints.';
  const CALLER_MESSAGE = 'has an invalid caller: expected 1 to 64 characters of a-z, 0-9, "-", "_" and ".".';

  const failures: { name: string; entries: ApiKeyEntry[]; message: string; entryIndex: number; keyId: string | undefined }[] = [
    { name: "key id of 11 digits", entries: [entry({ keyId: "0123456789a" })], entryIndex: 0, keyId: undefined, message: `API key entry 0 ${KEY_ID_MESSAGE}` },
    { name: "key id of 13 digits", entries: [entry({ keyId: "0123456789abc" })], entryIndex: 0, keyId: undefined, message: `API key entry 0 ${KEY_ID_MESSAGE}` },
    { name: "uppercase key id", entries: [entry({ keyId: "0123456789AB" })], entryIndex: 0, keyId: undefined, message: `API key entry 0 ${KEY_ID_MESSAGE}` },
    { name: "missing key id", entries: [entry({ keyId: undefined })], entryIndex: 0, keyId: undefined, message: `API key entry 0 ${KEY_ID_MESSAGE}` },
    { name: "whole key as key id", entries: [entry({ keyId: KEY })], entryIndex: 0, keyId: undefined, message: `API key entry 0 ${KEY_ID_MESSAGE}` },
    { name: "hash without prefix", entries: [entry({ hash: VALID_HASH.slice(7) })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "uppercase hash", entries: [entry({ hash: `sha256:${VALID_HASH.slice(7).toUpperCase()}` })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "hash of 63 digits", entries: [entry({ hash: VALID_HASH.slice(0, -1) })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "hash of 65 digits", entries: [entry({ hash: `${VALID_HASH}0` })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "other algorithm", entries: [entry({ hash: `sha512:${VALID_HASH.slice(7)}` })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "whole key as hash", entries: [entry({ hash: KEY })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "missing hash", entries: [entry({ hash: undefined })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${HASH_MESSAGE}` },
    { name: "empty caller", entries: [entry({ caller: "" })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${CALLER_MESSAGE}` },
    { name: "caller of 65 characters", entries: [entry({ caller: "a".repeat(65) })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${CALLER_MESSAGE}` },
    { name: "uppercase caller", entries: [entry({ caller: "Billing" })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${CALLER_MESSAGE}` },
    { name: "missing caller", entries: [entry({ caller: undefined })], entryIndex: 0, keyId: KEY_ID, message: `API key entry 0 (key id ${KEY_ID}) ${CALLER_MESSAGE}` },
    {
      name: "invalid second entry",
      entries: [entry({}), entry({ keyId: "ba9876543210", hash: "sha256:" })],
      entryIndex: 1,
      keyId: "ba9876543210",
      message: `API key entry 1 (key id ba9876543210) ${HASH_MESSAGE}`,
    },
    {
      name: "duplicate key id",
      entries: [entry({}), entry({ keyId: "ba9876543210" }), entry({ caller: "reports" })],
      entryIndex: 2,
      keyId: KEY_ID,
      message: `API key entry 2 (key id ${KEY_ID}) has the same key id as entry 0. Generate a new key instead of copying an entry.`,
    },
  ];

  it.each(failures)("rejects $name", ({ entries, message, entryIndex, keyId }) => {
    let caught: unknown;
    try {
      createApiKeyVerifier(entries);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(ApiKeyEntryError);
    expect((caught as ApiKeyEntryError).message).toBe(message);
    expect((caught as ApiKeyEntryError).entryIndex).toBe(entryIndex);
    expect((caught as ApiKeyEntryError).keyId).toBe(keyId);
  });

  it("names neither the key nor the hash", () => {
    const messages = [entry({ keyId: KEY }), entry({ hash: KEY }), entry({ hash: VALID_HASH.toUpperCase() })].map((bad) => {
      try {
        createApiKeyVerifier([bad]);
      } catch (error) {
        return (error as Error).message;
      }
      return "";
    });

    for (const message of messages) {
      expect(message).toMatch(/^API key entry 0 /);
      expect(message).not.toContain(SECRET);
      expect(message).not.toContain(VALID_HASH.slice(7, 27));
      expect(message).not.toContain(VALID_HASH.slice(7, 27).toUpperCase());
    }
  });
});

describe("parseBearerHeader", () => {
  const cases: { name: string; value: string | null; token: string | undefined }[] = [
    { name: "bearer token", value: "Bearer abc", token: "abc" },
    { name: "lowercase scheme", value: "bearer abc", token: "abc" },
    { name: "uppercase scheme", value: "BEARER abc", token: "abc" },
    { name: "mixed-case scheme", value: "bEaReR abc", token: "abc" },
    { name: "three spaces", value: "Bearer   abc", token: "abc" },
    { name: "padding", value: "Bearer abc==", token: "abc==" },
    { name: "every token character", value: "Bearer AZaz09-._~+/=", token: "AZaz09-._~+/=" },
    { name: "API key", value: `Bearer ${KEY}`, token: KEY },
    { name: "null", value: null, token: undefined },
    { name: "empty value", value: "", token: undefined },
    { name: "scheme only", value: "Bearer", token: undefined },
    { name: "scheme and space", value: "Bearer ", token: undefined },
    { name: "no space", value: `Bearer${KEY}`, token: undefined },
    { name: "tab separator", value: "Bearer\tabc", token: undefined },
    { name: "leading space", value: " Bearer abc", token: undefined },
    { name: "trailing space", value: "Bearer abc ", token: undefined },
    { name: "trailing newline", value: "Bearer abc\n", token: undefined },
    { name: "two tokens", value: "Bearer abc def", token: undefined },
    { name: "padding inside the token", value: "Bearer ab=c", token: undefined },
    { name: "padding only", value: "Bearer ==", token: undefined },
    { name: "comma after scheme", value: "Bearer, abc", token: undefined },
    { name: "non-ASCII token", value: "Bearer abç", token: undefined },
    { name: "Basic scheme", value: "Basic YWxhZGRpbjpvcGVuc2VzYW1l", token: undefined },
    { name: "longer scheme", value: "Bearerx abc", token: undefined },
  ];

  it.each(cases)("returns $token for $name", ({ value, token }) => {
    expect(parseBearerHeader(value)).toBe(token);
  });

  it("handles a 10 MB value", () => {
    const token = "a".repeat(TEN_MEGABYTES);

    expect(parseBearerHeader(`Bearer ${token}`)).toBe(token);
    expect(parseBearerHeader(`Bearer ${token}!`)).toBeUndefined();
  });
});

interface ScriptResult {
  readonly code: number | string | null | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

const SCRIPT_TIMEOUT_MS = 30_000;

/** Runs scripts/create-api-key.ts as `node --import tsx` does, from the repository root. */
function runScript(args: readonly string[]): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/create-api-key.ts", ...args],
      { cwd: REPO_ROOT, timeout: SCRIPT_TIMEOUT_MS },
      (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }),
    );
  });
}

describe("create-api-key script", { timeout: SCRIPT_TIMEOUT_MS + 5_000 }, () => {
  it("prints a key that verifies against its entry", async () => {
    const result = await runScript(["billing-api.v2"]);
    const lines = result.stdout.split("\n");
    const key = lines.find((line) => line.startsWith(API_KEY_PREFIX)) ?? "";
    const entry = JSON.parse(lines.find((line) => line.startsWith("{")) ?? "null");

    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(parseApiKey(key)).toEqual({ keyId: entry.keyId });
    expect(Object.keys(entry)).toEqual(["caller", "keyId", "hash"]);
    expect(entry.caller).toBe("billing-api.v2");
    expect(entry.hash).toBe(hashOf(key));
    expect(createApiKeyVerifier([entry]).verify(key)).toEqual({ caller: "billing-api.v2", keyId: entry.keyId });
  });

  it("prints the key once, with a warning", async () => {
    const result = await runScript(["billing"]);
    const key = result.stdout.split("\n").find((line) => line.startsWith(API_KEY_PREFIX)) ?? "";
    const secret = key.slice(-43);

    expect(key).toHaveLength(API_KEY_LENGTH);
    expect(result.stdout.split(secret)).toHaveLength(2);
    expect(result.stdout).toContain("it will not be shown again");
  });

  it.each(["a", "a".repeat(64)])("accepts caller name %s", async (name) => {
    const result = await runScript([name]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`{"caller":"${name}",`);
  });

  const invalidNames = ["", "a".repeat(65), "Billing", "billing api", "billing/api", "café"];

  it.each(invalidNames)("rejects caller name %j", async (name) => {
    const result = await runScript([name]);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `create-api-key: invalid caller name ${JSON.stringify(name)}: use 1 to 64 characters of a-z, 0-9, "-", "_" and ".".\n` +
        "Usage: npx tsx scripts/create-api-key.ts <caller-name>\n",
    );
  });

  it.each([[[]], [["billing", "reports"]]])("rejects arguments %j", async (args) => {
    const result = await runScript(args);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `create-api-key: expected one argument, the caller name; got ${args.length}.\n` + "Usage: npx tsx scripts/create-api-key.ts <caller-name>\n",
    );
  });

  it("prints usage for --help", async () => {
    const result = await runScript(["--help"]);

    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(
      "Usage: npx tsx scripts/create-api-key.ts <caller-name>\n" + 'Caller names are 1 to 64 characters of a-z, 0-9, "-", "_" and ".".\n',
    );
  });
});
