import PubNub from "pubnub";

let sdk: PubNub | undefined;

/** Decodes a PubNub Access Manager token with the official SDK's parseToken. */
export function parseWithSdk(token: string): PubNub.PAM.Token {
  sdk ??= new PubNub({ subscribeKey: "sub-c-parse-only", userId: "token-parser" });
  const parsed = sdk.parseToken(token);
  if (parsed === undefined) {
    throw new Error("the pubnub SDK could not parse the token");
  }
  return parsed;
}

/** Returns the permission set parseToken reports for read and write alone. */
export function readWrite(read: boolean, write: boolean) {
  return { read, write, manage: false, delete: false, get: false, update: false, join: false };
}
