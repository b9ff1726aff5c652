import { createCipheriv, createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decodeMasterCredentials,
  encodeMasterCredentials,
  generateMasterCredentials,
  MasterCredentialsError,
  type MasterCredentials,
} from "../src/credentials/master-credentials.js";

const MASTER_KEY = "0123456789abcdefKEY-TAIL-IGNORED";
const CREDENTIALS: MasterCredentials = {
  conferenceSecret: "conference-secret-value",
  pubnubSecretKey: "sec-c-planted-secret",
  pubnubPublishKey: "pub-c-publish",
  pubnubSubscribeKey: "sub-c-subscribe",
  streamManagerHost: "sm.example.test",
};

/** Red5's scheme written out step by step, independently of the code under test. */
function red5Secret(masterKey: string, plaintext: string): string {
  const aesKey = createHash("md5").update(masterKey.slice(0, 16), "utf8").digest();
  const cipher = createCipheriv("aes-128-ecb", aesKey, null);
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.from(ciphertext.toString("hex")).toString("base64");
}

const PLAINTEXT = "conference-secret-value|sec-c-planted-secret|pub-c-publish|sub-c-subscribe|sm.example.test";

describe("decodeMasterCredentials", () => {
  it("decodes a secret built with Red5's scheme", () => {
    expect(decodeMasterCredentials(MASTER_KEY, red5Secret(MASTER_KEY, PLAINTEXT))).toEqual(CREDENTIALS);
  });

  it("uses only the first 16 characters of the key", () => {
    const secret = red5Secret(MASTER_KEY, PLAINTEXT);
    expect(decodeMasterCredentials("0123456789abcdefOTHER", secret)).toEqual(CREDENTIALS);
  });

  it("accepts a trailing newline on the secret", () => {
    expect(decodeMasterCredentials(MASTER_KEY, `${red5Secret(MASTER_KEY, PLAINTEXT)}\n`)).toEqual(CREDENTIALS);
  });

  it("round-trips encodeMasterCredentials", () => {
    const secret = encodeMasterCredentials(MASTER_KEY, CREDENTIALS);
    expect(secret).toBe(red5Secret(MASTER_KEY, PLAINTEXT));
    expect(decodeMasterCredentials(MASTER_KEY, secret)).toEqual(CREDENTIALS);
  });

  it("round-trips generated credentials", () => {
    const generated = generateMasterCredentials();
    expect(decodeMasterCredentials(generated.masterKey, generated.masterSecret)).toEqual(generated.credentials);
  });

  const failures: { name: string; key: string; secret: string; variable: string; message: RegExp }[] = [
    { name: "key of 15 characters", key: "0123456789abcde", secret: red5Secret(MASTER_KEY, PLAINTEXT), variable: "RED5_MASTER_KEY", message: /^RED5_MASTER_KEY is too short: it must have at least 16 characters/ },
    { name: "empty secret", key: MASTER_KEY, secret: "  ", variable: "RED5_MASTER_SECRET", message: /^RED5_MASTER_SECRET is empty/ },
    { name: "secret not base64", key: MASTER_KEY, secret: "not*base64!", variable: "RED5_MASTER_SECRET", message: /^RED5_MASTER_SECRET is not valid base64/ },
    { name: "secret not hex inside", key: MASTER_KEY, secret: Buffer.from("zz".repeat(16)).toString("base64"), variable: "RED5_MASTER_SECRET", message: /does not decode to hex-encoded AES blocks/ },
    { name: "hex of a partial block", key: MASTER_KEY, secret: Buffer.from("ab".repeat(15)).toString("base64"), variable: "RED5_MASTER_SECRET", message: /does not decode to hex-encoded AES blocks/ },
    { name: "four fields", key: MASTER_KEY, secret: red5Secret(MASTER_KEY, "a|b|c|d"), variable: "RED5_MASTER_SECRET", message: /decrypts to 4 fields, expected 5/ },
    { name: "six fields", key: MASTER_KEY, secret: red5Secret(MASTER_KEY, "a|b|c|d|e|f"), variable: "RED5_MASTER_SECRET", message: /decrypts to 6 fields, expected 5/ },
    { name: "empty publish key", key: MASTER_KEY, secret: red5Secret(MASTER_KEY, "a|b||d|e"), variable: "RED5_MASTER_SECRET", message: /has an empty pubnubPublishKey field/ },
  ];

  it.each(failures)("rejects $name", ({ key, secret, variable, message }) => {
    let caught: unknown;
    try {
      decodeMasterCredentials(key, secret);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MasterCredentialsError);
    expect((caught as MasterCredentialsError).variable).toBe(variable);
    expect((caught as Error).message).toMatch(message);
  });

  it("rejects a secret made with another key without revealing either", () => {
    const secret = red5Secret("ffffffffffffffff-other", PLAINTEXT);
    let caught: unknown;
    try {
      decodeMasterCredentials(MASTER_KEY, secret);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MasterCredentialsError);
    const message = (caught as Error).message;
    expect(message).toMatch(/^RED5_MASTER_SECRET (cannot be decrypted with RED5_MASTER_KEY|decrypts to \d+ fields)/);
    for (const fragment of [MASTER_KEY.slice(0, 16), secret.slice(0, 12), "conference-secret", "sec-c-planted"]) {
      expect(message).not.toContain(fragment);
    }
  });
});
