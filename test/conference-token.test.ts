import { webcrypto } from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { importConferenceKey, signConferenceToken, type ConferenceTokenInput } from "../src/tokens/conference-token.js";

const SECRET = "canary-conference-secret-91c2e7a4";

const BASE: ConferenceTokenInput = {
  userId: "user-1",
  roomId: "room-1",
  role: "publisher",
  pubnubSubscribeKey: "sub-c-test-subscribe-key",
  pubnubPublishKey: "pub-c-test-publish-key",
  pubnubToken: "qEF2AkF0GmloOUBDdHRsGDxDcmVzpURjaGFuoWZyb29tLTEDQ2dycKBDc3BjoENncnCgQ3VzcqBEdXVpZKBEcGF0",
  issuedAt: 1_768_478_400,
  expirationMinutes: 60,
};

/** Signs the same claims with jose's SignJWT, the reference the service's output must match. */
async function signWithJose(input: ConferenceTokenInput, secret: string): Promise<string> {
  const key = await webcrypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new SignJWT({
    uid: input.userId,
    roomId: input.roomId,
    role: input.role,
    pubnubSubscribeKey: input.pubnubSubscribeKey,
    pubnubPublishKey: input.pubnubPublishKey,
    pubnubToken: input.pubnubToken,
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(input.issuedAt)
    .setExpirationTime(input.issuedAt + input.expirationMinutes * 60)
    .sign(key);
}

const CASES: [string, Partial<ConferenceTokenInput>][] = [
  ["plain ids", {}],
  ["non-ASCII ids", { userId: "usér-😀", roomId: "комната" }],
  ["quotes and backslashes", { userId: 'user "one" \\ two' }],
  ["control and separator characters", { userId: "user\u0001\u2028\u0085" }],
  ["an unpaired surrogate", { userId: "user\ud800" }],
  ["the longest lifetime", { role: "admin", expirationMinutes: 43_200 }],
  ["a subscriber", { role: "subscriber", expirationMinutes: 1 }],
];

describe("signConferenceToken", () => {
  it.each(CASES)("writes what jose writes for %s", async (_name, change) => {
    const input = { ...BASE, ...change };

    const token = await signConferenceToken(input, await importConferenceKey(SECRET));

    expect(token).toBe(await signWithJose(input, SECRET));
  });

  it("verifies with jose", async () => {
    const token = await signConferenceToken(BASE, await importConferenceKey(SECRET));

    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), { currentDate: new Date(BASE.issuedAt * 1000) });

    expect(protectedHeader).toEqual({ alg: "HS256", typ: "JWT" });
    expect(payload.exp).toBe(BASE.issuedAt + 3600);
  });

  it("rejects an empty secret", async () => {
    await expect(importConferenceKey("")).rejects.toThrow(TypeError);
  });
});
