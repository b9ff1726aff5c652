import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("applies every default in development mode", () => {
    expect(loadConfig({})).toEqual({
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
      adminHost: "127.0.0.1",
      adminPort: 9090,
      logLevel: "info",
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
      LOG_LEVEL: "warn",
      ADMIN_HOST: "0.0.0.0",
      ADMIN_PORT: "9191",
    });

    expect(config).toEqual({
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
      adminHost: "0.0.0.0",
      adminPort: 9191,
      logLevel: "warn",
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
