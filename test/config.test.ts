import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("applies every default in development mode", () => {
    expect(loadConfig({})).toEqual({
      configFile: undefined,
      host: "127.0.0.1",
      port: 8080,
      tls: undefined,
      callersFile: undefined,
      allowUnauthenticatedCallers: false,
      credentials: { kind: "development" },
      pubnubOrigin: "https://ps.pndsn.com",
      pubnubServerUuid: "red5-token-service",
      pubnubMaxAttempts: 3,
      pubnubAttemptTimeoutMs: 5000,
      pubnubConnections: 64,
      pubnubBreakerFailures: 5,
      pubnubBreakerOpenMs: 5000,
      tokenMaxMinutes: 43_200,
      callBudgetMs: 10_000,
      maxRequestBytes: 16_384,
      http2MaxConcurrentStreams: 256,
      maxConnectionAgeMs: 0,
      adminHost: "127.0.0.1",
      adminPort: 9090,
      logLevel: "info",
      shutdownDelayMs: 0,
      shutdownDrainMs: 15_000,
      configWatchIntervalMs: 5000,
      workers: 1,
      watchedFiles: [],
    });
  });

  it("reads every setting", () => {
    const config = loadConfig({
      HOST: "0.0.0.0",
      PORT: "9090",
      TLS_CERT_FILE: "/etc/tls/cert.pem",
      TLS_KEY_FILE: "/etc/tls/key.pem",
      TLS_CLIENT_CA_FILE: "/etc/tls/clients-ca.pem",
      CALLERS_FILE: "/etc/red5/callers.json",
      ALLOW_UNAUTHENTICATED_CALLERS: "false",
      RED5_MASTER_KEY: "k".repeat(32),
      RED5_MASTER_SECRET: "c2VjcmV0",
      PUBNUB_ORIGIN: "https://pubnub.example.test:8443",
      PUBNUB_SERVER_UUID: "tokens-eu-1",
      PUBNUB_MAX_ATTEMPTS: "1",
      PUBNUB_ATTEMPT_TIMEOUT_MS: "100",
      PUBNUB_CONNECTIONS: "1024",
      PUBNUB_BREAKER_FAILURES: "1000",
      PUBNUB_BREAKER_OPEN_MS: "300000",
      TOKEN_MAX_MINUTES: "1",
      CALL_BUDGET_MS: "300000",
      MAX_REQUEST_BYTES: "1024",
      HTTP2_MAX_CONCURRENT_STREAMS: "10000",
      MAX_CONNECTION_AGE_MS: "86400000",
      LOG_LEVEL: "warn",
      ADMIN_HOST: "0.0.0.0",
      ADMIN_PORT: "9191",
      SHUTDOWN_DELAY_MS: "60000",
      SHUTDOWN_DRAIN_MS: "0",
      CONFIG_WATCH_INTERVAL_MS: "0",
      WORKERS: "64",
    });

    expect(config).toEqual({
      configFile: undefined,
      host: "0.0.0.0",
      port: 9090,
      tls: { certFile: "/etc/tls/cert.pem", keyFile: "/etc/tls/key.pem", clientCaFile: "/etc/tls/clients-ca.pem" },
      callersFile: "/etc/red5/callers.json",
      allowUnauthenticatedCallers: false,
      credentials: { kind: "configured", masterKey: "k".repeat(32), masterSecret: "c2VjcmV0" },
      pubnubOrigin: "https://pubnub.example.test:8443",
      pubnubServerUuid: "tokens-eu-1",
      pubnubMaxAttempts: 1,
      pubnubAttemptTimeoutMs: 100,
      pubnubConnections: 1024,
      pubnubBreakerFailures: 1000,
      pubnubBreakerOpenMs: 300_000,
      tokenMaxMinutes: 1,
      callBudgetMs: 300_000,
      maxRequestBytes: 1024,
      http2MaxConcurrentStreams: 10_000,
      maxConnectionAgeMs: 86_400_000,
      adminHost: "0.0.0.0",
      adminPort: 9191,
      logLevel: "warn",
      shutdownDelayMs: 60_000,
      shutdownDrainMs: 0,
      configWatchIntervalMs: 0,
      workers: 64,
      watchedFiles: ["/etc/red5/callers.json", "/etc/tls/cert.pem", "/etc/tls/key.pem", "/etc/tls/clients-ca.pem"],
    });
  });

  it.each([
    { name: "loopback", env: { HOST: "127.0.0.1" } },
    { name: "a callers file", env: { HOST: "0.0.0.0", CALLERS_FILE: "/etc/red5/callers.json" } },
    { name: "the explicit setting", env: { HOST: "0.0.0.0", ALLOW_UNAUTHENTICATED_CALLERS: "true" } },
  ])("serves configured credentials with $name", ({ env }) => {
    const config = loadConfig({ RED5_MASTER_KEY: "k".repeat(32), RED5_MASTER_SECRET: "c2VjcmV0", ...env });

    expect(config.credentials.kind).toBe("configured");
  });

  it("serves development mode on any address", () => {
    expect(loadConfig({ HOST: "0.0.0.0" }).host).toBe("0.0.0.0");
  });

  it.each([
    ["http://127.0.0.1:4000", "http://127.0.0.1:4000"],
    ["http://localhost:4000/", "http://localhost:4000"],
    ["http://[::1]:4000", "http://[::1]:4000"],
    ["http://127.0.0.2:4000", "http://127.0.0.2:4000"],
  ])("allows plain http on loopback: %s", (origin, expected) => {
    expect(loadConfig({ PUBNUB_ORIGIN: origin }).pubnubOrigin).toBe(expected);
  });

  const invalid: [string, Record<string, string>, string][] = [
    ["PORT", { PORT: "65536" }, 'PORT must be a whole number from 0 to 65535; got "65536".'],
    ["PORT", { PORT: "-1" }, 'PORT must be a whole number from 0 to 65535; got "-1".'],
    ["PORT", { PORT: "80.5" }, 'PORT must be a whole number from 0 to 65535; got "80.5".'],
    ["HOST", { HOST: "bad host!" }, "HOST is not an IP address or host name. Use e.g. 127.0.0.1, :: or 0.0.0.0."],
    ["TLS_KEY_FILE", { TLS_CERT_FILE: "/c.pem" }, "TLS_KEY_FILE is not set. Set TLS_CERT_FILE and TLS_KEY_FILE together, or neither for cleartext."],
    ["TLS_CERT_FILE", { TLS_KEY_FILE: "/k.pem" }, "TLS_CERT_FILE is not set. Set TLS_CERT_FILE and TLS_KEY_FILE together, or neither for cleartext."],
    ["RED5_MASTER_KEY", { RED5_MASTER_SECRET: "c2VjcmV0" }, "RED5_MASTER_KEY is not set but RED5_MASTER_SECRET is. Set both, or neither for local development mode."],
    ["PUBNUB_ORIGIN", { PUBNUB_ORIGIN: "ps.pndsn.com" }, "PUBNUB_ORIGIN is not a URL. Use e.g. https://ps.pndsn.com."],
    ["PUBNUB_ORIGIN", { PUBNUB_ORIGIN: "http://ps.pndsn.com" }, "PUBNUB_ORIGIN must use https (plain http is allowed only on loopback)."],
    ["PUBNUB_ORIGIN", { PUBNUB_ORIGIN: "https://ps.pndsn.com/v3" }, "PUBNUB_ORIGIN must be a bare origin such as https://ps.pndsn.com, without user, path or query."],
    ["PUBNUB_ORIGIN", { PUBNUB_ORIGIN: "https://:hunter2@ps.pndsn.com" }, "PUBNUB_ORIGIN must be a bare origin such as https://ps.pndsn.com, without user, path or query."],
    ["RED5_MASTER_KEY", { RED5_MASTER_KEY: "", RED5_MASTER_SECRET: "" }, "RED5_MASTER_KEY is set but empty. Set it to the value from the Red5 Cloud console, or unset both for development mode."],
    ["RED5_MASTER_SECRET", { RED5_MASTER_KEY: "k".repeat(32), RED5_MASTER_SECRET: " " }, "RED5_MASTER_SECRET is set but empty. Set it to the value from the Red5 Cloud console, or unset both for development mode."],
    ["PUBNUB_SERVER_UUID", { PUBNUB_SERVER_UUID: "has space" }, "PUBNUB_SERVER_UUID must be 1 to 92 printable ASCII characters without spaces."],
    ["PUBNUB_MAX_ATTEMPTS", { PUBNUB_MAX_ATTEMPTS: "0" }, 'PUBNUB_MAX_ATTEMPTS must be a whole number from 1 to 10; got "0".'],
    ["PUBNUB_MAX_ATTEMPTS", { PUBNUB_MAX_ATTEMPTS: "11" }, 'PUBNUB_MAX_ATTEMPTS must be a whole number from 1 to 10; got "11".'],
    ["PUBNUB_ATTEMPT_TIMEOUT_MS", { PUBNUB_ATTEMPT_TIMEOUT_MS: "99" }, 'PUBNUB_ATTEMPT_TIMEOUT_MS must be a whole number from 100 to 60000; got "99".'],
    ["PUBNUB_BREAKER_FAILURES", { PUBNUB_BREAKER_FAILURES: "0" }, 'PUBNUB_BREAKER_FAILURES must be a whole number from 1 to 1000; got "0".'],
    ["PUBNUB_BREAKER_OPEN_MS", { PUBNUB_BREAKER_OPEN_MS: "99" }, 'PUBNUB_BREAKER_OPEN_MS must be a whole number from 100 to 300000; got "99".'],
    ["PUBNUB_CONNECTIONS", { PUBNUB_CONNECTIONS: "1025" }, 'PUBNUB_CONNECTIONS must be a whole number from 1 to 1024; got "1025".'],
    ["TOKEN_MAX_MINUTES", { TOKEN_MAX_MINUTES: "43201" }, 'TOKEN_MAX_MINUTES must be a whole number from 1 to 43200; got "43201".'],
    ["TOKEN_MAX_MINUTES", { TOKEN_MAX_MINUTES: "0" }, 'TOKEN_MAX_MINUTES must be a whole number from 1 to 43200; got "0".'],
    ["CALL_BUDGET_MS", { CALL_BUDGET_MS: "99" }, 'CALL_BUDGET_MS must be a whole number from 100 to 300000; got "99".'],
    ["MAX_REQUEST_BYTES", { MAX_REQUEST_BYTES: "1023" }, 'MAX_REQUEST_BYTES must be a whole number from 1024 to 4194304; got "1023".'],
    ["HTTP2_MAX_CONCURRENT_STREAMS", { HTTP2_MAX_CONCURRENT_STREAMS: "0" }, 'HTTP2_MAX_CONCURRENT_STREAMS must be a whole number from 1 to 10000; got "0".'],
    ["LOG_LEVEL", { LOG_LEVEL: "verbose" }, "LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent."],
    ["TLS_CLIENT_CA_FILE", { TLS_CLIENT_CA_FILE: "/ca.pem" }, "TLS_CLIENT_CA_FILE needs TLS: set TLS_CERT_FILE and TLS_KEY_FILE too."],
    ["SHUTDOWN_DELAY_MS", { SHUTDOWN_DELAY_MS: "60001" }, 'SHUTDOWN_DELAY_MS must be a whole number from 0 to 60000; got "60001".'],
    ["SHUTDOWN_DRAIN_MS", { SHUTDOWN_DRAIN_MS: "600001" }, 'SHUTDOWN_DRAIN_MS must be a whole number from 0 to 600000; got "600001".'],
    ["SHUTDOWN_DRAIN_MS", { SHUTDOWN_DRAIN_MS: "1s" }, 'SHUTDOWN_DRAIN_MS must be a whole number from 0 to 600000; got "1s".'],
    ["CONFIG_WATCH_INTERVAL_MS", { CONFIG_WATCH_INTERVAL_MS: "99" }, "CONFIG_WATCH_INTERVAL_MS must be 0 (off) or from 100 to 3600000; got 99."],
    ["CONFIG_WATCH_INTERVAL_MS", { CONFIG_WATCH_INTERVAL_MS: "3600001" }, 'CONFIG_WATCH_INTERVAL_MS must be a whole number from 0 to 3600000; got "3600001".'],
    ["MAX_CONNECTION_AGE_MS", { MAX_CONNECTION_AGE_MS: "999" }, "MAX_CONNECTION_AGE_MS must be 0 (off) or from 1000 to 86400000; got 999."],
    ["WORKERS", { WORKERS: "0" }, 'WORKERS must be a whole number from 1 to 64; got "0".'],
    ["WORKERS", { WORKERS: "2" }, "WORKERS above 1 needs RED5_MASTER_KEY and RED5_MASTER_SECRET: development mode generates its credentials in one process. Set WORKERS=1."],
    ["ALLOW_UNAUTHENTICATED_CALLERS", { ALLOW_UNAUTHENTICATED_CALLERS: "yes" }, 'ALLOW_UNAUTHENTICATED_CALLERS must be true or false; got "yes".'],
    [
      "CALLERS_FILE",
      { RED5_MASTER_KEY: "k".repeat(32), RED5_MASTER_SECRET: "c2VjcmV0", HOST: "0.0.0.0" },
      "CALLERS_FILE is not set and HOST 0.0.0.0 is not a loopback address, so any client that reaches the port could mint tokens. Configure callers, listen on 127.0.0.1, or set ALLOW_UNAUTHENTICATED_CALLERS=true behind another access control.",
    ],
  ];

  it.each(invalid)("rejects an invalid %s", (setting, env, message) => {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).setting).toBe(setting);
    expect((caught as Error).message).toBe(message);
  });
});

/** Writes files into a new temporary directory and returns their paths by name. */
function writeFiles(files: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "red5-config-"));
  return Object.fromEntries(
    Object.entries(files).map(([name, content]) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return [name, path];
    }),
  );
}

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("loadConfig accepted the configuration");
}

describe("loadConfig with a configuration file", () => {
  const masterKey = "k".repeat(32);
  const masterSecret = "c2VjcmV0";

  it("reads every setting from YAML under its camelCase name", () => {
    const files = writeFiles({
      "key": `${masterKey}\n`,
      "secret": `${masterSecret}\r\n`,
      "config.yaml": [
        "# shared by every replica",
        "host: 0.0.0.0",
        "port: 9090",
        "callersFile: /etc/red5/callers.json",
        "pubnubMaxAttempts: 2",
        "pubnubAttemptTimeoutMs: 250",
        "http2MaxConcurrentStreams: 100",
        "allowUnauthenticatedCallers: false",
        "logLevel: warn",
        "shutdownDelayMs: 5000",
        "shutdownDrainMs: 20000",
        "configWatchIntervalMs: 1000",
        "",
      ].join("\n"),
    });
    const config = loadConfig({
      CONFIG_FILE: files["config.yaml"],
      RED5_MASTER_KEY_FILE: files.key,
      RED5_MASTER_SECRET_FILE: files.secret,
    });

    expect(config).toMatchObject({
      configFile: files["config.yaml"],
      host: "0.0.0.0",
      port: 9090,
      callersFile: "/etc/red5/callers.json",
      credentials: { kind: "configured", masterKey, masterSecret, masterKeyFile: files.key, masterSecretFile: files.secret },
      pubnubMaxAttempts: 2,
      pubnubAttemptTimeoutMs: 250,
      http2MaxConcurrentStreams: 100,
      logLevel: "warn",
      shutdownDelayMs: 5000,
      shutdownDrainMs: 20_000,
      configWatchIntervalMs: 1000,
      watchedFiles: [files["config.yaml"], files.key, files.secret, "/etc/red5/callers.json"],
    });
  });

  it("reads JSON, and the environment wins over the file", () => {
    const files = writeFiles({ "config.json": JSON.stringify({ port: 7000, logLevel: "debug", pubnubServerUuid: "from-file" }) });

    const config = loadConfig({ CONFIG_FILE: files["config.json"], PORT: "7001" });

    expect([config.port, config.logLevel, config.pubnubServerUuid]).toEqual([7001, "debug", "from-file"]);
  });

  it("reads the master credentials from files named in the configuration file", () => {
    const files = writeFiles({ key: masterKey, secret: masterSecret });
    const yaml = writeFiles({ "config.yaml": `red5MasterKeyFile: ${files.key}\nred5MasterSecretFile: ${files.secret}\n` });

    expect(loadConfig({ CONFIG_FILE: yaml["config.yaml"] }).credentials).toEqual({
      kind: "configured",
      masterKey,
      masterSecret,
      masterKeyFile: files.key,
      masterSecretFile: files.secret,
    });
  });

  it("treats an empty file as no settings", () => {
    const files = writeFiles({ "config.yaml": "# nothing yet\n" });

    expect(loadConfig({ CONFIG_FILE: files["config.yaml"] }).port).toBe(8080);
  });

  it("names the key and the file of an invalid value", () => {
    const files = writeFiles({ "config.yaml": "shutdownDrainMs: 1.5\n" });

    const error = configError(() => loadConfig({ CONFIG_FILE: files["config.yaml"] }));

    expect(error.setting).toBe("SHUTDOWN_DRAIN_MS");
    expect(error.message).toBe(`shutdownDrainMs in ${files["config.yaml"]} must be a whole number from 0 to 600000; got "1.5".`);
  });

  const rejected: [string, string, (file: string) => string][] = [
    ["an environment-style name", "PORT: 1\n", (file) => `CONFIG_FILE ${file} has the unknown setting "PORT". Write it as port.`],
    ["a misspelled name", "pubnubMaxAttempt: 1\n", (file) => `CONFIG_FILE ${file} has the unknown setting "pubnubMaxAttempt". See the settings table in the README.`],
    [
      "the master secret",
      "red5MasterSecret: c2VjcmV0\n",
      (file) => `CONFIG_FILE ${file} holds red5MasterSecret, a secret. Keep secrets out of the configuration file: set red5MasterSecretFile to a file that holds it, or use the environment.`,
    ],
    [
      "the master key by its environment name",
      "RED5_MASTER_KEY: abc\n",
      (file) => `CONFIG_FILE ${file} holds RED5_MASTER_KEY, a secret. Keep secrets out of the configuration file: set red5MasterKeyFile to a file that holds it, or use the environment.`,
    ],
    ["a key without a value", "port:\n", (file) => `CONFIG_FILE ${file}: port has no value. Give it a string, number or true/false, or remove it.`],
    ["a nested value", "port:\n  value: 1\n", (file) => `CONFIG_FILE ${file}: port is not a single value. Give it a string, number or true/false, or remove it.`],
    ["a list", "- port\n", (file) => `CONFIG_FILE ${file} must hold a mapping of setting names to values, such as "port: 8080".`],
    ["a repeated key", "port: 1\nport: 2\n", (file) => `CONFIG_FILE ${file} is not valid YAML or JSON at line 2, column 1 (DUPLICATE_KEY). Check its syntax.`],
    ["an unknown tag", "port: !vault canary-tagged-value\n", (file) => `CONFIG_FILE ${file} is not valid YAML or JSON at line 1, column 7 (TAG_RESOLVE_FAILED). Check its syntax.`],
    ["broken syntax", "port: [1\nhost: x\n", (file) => `CONFIG_FILE ${file} is not valid YAML or JSON at line 2, column 1 (BAD_INDENT). Check its syntax.`],
  ];

  it.each(rejected)("rejects %s", (_name, content, message) => {
    const files = writeFiles({ "config.yaml": content });

    const error = configError(() => loadConfig({ CONFIG_FILE: files["config.yaml"] }));

    expect(error.setting).toBe("CONFIG_FILE");
    expect(error.message).toBe(message(files["config.yaml"] ?? ""));
    expect(error.message).not.toContain("c2VjcmV0");
    expect(error.message).not.toContain("canary-tagged-value");
  });

  it("lets no blank variable hide the file's value", () => {
    const secrets = writeFiles({ key: masterKey, secret: masterSecret });
    const files = writeFiles({ "config.yaml": `port: 7000\nred5MasterKeyFile: ${secrets.key}\nred5MasterSecretFile: ${secrets.secret}\n` });

    const config = loadConfig({ CONFIG_FILE: files["config.yaml"], PORT: "", RED5_MASTER_KEY_FILE: " ", RED5_MASTER_SECRET_FILE: "" });

    expect(config.port).toBe(7000);
    expect(config.credentials).toEqual({ kind: "configured", masterKey, masterSecret, masterKeyFile: secrets.key, masterSecretFile: secrets.secret });
  });

  it("names a configuration file that cannot be read", () => {
    const error = configError(() => loadConfig({ CONFIG_FILE: "/nonexistent/red5/config.yaml" }));

    expect(error.message).toBe("CONFIG_FILE names a file that cannot be read (ENOENT): /nonexistent/red5/config.yaml");
  });

  it("rejects a secret set twice", () => {
    const files = writeFiles({ key: masterKey });

    const error = configError(() => loadConfig({ RED5_MASTER_KEY: masterKey, RED5_MASTER_KEY_FILE: files.key, RED5_MASTER_SECRET: masterSecret }));

    expect(error.message).toBe("RED5_MASTER_KEY_FILE and RED5_MASTER_KEY are both set. Set one of them.");
  });

  it("rejects an empty secret file", () => {
    const files = writeFiles({ key: "\n", secret: masterSecret });

    const error = configError(() => loadConfig({ RED5_MASTER_KEY_FILE: files.key, RED5_MASTER_SECRET_FILE: files.secret }));

    expect(error.setting).toBe("RED5_MASTER_KEY_FILE");
    expect(error.message).toBe(`RED5_MASTER_KEY_FILE names an empty file: ${files.key}. Put the value from the Red5 Cloud console in it.`);
  });

  it("names an unreadable secret file by its path only", () => {
    const files = writeFiles({ secret: masterSecret });

    const error = configError(() => loadConfig({ RED5_MASTER_KEY_FILE: "/nonexistent/key", RED5_MASTER_SECRET_FILE: files.secret }));

    expect(error.message).toBe("RED5_MASTER_KEY_FILE names a file that cannot be read (ENOENT): /nonexistent/key");
  });

  it("requires the second secret when the first comes from a file", () => {
    const files = writeFiles({ key: masterKey });

    const error = configError(() => loadConfig({ RED5_MASTER_KEY_FILE: files.key }));

    expect(error.message).toBe("RED5_MASTER_SECRET is not set but RED5_MASTER_KEY is. Set both, or neither for local development mode.");
  });
});
