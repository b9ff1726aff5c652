import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateApiKey } from "../src/auth/api-keys.js";
import { CallersConfigError, parseCallers } from "../src/auth/callers.js";
import { LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS } from "../src/auth/policy.js";

const POLICY = { rpcs: ["IssueChatToken"], channels: ["lobby"], chatPermissions: { read: true, write: false } };

function callersWith(overrides: Record<string, unknown>): unknown {
  return { callers: [{ name: "chat-service", tlsIdentities: ["DNS:chat.internal"], policy: POLICY, ...overrides }] };
}

function errorOf(json: unknown): Error {
  try {
    parseCallers(json);
  } catch (error) {
    return error as Error;
  }
  throw new Error("parseCallers accepted the configuration");
}

describe("parseCallers", () => {
  it("reads the example configuration", () => {
    const registry = parseCallers(JSON.parse(readFileSync("config/callers.example.json", "utf8")));

    expect([...registry.callers.keys()]).toEqual(["meeting-service", "webinar-service"]);
    expect(registry.tlsIdentities.get("DNS:webinar.media.example.internal")).toBe("webinar-service");
    expect(registry.roleChatPermissions).toEqual(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS);
    expect(registry.callers.get("webinar-service")?.rateLimit).toEqual({ perSecond: 20, burst: 40 });
  });

  it("verifies a key entry created for the caller", () => {
    const key = generateApiKey();

    const registry = parseCallers(callersWith({ apiKeys: [{ caller: "chat-service", keyId: key.keyId, hash: key.hash }] }));

    expect(registry.apiKeys.verify(key.key)).toEqual({ caller: "chat-service", keyId: key.keyId });
  });

  it("rejects a key entry created for another caller", () => {
    const key = generateApiKey();

    const error = errorOf(callersWith({ apiKeys: [{ caller: "other-service", keyId: key.keyId, hash: key.hash }] }));

    expect(error).toBeInstanceOf(CallersConfigError);
    expect(error.message).toBe('callers[0].apiKeys[0] was created for another caller. Move it under that caller, or create a key for "chat-service".');
  });

  it.each([
    { name: "a numeric key id", entry: { keyId: 123456789012, hash: "sha256:00" } },
    { name: "a hash list", entry: { keyId: "0123456789ab", hash: ["sha256:00"] } },
  ])("rejects $name", ({ entry }) => {
    expect(errorOf(callersWith({ apiKeys: [entry] })).message).toBe(
      "callers[0].apiKeys[0] needs keyId and hash as strings, as scripts/create-api-key.ts prints them.",
    );
  });

  it("does not quote an unknown field that may be a key", () => {
    const key = generateApiKey();

    const error = errorOf(callersWith({ apiKeys: [{ keyId: key.keyId, hash: key.hash, [key.key]: 1 }] }));

    expect(error.message).toBe(
      "callers[0].apiKeys[0] has an unknown field (its name is not shown, in case it is a key). Known fields: keyId, hash, caller.",
    );
    expect(error.message).not.toContain(key.key.split("_").at(-1));
  });

  it("quotes a plain unknown field", () => {
    expect(errorOf(callersWith({ policies: {} })).message).toBe(
      'callers[0] has an unknown field "policies". Known fields: name, apiKeys, tlsIdentities, rateLimit, policy.',
    );
  });

  it("names a TLS identity listed twice for one caller", () => {
    expect(errorOf(callersWith({ tlsIdentities: ["DNS:chat.internal", "DNS:chat.internal"] })).message).toBe(
      'callers[0]: the TLS identity "DNS:chat.internal" is listed twice. Keep one entry.',
    );
  });

  it("names the owner of a TLS identity used by two callers", () => {
    const json = {
      callers: [
        { name: "first", tlsIdentities: ["DNS:shared.internal"], policy: POLICY },
        { name: "second", tlsIdentities: ["DNS:shared.internal"], policy: POLICY },
      ],
    };

    expect(errorOf(json).message).toBe('callers[1]: the TLS identity "DNS:shared.internal" already belongs to caller "first". Keep one entry.');
  });

  it.each([
    { name: "no callers", json: { callers: [] }, message: /^callers must be a non-empty list/ },
    { name: "a duplicate name", json: { callers: [{ name: "a", tlsIdentities: ["DNS:a"], policy: POLICY }, { name: "a", tlsIdentities: ["DNS:b"], policy: POLICY }] }, message: /^callers\[1\]: the name "a" is used twice/ },
    { name: "no credentials", json: { callers: [{ name: "a", policy: POLICY }] }, message: /has no apiKeys and no tlsIdentities/ },
    { name: "a bad identity", json: callersWith({ tlsIdentities: ["chat.internal"] }), message: /tlsIdentities must be a list of "URI:\.\.\." or "DNS:\.\.\."/ },
    { name: "a zero burst", json: callersWith({ rateLimit: { perSecond: 1, burst: 0 } }), message: /rateLimit needs perSecond/ },
    { name: "an unknown role map", json: { ...(callersWith({}) as object), roleChatPermissions: "strict" }, message: /^roleChatPermissions must be "red5", "least-privilege"/ },
  ])("rejects $name", ({ json, message }) => {
    expect(errorOf(json).message).toMatch(message);
  });
});
