import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** Name of the environment variable that contains the Red5 master key. */
export const MASTER_KEY_VARIABLE = "RED5_MASTER_KEY";

/** Name of the environment variable that contains the Red5 master secret. */
export const MASTER_SECRET_VARIABLE = "RED5_MASTER_SECRET";

/** Number of leading master key characters that Red5 derives the AES key from. */
const MASTER_KEY_CHARACTERS = 16;

/** The five credentials that a Red5 master secret carries, in the order they are packed. */
export interface MasterCredentials {
  /** HMAC secret for conference tokens, used as its UTF-8 bytes. */
  readonly conferenceSecret: string;
  /** PubNub secret key, which signs Access Manager requests. */
  readonly pubnubSecretKey: string;
  readonly pubnubPublishKey: string;
  readonly pubnubSubscribeKey: string;
  readonly streamManagerHost: string;
}

const FIELD_ORDER = [
  "conferenceSecret",
  "pubnubSecretKey",
  "pubnubPublishKey",
  "pubnubSubscribeKey",
  "streamManagerHost",
] as const satisfies readonly (keyof MasterCredentials)[];

/**
 * A master key or secret that cannot be decoded. The message names the variable and the problem
 * and never contains any part of the key, the secret or the decrypted text.
 */
export class MasterCredentialsError extends Error {
  override readonly name = "MasterCredentialsError";

  constructor(
    /** The environment variable at fault. */
    readonly variable: typeof MASTER_KEY_VARIABLE | typeof MASTER_SECRET_VARIABLE,
    message: string,
  ) {
    super(`${variable} ${message}`);
  }
}

/**
 * Decodes a Red5 master secret with its master key.
 *
 * The secret is base64 text whose decoded bytes are ASCII hex. The hex is AES-128-ECB ciphertext
 * with PKCS#7 padding, keyed with the MD5 digest of the master key's first 16 characters. The
 * plaintext joins the five credentials with "|". This is Red5's format, weak cryptography
 * included. Throws MasterCredentialsError on any failure.
 */
export function decodeMasterCredentials(masterKey: string, masterSecret: string): MasterCredentials {
  const aesKey = deriveAesKey(masterKey);
  const ciphertext = decodeCiphertext(masterSecret.trim());
  const plaintext = decrypt(aesKey, ciphertext);
  return splitFields(plaintext);
}

/**
 * Encodes credentials into a master secret under a master key: Red5's scheme run backwards.
 * Used to make development and test credentials; never needed with real Red5 credentials.
 */
export function encodeMasterCredentials(masterKey: string, credentials: MasterCredentials): string {
  const plaintext = FIELD_ORDER.map((field) => credentials[field]).join("|");
  const cipher = createCipheriv("aes-128-ecb", deriveAesKey(masterKey), null);
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.from(ciphertext.toString("hex"), "ascii").toString("base64");
}

/** A random master key, master secret and the credentials inside it, for local use only. */
export interface GeneratedMasterCredentials {
  readonly masterKey: string;
  readonly masterSecret: string;
  readonly credentials: MasterCredentials;
}

/** Generates random credentials in Red5's format, for development mode and tests. */
export function generateMasterCredentials(): GeneratedMasterCredentials {
  const masterKey = randomBytes(16).toString("hex");
  const credentials: MasterCredentials = {
    conferenceSecret: randomBytes(32).toString("base64url"),
    pubnubSecretKey: `sec-c-${randomBytes(24).toString("base64url")}`,
    pubnubPublishKey: `pub-c-${randomBytes(16).toString("hex")}`,
    pubnubSubscribeKey: `sub-c-${randomBytes(16).toString("hex")}`,
    streamManagerHost: "localhost",
  };
  return { masterKey, masterSecret: encodeMasterCredentials(masterKey, credentials), credentials };
}

function deriveAesKey(masterKey: string): Buffer {
  if (masterKey.length < MASTER_KEY_CHARACTERS) {
    throw new MasterCredentialsError(
      MASTER_KEY_VARIABLE,
      `is too short: it must have at least ${MASTER_KEY_CHARACTERS} characters. ` +
        "Copy the master key from the Red5 Cloud console.",
    );
  }
  // NOTE: Red5's SDK takes the first 16 UTF-16 code units; for the printable ASCII keys Red5
  // issues, that is the first 16 characters and bytes.
  const keyText = masterKey.substring(0, MASTER_KEY_CHARACTERS);
  return createHash("md5").update(keyText, "utf8").digest();
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HEX = /^(?:[0-9a-fA-F]{2})+$/;

function decodeCiphertext(masterSecret: string): Buffer {
  if (masterSecret === "") {
    throw new MasterCredentialsError(MASTER_SECRET_VARIABLE, "is empty. Set it to the master secret from the Red5 Cloud console.");
  }
  if (!BASE64.test(masterSecret) || masterSecret.length % 4 !== 0) {
    throw new MasterCredentialsError(
      MASTER_SECRET_VARIABLE,
      "is not valid base64. Copy the master secret again, without quotes or line breaks.",
    );
  }

  const hex = Buffer.from(masterSecret, "base64").toString("latin1");
  if (!HEX.test(hex) || hex.length % 32 !== 0) {
    throw new MasterCredentialsError(
      MASTER_SECRET_VARIABLE,
      "does not decode to hex-encoded AES blocks. Check that it is a Red5 master secret.",
    );
  }
  return Buffer.from(hex, "hex");
}

function decrypt(aesKey: Buffer, ciphertext: Buffer): string {
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv("aes-128-ecb", aesKey, null);
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    // The cause (a padding error from OpenSSL) is dropped: it adds nothing an operator can act on.
    throw new MasterCredentialsError(
      MASTER_SECRET_VARIABLE,
      `cannot be decrypted with ${MASTER_KEY_VARIABLE}. Check that both come from the same Red5 Cloud application.`,
    );
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(plaintext);
}

function splitFields(plaintext: string): MasterCredentials {
  const values = plaintext.split("|");
  if (values.length !== FIELD_ORDER.length) {
    throw new MasterCredentialsError(
      MASTER_SECRET_VARIABLE,
      `decrypts to ${values.length} fields, expected ${FIELD_ORDER.length}. ` +
        `Check that ${MASTER_KEY_VARIABLE} and ${MASTER_SECRET_VARIABLE} come from the same Red5 Cloud application.`,
    );
  }

  const entries = FIELD_ORDER.map((field, index) => [field, values[index] ?? ""] as const);
  const empty = entries.find(([, value]) => value === "");
  if (empty) {
    throw new MasterCredentialsError(MASTER_SECRET_VARIABLE, `has an empty ${empty[0]} field. Ask Red5 for a complete master secret.`);
  }
  return Object.fromEntries(entries) as unknown as MasterCredentials;
}
