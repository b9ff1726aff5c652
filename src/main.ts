import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { ConfigError, loadConfig, type Config } from "./config.js";
import {
  decodeMasterCredentials,
  generateMasterCredentials,
  MasterCredentialsError,
  type MasterCredentials,
} from "./credentials/master-credentials.js";
import { startPubNubEmulator } from "./emulator/pubnub-emulator.js";
import { createAuditLog } from "./auth/audit.js";
import { parseCallers, type CallerRegistry } from "./auth/callers.js";
import { createLogger, type Logger } from "./server/logger.js";
import { startAdminServer } from "./server/admin.js";
import { startTokenServer } from "./server/token-server.js";

/** Exit status for a configuration that cannot work. */
const EXIT_CONFIG = 2;

/** Time calls in flight get to finish after SIGTERM or SIGINT, in milliseconds. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Token source: real PubNub, or the in-process emulator in development mode. */
interface Upstream {
  readonly credentials: MasterCredentials;
  readonly origin: string;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  const upstream = await startUpstream(config);
  const server = await startTokenServer({
    host: config.host,
    port: config.port,
    tls: readTls(config),
    credentials: upstream.credentials,
    pubnubOrigin: upstream.origin,
    pubnubServerUuid: config.pubnubServerUuid,
    pubnubMaxAttempts: config.pubnubMaxAttempts,
    pubnubAttemptTimeoutMs: config.pubnubAttemptTimeoutMs,
    pubnubConnections: config.pubnubConnections,
    pubnubBreakerFailures: config.pubnubBreakerFailures,
    pubnubBreakerOpenMs: config.pubnubBreakerOpenMs,
    tokenMaxMinutes: config.tokenMaxMinutes,
    callBudgetMs: config.callBudgetMs,
    maxRequestBytes: config.maxRequestBytes,
    http2MaxConcurrentStreams: config.http2MaxConcurrentStreams,
    logger,
    callers: readCallers(config),
    auditLog: createAuditLog(),
  });

  const admin = await startAdminServer({ host: config.adminHost, port: config.adminPort, registry: server.metrics.registry, health: server.health });
  if (config.credentials.kind === "development") {
    process.stderr.write(developmentBanner(server.url, config));
  }
  logger.info({ url: server.url, adminUrl: admin.url, mode: config.credentials.kind, tls: config.tls !== undefined }, "server started");
  stopOnSignals(logger, async () => {
    await server.close(SHUTDOWN_GRACE_MS);
    await admin.close();
    await upstream.close();
  });
}

async function startUpstream(config: Config): Promise<Upstream> {
  if (config.credentials.kind === "configured") {
    const credentials = decodeMasterCredentials(config.credentials.masterKey, config.credentials.masterSecret);
    return { credentials, origin: config.pubnubOrigin, close: async () => undefined };
  }

  const { credentials } = generateMasterCredentials();
  const emulator = await startPubNubEmulator({
    subscribeKey: credentials.pubnubSubscribeKey,
    publishKey: credentials.pubnubPublishKey,
    secretKey: credentials.pubnubSecretKey,
  });
  return { credentials, origin: emulator.origin, close: () => emulator.close() };
}

function readTls(config: Config): { cert: Buffer; key: Buffer; clientCa: Buffer | undefined } | undefined {
  if (config.tls === undefined) {
    return undefined;
  }
  const cert = readSettingFile("TLS_CERT_FILE", config.tls.certFile);
  const key = readSettingFile("TLS_KEY_FILE", config.tls.keyFile);
  const clientCa = config.tls.clientCaFile === undefined ? undefined : readSettingFile("TLS_CLIENT_CA_FILE", config.tls.clientCaFile);
  try {
    createSecureContext({ cert, key, ca: clientCa });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "invalid";
    throw new ConfigError(
      "TLS_CERT_FILE",
      `and TLS_KEY_FILE are not a PEM certificate chain and its matching private key, or TLS_CLIENT_CA_FILE is not PEM (${code}). Check the files.`,
    );
  }
  return { cert, key, clientCa };
}

/** Reads and checks the callers file, if one is configured. */
function readCallers(config: Config): CallerRegistry | undefined {
  if (config.callersFile === undefined) {
    return undefined;
  }
  const text = readSettingFile("CALLERS_FILE", config.callersFile).toString("utf8").replace(/^\uFEFF/, "");
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

function readSettingFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "read error";
    throw new ConfigError(setting, `names a file that cannot be read (${code}): ${path}`);
  }
}

function developmentBanner(url: string, config: Config): string {
  const http2Flag = config.tls ? "" : " --http2-prior-knowledge";
  return [
    "",
    "WARNING: development mode. RED5_MASTER_KEY and RED5_MASTER_SECRET are not set, so this server",
    "uses credentials generated at start-up and a PubNub emulator on loopback. Its tokens work with",
    "nothing but this process. Set both variables to issue real tokens.",
    "",
    "Try it:",
    `  npx buf curl${http2Flag} --protocol grpc \\`,
    `    --data '{"userId":"user-1","roomId":"room-1","role":"ROLE_PUBLISHER","expirationMinutes":60}' \\`,
    `    ${url}/red5.token.v1.TokenService/IssueConferenceToken`,
    `  npx buf curl --protocol connect \\`,
    `    --data '{"userId":"user-1","channelId":"room-1","read":true,"write":true}' \\`,
    `    ${url}/red5.token.v1.TokenService/IssueChatToken`,
    "",
    "",
  ].join("\n");
}

function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    stop().then(
      () => {
        logger.info("server stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof MasterCredentialsError) {
    process.stderr.write(`red5-token-service: invalid configuration: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
    process.stderr.write(`red5-token-service: cannot listen (${code}); set PORT and ADMIN_PORT to free ports, and HOST and ADMIN_HOST to local addresses\n`);
    process.exit(EXIT_CONFIG);
  }
  process.stderr.write(`red5-token-service: failed to start: ${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
