import { isIP } from "node:net";
import { ConfigError, readText, SettingSource, type Environment } from "./config-file.js";
import { MASTER_KEY_VARIABLE, MASTER_SECRET_VARIABLE } from "./credentials/master-credentials.js";
import { PUBNUB_MAX_TTL_MINUTES } from "./service/request-rules.js";

export { ConfigError, type Environment };

/** Source of the master credentials. */
export type CredentialSource =
  /** Both master credentials are set, from the environment or files: real credentials, real PubNub. */
  | {
      readonly kind: "configured";
      readonly masterKey: string;
      readonly masterSecret: string;
      /** Files the key and secret were read from, when they came from files, for messages. */
      readonly masterKeyFile?: string | undefined;
      readonly masterSecretFile?: string | undefined;
    }
  /** Neither is set: generated credentials and an in-process PubNub emulator, for local use only. */
  | { readonly kind: "development" };

/**
 * The service's settings, read at start-up from the environment and the optional configuration
 * file, and read again on every reload.
 */
export interface Config {
  /** YAML or JSON file of settings keyed by their names in camelCase. CONFIG_FILE; unset by default. */
  readonly configFile: string | undefined;
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
  /**
   * Master credentials: RED5_MASTER_KEY and RED5_MASTER_SECRET, or the contents of the files that
   * RED5_MASTER_KEY_FILE and RED5_MASTER_SECRET_FILE name, without trailing white space.
   */
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
  /**
   * Age after which an HTTP/2 connection gets GOAWAY, give or take 10%, so that clients reconnect
   * and spread over new replicas. MAX_CONNECTION_AGE_MS; default 0 (never), else 1000 to 86400000.
   */
  readonly maxConnectionAgeMs: number;
  /** Address of the admin server (metrics, liveness, readiness). ADMIN_HOST; default 127.0.0.1. */
  readonly adminHost: string;
  /** Port of the admin server; 0 picks a free port. ADMIN_PORT; default 9090. */
  readonly adminPort: number;
  /** pino log level. LOG_LEVEL; default info. */
  readonly logLevel: LogLevel;
  /**
   * Time between SIGTERM and closing the listener, during which readiness already reports
   * NOT_SERVING, so that load balancers stop sending calls first. SHUTDOWN_DELAY_MS; default 0,
   * range 0 to 60000.
   */
  readonly shutdownDelayMs: number;
  /**
   * Time calls in flight get to finish once the listener has closed; calls still open then are
   * cancelled. SHUTDOWN_DRAIN_MS; default 15000, range 0 to 600000.
   */
  readonly shutdownDrainMs: number;
  /**
   * How often watchedFiles are checked for changes; a change reloads the configuration.
   * CONFIG_WATCH_INTERVAL_MS; default 5000, range 100 to 3600000, or 0 to reload on SIGHUP only.
   */
  readonly configWatchIntervalMs: number;
  /**
   * Processes that serve calls: 1 serves in this process; more forks that many workers sharing the
   * port, for one per core. WORKERS; default 1, range 1 to 64.
   */
  readonly workers: number;
  /** Every file the configuration was read from, in the order read. */
  readonly watchedFiles: readonly string[];
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Environment names of the settings the configuration file may hold: all but secrets and CONFIG_FILE. */
export const FILE_SETTINGS: readonly string[] = [
  "HOST",
  "PORT",
  "TLS_CERT_FILE",
  "TLS_KEY_FILE",
  "TLS_CLIENT_CA_FILE",
  "CALLERS_FILE",
  "ALLOW_UNAUTHENTICATED_CALLERS",
  "RED5_MASTER_KEY_FILE",
  "RED5_MASTER_SECRET_FILE",
  "PUBNUB_ORIGIN",
  "PUBNUB_SERVER_UUID",
  "PUBNUB_MAX_ATTEMPTS",
  "PUBNUB_ATTEMPT_TIMEOUT_MS",
  "PUBNUB_CONNECTIONS",
  "PUBNUB_BREAKER_FAILURES",
  "PUBNUB_BREAKER_OPEN_MS",
  "TOKEN_MAX_MINUTES",
  "CALL_BUDGET_MS",
  "MAX_REQUEST_BYTES",
  "HTTP2_MAX_CONCURRENT_STREAMS",
  "MAX_CONNECTION_AGE_MS",
  "ADMIN_HOST",
  "ADMIN_PORT",
  "LOG_LEVEL",
  "SHUTDOWN_DELAY_MS",
  "SHUTDOWN_DRAIN_MS",
  "CONFIG_WATCH_INTERVAL_MS",
  "WORKERS",
];

/**
 * Reads and checks every setting from the environment and, when CONFIG_FILE names one, the
 * configuration file; the environment wins. Reads the files that hold the master credentials.
 * Throws ConfigError naming the first invalid setting.
 */
export function loadConfig(env: Environment): Config {
  const configFile = nonEmpty(env.CONFIG_FILE);
  const source = new SettingSource(env, FILE_SETTINGS, configFile);
  const credentials = readCredentialSource(source);
  const host = readHostSetting(source, "HOST");
  const callersFile = source.get("CALLERS_FILE");
  const allowUnauthenticatedCallers = readBoolean(source, "ALLOW_UNAUTHENTICATED_CALLERS");
  checkCallerAuthentication(credentials, host, callersFile, allowUnauthenticatedCallers);
  const tls = readTls(source);

  return {
    configFile,
    host,
    port: readInteger(source, "PORT", 8080, 0, 65_535),
    tls,
    callersFile,
    allowUnauthenticatedCallers,
    credentials,
    pubnubOrigin: readOrigin(source),
    pubnubServerUuid: readServerUuid(source),
    pubnubMaxAttempts: readInteger(source, "PUBNUB_MAX_ATTEMPTS", 3, 1, 10),
    pubnubAttemptTimeoutMs: readInteger(source, "PUBNUB_ATTEMPT_TIMEOUT_MS", 5000, 100, 60_000),
    pubnubConnections: readInteger(source, "PUBNUB_CONNECTIONS", 64, 1, 1024),
    pubnubBreakerFailures: readInteger(source, "PUBNUB_BREAKER_FAILURES", 5, 1, 1000),
    pubnubBreakerOpenMs: readInteger(source, "PUBNUB_BREAKER_OPEN_MS", 5000, 100, 300_000),
    tokenMaxMinutes: readInteger(source, "TOKEN_MAX_MINUTES", PUBNUB_MAX_TTL_MINUTES, 1, PUBNUB_MAX_TTL_MINUTES),
    callBudgetMs: readInteger(source, "CALL_BUDGET_MS", 10_000, 100, 300_000),
    maxRequestBytes: readInteger(source, "MAX_REQUEST_BYTES", 16_384, 1024, 4_194_304),
    http2MaxConcurrentStreams: readInteger(source, "HTTP2_MAX_CONCURRENT_STREAMS", 256, 1, 10_000),
    maxConnectionAgeMs: readOptionalDuration(source, "MAX_CONNECTION_AGE_MS", 0, 1000, 86_400_000),
    adminHost: readHostSetting(source, "ADMIN_HOST"),
    adminPort: readInteger(source, "ADMIN_PORT", 9090, 0, 65_535),
    logLevel: readLogLevel(source),
    shutdownDelayMs: readInteger(source, "SHUTDOWN_DELAY_MS", 0, 0, 60_000),
    shutdownDrainMs: readInteger(source, "SHUTDOWN_DRAIN_MS", 15_000, 0, 600_000),
    configWatchIntervalMs: readOptionalDuration(source, "CONFIG_WATCH_INTERVAL_MS", 5000, 100, 3_600_000),
    workers: readWorkers(source, credentials),
    watchedFiles: [
      configFile,
      source.get("RED5_MASTER_KEY_FILE"),
      source.get("RED5_MASTER_SECRET_FILE"),
      callersFile,
      tls?.certFile,
      tls?.keyFile,
      tls?.clientCaFile,
    ].filter((file): file is string => file !== undefined),
  };
}

function readCredentialSource(source: SettingSource): CredentialSource {
  const masterKey = readSecret(source, MASTER_KEY_VARIABLE);
  const masterSecret = readSecret(source, MASTER_SECRET_VARIABLE);
  if (masterKey !== undefined && masterSecret !== undefined) {
    const masterKeyFile = source.get(`${MASTER_KEY_VARIABLE}_FILE`);
    const masterSecretFile = source.get(`${MASTER_SECRET_VARIABLE}_FILE`);
    return { kind: "configured", masterKey, masterSecret, ...(masterKeyFile && { masterKeyFile }), ...(masterSecretFile && { masterSecretFile }) };
  }
  if (masterKey === undefined && masterSecret === undefined) {
    return { kind: "development" };
  }

  const missing = masterKey === undefined ? MASTER_KEY_VARIABLE : MASTER_SECRET_VARIABLE;
  const present = masterKey === undefined ? MASTER_SECRET_VARIABLE : MASTER_KEY_VARIABLE;
  throw new ConfigError(missing, `is not set but ${present} is. Set both, or neither for local development mode.`);
}

/**
 * Reads a secret from its variable or from the file its _FILE variable names. An empty value is an
 * error rather than "unset": a secret store that hands out an empty string or file must not switch
 * a production deployment to development mode.
 */
function readSecret(source: SettingSource, variable: string): string | undefined {
  const fileSetting = `${variable}_FILE`;
  const file = source.get(fileSetting);
  const value = source.getRaw(variable);
  if (file !== undefined && value !== undefined) {
    throw new ConfigError(fileSetting, `and ${variable} are both set. Set one of them.`, source.label(fileSetting));
  }
  if (file !== undefined) {
    const text = readText(fileSetting, file, source.label(fileSetting)).trimEnd();
    if (text.trim() === "") {
      source.fail(fileSetting, `names an empty file: ${file}. Put the value from the Red5 Cloud console in it.`);
    }
    return text;
  }
  if (value !== undefined && value.trim() === "") {
    throw new ConfigError(variable, "is set but empty. Set it to the value from the Red5 Cloud console, or unset both for development mode.");
  }
  return value;
}

/**
 * Rejects a deployment where anyone who reaches the port could mint tokens: real credentials, no
 * callers configured, and an address other than loopback, unless explicitly allowed. Development
 * mode is exempt, because its tokens work nowhere else. A reload checks the new settings against
 * the address the listener was bound to at start-up, since only a restart moves it.
 */
export function checkCallerAuthentication(credentials: CredentialSource, host: string, callersFile: string | undefined, allowed: boolean): void {
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

function readBoolean(source: SettingSource, name: string): boolean {
  const text = source.get(name);
  if (text === undefined || text === "false") {
    return false;
  }
  if (text === "true") {
    return true;
  }
  return source.fail(name, `must be true or false; got ${JSON.stringify(text.slice(0, 32))}.`);
}

function readHostSetting(source: SettingSource, name: string): string {
  const host = source.get(name) ?? "127.0.0.1";
  if (isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    source.fail(name, "is not an IP address or host name. Use e.g. 127.0.0.1, :: or 0.0.0.0.");
  }
  return host;
}

function readTls(source: SettingSource): Config["tls"] {
  const certFile = source.get("TLS_CERT_FILE");
  const keyFile = source.get("TLS_KEY_FILE");
  const clientCaFile = source.get("TLS_CLIENT_CA_FILE");
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) {
      source.fail("TLS_CLIENT_CA_FILE", "needs TLS: set TLS_CERT_FILE and TLS_KEY_FILE too.");
    }
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) {
    const missing = certFile === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE";
    throw new ConfigError(missing, "is not set. Set TLS_CERT_FILE and TLS_KEY_FILE together, or neither for cleartext.");
  }
  return { certFile, keyFile, clientCaFile };
}

function readOrigin(source: SettingSource): string {
  const text = source.get("PUBNUB_ORIGIN") ?? "https://ps.pndsn.com";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return source.fail("PUBNUB_ORIGIN", "is not a URL. Use e.g. https://ps.pndsn.com.");
  }

  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    source.fail("PUBNUB_ORIGIN", "must use https (plain http is allowed only on loopback).");
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    source.fail("PUBNUB_ORIGIN", "must be a bare origin such as https://ps.pndsn.com, without user, path or query.");
  }
  return url.origin;
}

function readServerUuid(source: SettingSource): string {
  const uuid = source.getRaw("PUBNUB_SERVER_UUID") ?? "red5-token-service";
  if (!/^[\x21-\x7e]{1,92}$/.test(uuid)) {
    source.fail("PUBNUB_SERVER_UUID", "must be 1 to 92 printable ASCII characters without spaces.");
  }
  return uuid;
}

function readLogLevel(source: SettingSource): LogLevel {
  const level = source.get("LOG_LEVEL") ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    source.fail("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}.`);
  }
  return level as LogLevel;
}

/** Reads a duration in milliseconds where 0 turns the feature off. */
function readOptionalDuration(source: SettingSource, name: string, fallback: number, min: number, max: number): number {
  const value = readInteger(source, name, fallback, 0, max);
  if (value > 0 && value < min) {
    source.fail(name, `must be 0 (off) or from ${min} to ${max}; got ${value}.`);
  }
  return value;
}

function readWorkers(source: SettingSource, credentials: CredentialSource): number {
  const workers = readInteger(source, "WORKERS", 1, 1, 64);
  if (workers > 1 && credentials.kind === "development") {
    source.fail("WORKERS", "above 1 needs RED5_MASTER_KEY and RED5_MASTER_SECRET: development mode generates its credentials in one process. Set WORKERS=1.");
  }
  return workers;
}

function readInteger(source: SettingSource, name: string, fallback: number, min: number, max: number): number {
  const text = source.get(name);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    source.fail(name, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(text.slice(0, 32))}.`);
  }
  return Number(text);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
