import { X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { parseCallers, type CallerRegistry } from "./auth/callers.js";
import { ConfigError, type Config } from "./config.js";
import { readText } from "./config-file.js";
import { readFileSync } from "node:fs";
import {
  decodeMasterCredentials,
  MASTER_KEY_VARIABLE,
  MasterCredentialsError,
  type MasterCredentials,
} from "./credentials/master-credentials.js";

/** PEM certificate chain, private key and optional client CA, read from the files TLS settings name. */
export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

/** Reads and checks the TLS files, or returns undefined when TLS is off. */
export function readTls(config: Config): TlsFiles | undefined {
  if (config.tls === undefined) {
    return undefined;
  }
  const cert = readBinary("TLS_CERT_FILE", config.tls.certFile);
  const key = readBinary("TLS_KEY_FILE", config.tls.keyFile);
  const clientCa = config.tls.clientCaFile === undefined ? undefined : readBinary("TLS_CLIENT_CA_FILE", config.tls.clientCaFile);
  try {
    createSecureContext({ cert, key, ca: clientCa });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "invalid";
    throw new ConfigError(
      "TLS_CERT_FILE",
      `and TLS_KEY_FILE are not a PEM certificate chain and its matching private key, or TLS_CLIENT_CA_FILE is not PEM (${code}). Check the files.`,
    );
  }
  if (clientCa !== undefined) {
    checkCertificates(clientCa);
  }
  return { cert, key, clientCa };
}

/**
 * Checks that the client CA file contains certificates. Node.js accepts a file with none, and
 * then every client certificate fails verification.
 */
function checkCertificates(pem: Buffer): void {
  const blocks = pem.toString("latin1").match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError("TLS_CLIENT_CA_FILE", "holds no PEM certificate. Give it the certificate of the CA that signs client certificates.");
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw new ConfigError("TLS_CLIENT_CA_FILE", "holds a certificate that cannot be parsed. Check the file.");
    }
  }
}

/** Reads and checks the callers file, or returns undefined when none is configured. */
export function readCallers(config: Config): CallerRegistry | undefined {
  if (config.callersFile === undefined) {
    return undefined;
  }
  const text = readText("CALLERS_FILE", config.callersFile);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // Only the position: JSON.parse's message quotes the file, which may contain keys.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new ConfigError("CALLERS_FILE", `is not valid JSON${position === undefined ? "" : ` (at character ${position})`}. Check its syntax.`);
  }
  try {
    return parseCallers(json);
  } catch (error) {
    throw new ConfigError("CALLERS_FILE", `is invalid: ${(error as Error).message}`);
  }
}

function readBinary(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "read error";
    throw new ConfigError(setting, `names a file that cannot be read (${code}): ${path}`);
  }
}

/**
 * Decodes the configured master credentials. An error names the file a value came from, since the
 * variable it names may be unset.
 */
export function decodeCredentials(credentials: Extract<Config["credentials"], { kind: "configured" }>): MasterCredentials {
  try {
    return decodeMasterCredentials(credentials.masterKey, credentials.masterSecret);
  } catch (error) {
    if (!(error instanceof MasterCredentialsError)) {
      throw error;
    }
    const file = error.variable === MASTER_KEY_VARIABLE ? credentials.masterKeyFile : credentials.masterSecretFile;
    if (file === undefined) {
      throw error;
    }
    const setting = `${error.variable}_FILE`;
    throw new ConfigError(setting, `(${file}): ${error.message.slice(error.variable.length + 1)}`, setting);
  }
}
