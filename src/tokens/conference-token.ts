import { webcrypto } from "node:crypto";
import { SignJWT } from "jose";

/** Conference role names as they appear in the token's "role" claim. */
export type ConferenceRole = "admin" | "publisher" | "subscriber";

/** Claims of a conference token, with its issue time and lifetime. */
export interface ConferenceTokenInput {
  readonly userId: string;
  readonly roomId: string;
  readonly role: ConferenceRole;
  readonly pubnubSubscribeKey: string;
  readonly pubnubPublishKey: string;
  /** PubNub Access Manager token for the room's chat, embedded as the "pubnubToken" claim. */
  readonly pubnubToken: string;
  /** Issue time, whole Unix seconds. */
  readonly issuedAt: number;
  /** Lifetime in minutes; "exp" is issuedAt + 60 * expirationMinutes. */
  readonly expirationMinutes: number;
}

/** The HMAC key that signs conference tokens, imported once from the conference secret. */
export type ConferenceSigningKey = webcrypto.CryptoKey;

/** Imports the conference secret (used as its UTF-8 bytes) as an HS256 signing key. */
export async function importConferenceKey(conferenceSecret: string): Promise<ConferenceSigningKey> {
  return webcrypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(conferenceSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/**
 * Signs a Red5 conference token: a compact HS256 JWS with header {"alg":"HS256","typ":"JWT"} and
 * the claims uid, roomId, role, pubnubSubscribeKey, pubnubPublishKey, pubnubToken, iat and exp,
 * in that order, as Red5's backend SDK writes them. No other claim is added.
 */
export async function signConferenceToken(input: ConferenceTokenInput, key: ConferenceSigningKey): Promise<string> {
  const claims = {
    uid: input.userId,
    roomId: input.roomId,
    role: input.role,
    pubnubSubscribeKey: input.pubnubSubscribeKey,
    pubnubPublishKey: input.pubnubPublishKey,
    pubnubToken: input.pubnubToken,
  };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(input.issuedAt)
    .setExpirationTime(input.issuedAt + input.expirationMinutes * 60)
    .sign(key);
}
