import { isIP } from "node:net";
import { MASTER_KEY_VARIABLE, MASTER_SECRET_VARIABLE } from "./credentials/master-credentials.js";
import { PUBNUB_MAX_TTL_MINUTES } from "./service/request-rules.js";

/** Source of the master credentials. */
export type CredentialSource =
  /** RED5_MASTER_KEY and RED5_MASTER_SECRET are set: real credentials, real PubNub. */
  | { readonly kind: "configured"; readonly masterKey: string; readonly masterSecret: string }
  /** Neither is set: generated credentials and an in-process PubNub emulator, for local use only. */
  | { readonly kind: "development" };

/** The service's settings, read once at start-up. */
export interface Config {
  /** Address to listen on. HOST; default 127.0.0.1 (loopback only). */
  readonly host: string;
  /** Port to listen on, 0 for any free port. PORT; default 8080. */
  readonly port: number;
  /**
   * PEM certificate chain and key files, TLS_CERT_FILE and TLS_KEY_FILE, both or neither. With
   * them, TLS_CLIENT_CA_FILE names the PEM CA that signs client certificates for mutual TLS.
   */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile: string | undefined } | undefined;
  /** JSON file of the callers allowed to mint tokens and their policies. CALLERS_FILE; unset by default. */
  readonly callersFile: string | undefined;
  /**
   * Lets TokenService serve unauthenticated clients on a non-loopback address with configured
   * credentials. ALLOW_UNAUTHENTICATED_CALLERS; default false.
   */
  readonly allowUnauthenticatedCallers: boolean;
  readonly credentials: CredentialSource;
  /** PubNub REST origin. PUBNUB_ORIGIN; default https://ps.pndsn.com. Ignored in development mode. */
  readonly pubnubOrigin: string;
  /** The service's own PubNub user id on grant requests. PUBNUB_SERVER_UUID; default red5-token-service. */
  readonly pubnubServerUuid: string;
  /** Attempts per grant, first try included. PUBNUB_MAX_ATTEMPTS; default 3, range 1 to 10. */
  readonly pubnubMaxAttempts: number;
  /** Time limit of one grant attempt. PUBNUB_ATTEMPT_TIMEOUT_MS; default 5000, range 100 to 60000. */
  readonly pubnubAttemptTimeoutMs: number;
  /** Kept-alive connections to PubNub. PUBNUB_CONNECTIONS; default 64, range 1 to 1024. */
  readonly pubnubConnections: number;
  /** Consecutive failed grants that open the circuit breaker. PUBNUB_BREAKER_FAILURES; default 5, range 1 to 1000. */
  readonly pubnubBreakerFailures: number;
  /** Time the open breaker rejects grants before a trial. PUBNUB_BREAKER_OPEN_MS; default 5000, range 100 to 300000. */
  readonly pubnubBreakerOpenMs: number;
  /** Maximum token lifetime issued, in minutes. TOKEN_MAX_MINUTES; default 43200, range 1 to 43200. */
  readonly tokenMaxMinutes: number;
  /** Time budget of a call that carries no deadline. CALL_BUDGET_MS; default 10000, range 100 to 300000. */
  readonly callBudgetMs: number;
  /** Largest request message accepted. MAX_REQUEST_BYTES; default 16384, range 1024 to 4194304. */
  readonly maxRequestBytes: number;
  /** HTTP/2 streams per connection. HTTP2_MAX_CONCURRENT_STREAMS; default 256, range 1 to 10000. */
  readonly http2MaxConcurrentStreams: number;
  /** Address of the admin server (metrics, liveness, readiness). ADMIN_HOST; default 127.0.0.1. */
  readonly adminHost: string;
  /** Port of the admin server; 0 picks a free port. ADMIN_PORT; default 9090. */
  readonly adminPort: number;
  /** pino log level. LOG_LEVEL; default info. */
  readonly logLevel: LogLevel;
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A setting with an invalid value. The message names the setting and the fix, never a secret. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting} ${message}`);
  }
}

/** Environment variables, as in process.env. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Reads and checks every setting. Throws ConfigError naming the first invalid one. */
export function loadConfig(env: Environment): Config {
  const credentials = readCredentialSource(env);
  const host = readHost(env);
  const callersFile = nonEmpty(env.CALLERS_FILE);
  const allowUnauthenticatedCallers = readBoolean(env, "ALLOW_UNAUTHENTICATED_CALLERS");
  checkCallerAuthentication(credentials, host, callersFile, allowUnauthenticatedCallers);
  return {
    host,
    port: readInteger(env, "PORT", 8080, 0, 65_535),
    tls: readTls(env),
    callersFile,
    allowUnauthenticatedCallers,
    credentials,
    pubnubOrigin: readOrigin(env),
    pubnubServerUuid: readServerUuid(env),
    pubnubMaxAttempts: readInteger(env, "PUBNUB_MAX_ATTEMPTS", 3, 1, 10),
    pubnubAttemptTimeoutMs: readInteger(env, "PUBNUB_ATTEMPT_TIMEOUT_MS", 5000, 100, 60_000),
    pubnubConnections: readInteger(env, "PUBNUB_CONNECTIONS", 64, 1, 1024),
    pubnubBreakerFailures: readInteger(env, "PUBNUB_BREAKER_FAILURES", 5, 1, 1000),
    pubnubBreakerOpenMs: readInteger(env, "PUBNUB_BREAKER_OPEN_MS", 5000, 100, 300_000),
    tokenMaxMinutes: readInteger(env, "TOKEN_MAX_MINUTES", PUBNUB_MAX_TTL_MINUTES, 1, PUBNUB_MAX_TTL_MINUTES),
    callBudgetMs: readInteger(env, "CALL_BUDGET_MS", 10_000, 100, 300_000),
    maxRequestBytes: readInteger(env, "MAX_REQUEST_BYTES", 16_384, 1024, 4_194_304),
    http2MaxConcurrentStreams: readInteger(env, "HTTP2_MAX_CONCURRENT_STREAMS", 256, 1, 10_000),
    adminHost: readHostSetting(env, "ADMIN_HOST"),
    adminPort: readInteger(env, "ADMIN_PORT", 9090, 0, 65_535),
    logLevel: readLogLevel(env),
  };
}

function readCredentialSource(env: Environment): CredentialSource {
  // An empty value is an error rather than "unset": a secret store that hands out an empty string
  // must not switch a production deployment to development mode.
  for (const variable of [MASTER_KEY_VARIABLE, MASTER_SECRET_VARIABLE]) {
    if (env[variable] !== undefined && env[variable]?.trim() === "") {
      throw new ConfigError(variable, "is set but empty. Set it to the value from the Red5 Cloud console, or unset both for development mode.");
    }
  }
  const masterKey = env[MASTER_KEY_VARIABLE];
  const masterSecret = env[MASTER_SECRET_VARIABLE];
  if (masterKey !== undefined && masterSecret !== undefined) {
    return { kind: "configured", masterKey, masterSecret };
  }
  if (masterKey === undefined && masterSecret === undefined) {
    return { kind: "development" };
  }

  const missing = masterKey === undefined ? MASTER_KEY_VARIABLE : MASTER_SECRET_VARIABLE;
  const present = masterKey === undefined ? MASTER_SECRET_VARIABLE : MASTER_KEY_VARIABLE;
  throw new ConfigError(missing, `is not set but ${present} is. Set both, or neither for local development mode.`);
}

/**
 * Refuses a deployment where anyone who reaches the port could mint tokens: real credentials, no
 * callers configured, and an address other than loopback, unless explicitly allowed. Development
 * mode is exempt, because its tokens work nowhere else.
 */
function checkCallerAuthentication(credentials: CredentialSource, host: string, callersFile: string | undefined, allowed: boolean): void {
  if (credentials.kind === "development" || callersFile !== undefined || allowed || isLoopback(host)) {
    return;
  }
  throw new ConfigError(
    "CALLERS_FILE",
    `is not set and HOST ${host} is not a loopback address, so any client that reaches the port could mint tokens. ` +
      "Configure callers, listen on 127.0.0.1, or set ALLOW_UNAUTHENTICATED_CALLERS=true behind another access control.",
  );
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function readBoolean(env: Environment, name: string): boolean {
  const text = nonEmpty(env[name]);
  if (text === undefined || text === "false") {
    return false;
  }
  if (text === "true") {
    return true;
  }
  throw new ConfigError(name, `must be true or false; got ${JSON.stringify(text.slice(0, 32))}.`);
}

function readHost(env: Environment): string {
  return readHostSetting(env, "HOST");
}

function readHostSetting(env: Environment, name: string): string {
  const host = nonEmpty(env[name]) ?? "127.0.0.1";
  if (isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new ConfigError(name, "is not an IP address or host name. Use e.g. 127.0.0.1, :: or 0.0.0.0.");
  }
  return host;
}

function readTls(env: Environment): Config["tls"] {
  const certFile = nonEmpty(env.TLS_CERT_FILE);
  const keyFile = nonEmpty(env.TLS_KEY_FILE);
  const clientCaFile = nonEmpty(env.TLS_CLIENT_CA_FILE);
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) {
      throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS: set TLS_CERT_FILE and TLS_KEY_FILE too.");
    }
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) {
    const missing = certFile === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE";
    throw new ConfigError(missing, "is not set. Set TLS_CERT_FILE and TLS_KEY_FILE together, or neither for cleartext.");
  }
  return { certFile, keyFile, clientCaFile };
}

function readOrigin(env: Environment): string {
  const text = nonEmpty(env.PUBNUB_ORIGIN) ?? "https://ps.pndsn.com";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError("PUBNUB_ORIGIN", "is not a URL. Use e.g. https://ps.pndsn.com.");
  }

  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new ConfigError("PUBNUB_ORIGIN", "must use https (plain http is allowed only on loopback).");
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError("PUBNUB_ORIGIN", "must be a bare origin such as https://ps.pndsn.com, without user, path or query.");
  }
  return url.origin;
}

function readServerUuid(env: Environment): string {
  const uuid = env.PUBNUB_SERVER_UUID ?? "red5-token-service";
  if (!/^[\x21-\x7e]{1,92}$/.test(uuid)) {
    throw new ConfigError("PUBNUB_SERVER_UUID", "must be 1 to 92 printable ASCII characters without spaces.");
  }
  return uuid;
}

function readLogLevel(env: Environment): LogLevel {
  const level = nonEmpty(env.LOG_LEVEL) ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}.`);
  }
  return level as LogLevel;
}

function readInteger(env: Environment, name: string, fallback: number, min: number, max: number): number {
  const text = nonEmpty(env[name]);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(text.slice(0, 32))}.`);
  }
  return Number(text);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
