import cluster from "node:cluster";
import { setTimeout as sleep } from "node:timers/promises";
import { Counter } from "prom-client";
import { checkCallerAuthentication, ConfigError, loadConfig, type Config } from "./config.js";
import { decodeCredentials, readCallers, readTls } from "./config-inputs.js";
import {
  generateMasterCredentials,
  MasterCredentialsError,
  type MasterCredentials,
} from "./credentials/master-credentials.js";
import { startPubNubEmulator } from "./emulator/pubnub-emulator.js";
import { createAuditLog } from "./auth/audit.js";
import { createReloadQueue, fingerprintFiles, settingsNeedingRestart, watchFiles, type FileWatcher } from "./reload.js";
import { createLogger, exitAfterLogs, type Logger } from "./server/logger.js";
import { serveWorkerMetrics } from "./cluster-metrics.js";
import { announceWorkerReady, startPrimary, WorkerStartError } from "./cluster.js";
import { startAdminServer, type AdminServer } from "./server/admin.js";
import { startTokenServer, type TokenServer } from "./server/token-server.js";

/** Exit status for a configuration that cannot work. */
const EXIT_CONFIG = 2;

/** Token source: real PubNub, or the in-process emulator in development mode. */
interface Upstream {
  readonly credentials: MasterCredentials;
  readonly origin: string;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const startup = holdSignals();
  const config = loadConfig(process.env);
  const fingerprint = fingerprintFiles(config.watchedFiles);
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) {
    const primary = await startPrimary(config, logger);
    logger.info({ url: primary.url, adminUrl: primary.admin.url, mode: config.credentials.kind, tls: config.tls !== undefined, workers: config.workers }, "server started");
  } else {
    await serve(config, fingerprint, cluster.isWorker ? logger.child({ worker: cluster.worker?.id }) : logger);
  }
  startup.release();
  if (cluster.isWorker) {
    announceWorkerReady();
  }
}

/**
 * Holds SIGTERM, SIGINT and SIGHUP while the service starts, when Node.js would otherwise end the
 * process at once. release() stops holding them and sends a held SIGTERM or SIGINT again to the
 * handlers installed by then. A held SIGHUP is dropped because start-up has just read the files.
 *
 * NOTE: a signal that arrives while the modules load, before main() runs (a few hundred ms),
 * still ends the process by Node.js's default action.
 */
function holdSignals(): { release(): void } {
  let held: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => {
    if (signal !== "SIGHUP") {
      held = signal;
    }
  };
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];
  signals.forEach((signal) => process.on(signal, hold));
  return {
    release: () => {
      signals.forEach((signal) => process.off(signal, hold));
      if (held !== undefined) {
        process.kill(process.pid, held);
      }
    },
  };
}

/** Runs one token server in this process: alone, or as one worker of several. */
async function serve(config: Config, fingerprint: string, logger: Logger): Promise<void> {
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
    maxConnectionAgeMs: config.maxConnectionAgeMs,
    logger,
    callers: readCallers(config),
    auditLog: createAuditLog(),
  });

  let admin: AdminServer | undefined;
  if (cluster.isWorker) {
    serveWorkerMetrics(server.metrics.registry);
    // A worker whose primary is gone would serve on, unseen by metrics and signals.
    cluster.worker?.on("disconnect", () => process.exit(1));
    logger.info({ url: server.url, pid: process.pid }, "worker started");
  } else {
    admin = await startAdminServer({ host: config.adminHost, port: config.adminPort, registry: server.metrics.registry, health: server.health });
    if (config.credentials.kind === "development") {
      process.stderr.write(developmentBanner(server.url, config));
    }
    logger.info({ url: server.url, adminUrl: admin.url, mode: config.credentials.kind, tls: config.tls !== undefined }, "server started");
  }

  const reloader = startReloading({ config, fingerprint, upstream, server, logger });
  stopOnSignals(logger, async () => {
    reloader.stop();
    // Readiness turns NOT_SERVING at once; the listener keeps accepting for the delay, so that
    // load balancers stop routing here before connections are refused.
    server.health.shutdown();
    await sleep(config.shutdownDelayMs);
    const ended = await server.close(config.shutdownDrainMs);
    if (ended > 0) {
      logger.warn({ connections: ended, drainMs: config.shutdownDrainMs }, "drain deadline reached; closed connections with calls still open");
    }
    await admin?.close();
    await upstream.close();
  });
}

async function startUpstream(config: Config): Promise<Upstream> {
  if (config.credentials.kind === "configured") {
    const credentials = decodeCredentials(config.credentials);
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

interface ReloadContext {
  readonly config: Config;
  /** Fingerprint of the files config was read from, taken right after reading them. */
  readonly fingerprint: string;
  readonly upstream: Upstream;
  readonly server: TokenServer;
  readonly logger: Logger;
}

/**
 * Reloads the configuration on SIGHUP and when a file it was read from changes: credentials,
 * callers, TLS files and the log level switch at once for new calls. A configuration that fails
 * its checks is rejected with a log record, and the one in force stays.
 */
function startReloading(context: ReloadContext): FileWatcher {
  let config = context.config;
  const reloads = new Counter({
    name: "token_service_config_reloads_total",
    help: "Configuration reloads by outcome: applied, or rejected because the new configuration is invalid.",
    labelNames: ["outcome"],
    registers: [context.server.metrics.registry],
  });
  const reload = createReloadQueue(async (reason) => {
    try {
      config = await applyReload(context, config, reason);
      reloads.inc({ outcome: "applied" });
    } catch (error) {
      reloads.inc({ outcome: "rejected" });
      logRejectedReload(context.logger, reason, error);
    }
    watcher.reschedule();
  });

  const watcher = watchFiles({
    initial: context.fingerprint,
    files: () => config.watchedFiles,
    intervalMs: () => config.configWatchIntervalMs,
    onChange: () => void reload("file change"),
  });
  const onHangup = () => void reload("SIGHUP");
  process.on("SIGHUP", onHangup);
  return {
    reschedule: () => watcher.reschedule(),
    stop: () => {
      process.off("SIGHUP", onHangup);
      // A SIGHUP during shutdown must not end the process, which is Node's default without a handler.
      process.on("SIGHUP", () => undefined);
      watcher.stop();
    },
  };
}

/**
 * Reads and checks the whole configuration again, then switches the server to it. Settings only a
 * restart applies are compared with the configuration the process started with.
 */
async function applyReload(context: ReloadContext, current: Config, reason: string): Promise<Config> {
  const next = loadConfig(process.env);
  checkCallerAuthentication(next.credentials, context.config.host, next.callersFile, next.allowUnauthenticatedCallers);
  if (next.credentials.kind !== current.credentials.kind) {
    throw new ConfigError(
      "RED5_MASTER_KEY",
      "and RED5_MASTER_SECRET switch between development mode and configured credentials, which needs a restart.",
    );
  }
  const credentials =
    next.credentials.kind === "configured" ? decodeCredentials(next.credentials) : context.upstream.credentials;
  const restartNeeded = settingsNeedingRestart(context.config, next);
  const callers = readCallers(next);
  const tls = restartNeeded.includes("TLS_CERT_FILE") ? undefined : readTls(next);

  await context.server.reload({ credentials, callers, tls });
  context.logger.level = next.logLevel;
  context.logger.info(
    {
      reason,
      credentialsChanged: JSON.stringify(current.credentials) !== JSON.stringify(next.credentials),
      callers: callers?.callers.size ?? 0,
      restartNeeded,
    },
    restartNeeded.length === 0 ? "configuration reloaded" : "configuration reloaded; the settings in restartNeeded take effect after a restart",
  );
  return next;
}

function logRejectedReload(logger: Logger, reason: string, error: unknown): void {
  if (error instanceof ConfigError || error instanceof MasterCredentialsError) {
    // Both messages name the setting and never a secret.
    logger.error({ reason, problem: error.message }, "configuration reload rejected; the previous configuration stays in force");
    return;
  }
  logger.error({ reason, err: error }, "configuration reload failed; the previous configuration stays in force");
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
        exitAfterLogs(logger, 0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        exitAfterLogs(logger, 1);
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
  if (error instanceof WorkerStartError) {
    // The worker has written its own message; a configuration error there is one here too.
    process.exit(error.exitCode === EXIT_CONFIG ? EXIT_CONFIG : 1);
  }
  const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
    const where = address === undefined ? "" : ` on ${address}${port === undefined ? "" : `:${port}`}`;
    process.stderr.write(`red5-token-service: cannot listen${where} (${code}); set PORT and ADMIN_PORT to free ports, and HOST and ADMIN_HOST to local addresses\n`);
    process.exit(EXIT_CONFIG);
  }
  process.stderr.write(`red5-token-service: failed to start: ${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
