import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A PEM certificate and its private key, with the files they were read from. */
export interface CertifiedKey {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Subject alternative names of the callers in config/callers.example.json. */
export const MEETING_SERVICE_SAN = "URI:spiffe://example.internal/ns/media/sa/meeting-service";
export const WEBINAR_SERVICE_SAN = "DNS:webinar.media.example.internal";
/** A subject alternative name that no caller in the example configuration has. */
export const UNKNOWN_SAN = "URI:spiffe://example.internal/ns/media/sa/unknown-service";

/** Certificates for mutual TLS tests, all with EC P-256 keys, in a temporary directory. */
export interface TestPki {
  readonly directory: string;
  /** The CA that signs the server certificate and every trusted client certificate. */
  readonly ca: CertifiedKey;
  /** A second CA that the server does not trust. */
  readonly otherCa: CertifiedKey;
  /** Server certificate for DNS:localhost and IP:127.0.0.1, signed by ca. */
  readonly server: CertifiedKey;
  /** Client certificate with MEETING_SERVICE_SAN, signed by ca. */
  readonly meetingService: CertifiedKey;
  /** Client certificate with WEBINAR_SERVICE_SAN, signed by ca. */
  readonly webinarService: CertifiedKey;
  /** Client certificate with UNKNOWN_SAN, signed by ca. */
  readonly unknownService: CertifiedKey;
  /** Client certificate with MEETING_SERVICE_SAN, signed by otherCa. */
  readonly otherCaMeetingService: CertifiedKey;
  /** Client certificate with MEETING_SERVICE_SAN, signed by ca, valid only during 2020-01-01. */
  readonly expiredMeetingService: CertifiedKey;
  /** Deletes the directory. */
  remove(): void;
}

/** Validity of the certificates that are meant to be valid, in days from now. */
const VALID_DAYS = 2;

/**
 * Extensions of every certificate. OpenSSL reads only the sections named on its command line, so
 * the system's openssl.cnf plays no part.
 */
const EXTENSIONS = `
[req]
distinguished_name = subject

[subject]

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = $ENV::CLIENT_SAN
`;

/**
 * Value of the CLIENT_SAN variable when no client certificate is signed. OpenSSL expands every
 * variable in a configuration file when it reads it, so the variable must always be set.
 */
const UNUSED_SAN = "DNS:unused.invalid";

/**
 * Generates the test PKI with the openssl command-line tool (tested with OpenSSL 3.0). Leaf
 * certificates are signed with "openssl ca", because OpenSSL 3.0's "x509 -req" cannot set a
 * start date in the past, which the expired certificate needs.
 */
export function createTestPki(): TestPki {
  const directory = mkdtempSync(join(tmpdir(), "token-service-pki-"));
  const configFile = join(directory, "extensions.cnf");
  writeFileSync(configFile, EXTENSIONS);

  const ca = createCa(directory, "ca", "Token Service Test CA", configFile);
  const otherCa = createCa(directory, "other-ca", "Unrelated Test CA", configFile);
  const sign = (issuer: CertificateAuthority, name: string, options: LeafOptions) => signLeaf(directory, issuer, name, options);

  return {
    directory,
    ca: ca.certified,
    otherCa: otherCa.certified,
    server: sign(ca, "server", { subject: "localhost", extensions: "server_ext" }),
    meetingService: sign(ca, "meeting-service", { subject: "meeting-service", extensions: "client_ext", san: MEETING_SERVICE_SAN }),
    webinarService: sign(ca, "webinar-service", { subject: "webinar-service", extensions: "client_ext", san: WEBINAR_SERVICE_SAN }),
    unknownService: sign(ca, "unknown-service", { subject: "unknown-service", extensions: "client_ext", san: UNKNOWN_SAN }),
    otherCaMeetingService: sign(otherCa, "other-ca-meeting-service", { subject: "meeting-service", extensions: "client_ext", san: MEETING_SERVICE_SAN }),
    expiredMeetingService: sign(ca, "expired-meeting-service", {
      subject: "meeting-service",
      extensions: "client_ext",
      san: MEETING_SERVICE_SAN,
      startDate: "20200101000000Z",
      endDate: "20200102000000Z",
    }),
    remove: () => rmSync(directory, { recursive: true, force: true }),
  };
}

/** A CA with the database files that "openssl ca" needs. */
interface CertificateAuthority {
  readonly certified: CertifiedKey;
  readonly caConfigFile: string;
}

interface LeafOptions {
  /** Common name of the subject. */
  readonly subject: string;
  /** Section of EXTENSIONS to apply. */
  readonly extensions: "server_ext" | "client_ext";
  /** Subject alternative name of a client certificate, such as "URI:spiffe://...". */
  readonly san?: string;
  /** Validity start and end as YYYYMMDDHHMMSSZ. Without them the certificate is valid from now for VALID_DAYS. */
  readonly startDate?: string;
  readonly endDate?: string;
}

function createCa(directory: string, name: string, commonName: string, extensionsFile: string): CertificateAuthority {
  const certFile = join(directory, `${name}.pem`);
  const keyFile = join(directory, `${name}.key`);
  openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-days", String(VALID_DAYS), "-subj", `/CN=${commonName}`,
    "-config", extensionsFile, "-extensions", "ca_ext",
    "-keyout", keyFile, "-out", certFile,
  ]);

  const databaseDirectory = join(directory, `${name}-db`);
  mkdirSync(databaseDirectory);
  writeFileSync(join(databaseDirectory, "index.txt"), "");
  writeFileSync(join(databaseDirectory, "serial"), "1000\n");
  const caConfigFile = join(databaseDirectory, "ca.cnf");
  writeFileSync(caConfigFile, caConfig(databaseDirectory, certFile, keyFile));

  return { certified: readCertifiedKey(certFile, keyFile), caConfigFile };
}

/** Returns a minimal "openssl ca" configuration: its database, no subject rules, and the extension sections. */
function caConfig(databaseDirectory: string, certFile: string, keyFile: string): string {
  return `
[ca]
default_ca = test_ca

[test_ca]
database = ${databaseDirectory}/index.txt
new_certs_dir = ${databaseDirectory}
serial = ${databaseDirectory}/serial
certificate = ${certFile}
private_key = ${keyFile}
default_md = sha256
default_days = ${VALID_DAYS}
policy = any_subject
unique_subject = no
copy_extensions = none

[any_subject]
commonName = supplied
${EXTENSIONS}`;
}

function signLeaf(directory: string, issuer: CertificateAuthority, name: string, options: LeafOptions): CertifiedKey {
  const certFile = join(directory, `${name}.pem`);
  const keyFile = join(directory, `${name}.key`);
  const requestFile = join(directory, `${name}.csr`);
  openssl([
    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-subj", `/CN=${options.subject}`, "-keyout", keyFile, "-out", requestFile,
  ]);

  const validity = options.startDate !== undefined && options.endDate !== undefined ? ["-startdate", options.startDate, "-enddate", options.endDate] : [];
  openssl(
    [
      "ca", "-batch", "-notext", "-config", issuer.caConfigFile, "-extensions", options.extensions,
      ...validity, "-in", requestFile, "-out", certFile,
    ],
    options.san,
  );
  return readCertifiedKey(certFile, keyFile);
}

function readCertifiedKey(certFile: string, keyFile: string): CertifiedKey {
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
}

/** Runs openssl, and on failure throws an error with its standard error output. */
function openssl(args: readonly string[], clientSan = UNUSED_SAN): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, CLIENT_SAN: clientSan } });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString("utf8") ?? "";
    throw new Error(`openssl ${args[0] ?? ""} failed: ${stderr.trim()}`, { cause: error });
  }
}
