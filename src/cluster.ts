import cluster, { type Worker } from "node:cluster";
import net from "node:net";
import { ClusterMetrics } from "./cluster-metrics.js";
import type { Config } from "./config.js";
import { startAdminServer, type AdminServer } from "./server/admin.js";
import { HealthStatus, ServingStatus } from "./server/health.js";
import { exitAfterLogs, type Logger } from "./server/logger.js";

/** First wait before a worker that exited unexpectedly is replaced; it doubles while workers keep failing to start. */
const RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 30_000;

/** Message a worker sends the primary once it has started and handles signals. */
const WORKER_READY = "red5-token-service:worker-ready";

/** A worker that exited before it listened, while the primary was starting. */
export class WorkerStartError extends Error {
  override readonly name = "WorkerStartError";

  constructor(readonly exitCode: number | null) {
    super(`a worker exited with ${exitCode} before listening; its error is above`);
  }
}

/** A primary process and its workers. */
export interface Primary {
  readonly url: string;
  readonly admin: AdminServer;
}

/**
 * Starts the primary process of worker-per-core mode. It forks config.workers workers, each a whole
 * token server on the shared port, and hands out connections to them round-robin. It serves the
 * admin port with metrics summed over the workers and forwards SIGHUP to them. On SIGTERM or
 * SIGINT it stops them and exits once every worker has drained. Readiness reports NOT_SERVING
 * while no worker listens.
 *
 * Metrics requests and SIGHUP go only to workers that have reported ready, because a worker
 * still starting has no handler for either, and Node.js ends a process on a SIGHUP it does not
 * handle. A SIGHUP that arrives while a worker starts reaches it once it is ready.
 */
export async function startPrimary(config: Config, logger: Logger): Promise<Primary> {
  const health = new HealthStatus();
  health.set("", ServingStatus.NOT_SERVING);
  const ready = new Set<number>();
  const reloadWhenReady = new Set<number>();
  cluster.on("message", (worker, message: unknown) => {
    if ((message as { type?: unknown } | null)?.type !== WORKER_READY) {
      return;
    }
    ready.add(worker.id);
    if (reloadWhenReady.delete(worker.id)) {
      worker.process.kill("SIGHUP");
    }
  });
  cluster.on("fork", (worker) => {
    // A failed IPC send or kill is reported as an "error" event, which must not end the primary.
    worker.on("error", (error: Error) => logger.warn({ worker: worker.id, err: error }, "worker channel error"));
  });
  const metrics = new ClusterMetrics(logger, (worker) => ready.has(worker.id));
  const env = await workerEnv(config);

  const listening = new Set<number>();
  let starting = true;
  let stopping = false;
  let restartDelayMs = RESTART_DELAY_MS;
  cluster.on("listening", (worker) => {
    listening.add(worker.id);
    restartDelayMs = RESTART_DELAY_MS;
    if (!stopping && !starting) {
      health.set("", ServingStatus.SERVING);
    }
  });
  cluster.on("exit", (worker, code, signal) => {
    const listened = listening.delete(worker.id);
    ready.delete(worker.id);
    reloadWhenReady.delete(worker.id);
    // During start-up, a worker that exits before it listens fails the start (forkWorkers).
    if (stopping || (starting && !listened)) {
      return;
    }
    if (listening.size === 0) {
      health.set("", ServingStatus.NOT_SERVING);
    }
    logger.error({ worker: worker.id, code, signal, restartInMs: restartDelayMs }, "worker exited unexpectedly; starting a replacement");
    const delay = restartDelayMs;
    // A worker that never listened, such as one that reads a broken file, is retried ever more slowly.
    restartDelayMs = listened ? RESTART_DELAY_MS : Math.min(restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    setTimeout(() => {
      if (!stopping) {
        cluster.fork(env);
      }
    }, delay);
  });

  let port: number;
  try {
    port = await forkWorkers(config.workers, logger, env);
  } catch (error) {
    stopping = true;
    throw error;
  }
  starting = false;
  health.set("", listening.size > 0 ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);

  const admin = await startAdminServer({ host: config.adminHost, port: config.adminPort, registry: metrics, health });
  process.on("SIGHUP", () =>
    eachWorker((worker) => {
      if (ready.has(worker.id)) {
        worker.process.kill("SIGHUP");
      } else {
        reloadWhenReady.add(worker.id);
      }
    }),
  );
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    health.shutdown();
    void stopWorkers(listening).then(async (clean) => {
      await admin.close();
      logger.info({ clean }, "server stopped");
      exitAfterLogs(logger, clean ? 0 : 1);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  const scheme = config.tls ? "https" : "http";
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return { url: `${scheme}://${host}:${port}`, admin };
}

/**
 * Settings every worker is forked with. With PORT 0 the primary picks the port once, so that
 * every worker, replacements included, shares one port even after all workers have exited.
 * Workers asking for port 0 would share a port only while one of them listens.
 */
async function workerEnv(config: Config): Promise<NodeJS.ProcessEnv | undefined> {
  if (config.port !== 0) {
    return undefined;
  }
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen({ host: config.host, port: 0 }, resolve);
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return { PORT: String(port) };
}

/** Tells the primary that this worker has started and handles signals. */
export function announceWorkerReady(): void {
  process.send?.({ type: WORKER_READY });
}

/**
 * Forks the workers and resolves with the port they listen on, once every one of them does. When
 * one exits first, ends the others and rejects with WorkerStartError.
 */
async function forkWorkers(count: number, logger: Logger, env: NodeJS.ProcessEnv | undefined): Promise<number> {
  const listening = Array.from({ length: count }, () => {
    const worker = cluster.fork(env);
    return new Promise<number>((resolve, reject) => {
      worker.once("listening", (address) => resolve(address.port));
      worker.once("exit", (code) => reject(new WorkerStartError(code)));
    });
  });
  try {
    const ports = await Promise.all(listening);
    logger.debug({ workers: count }, "workers listening");
    return ports[0] ?? 0;
  } catch (error) {
    // The other workers are still starting; they would write to a closed channel once this process exits.
    await Promise.all(
      Object.values(cluster.workers ?? {}).map((worker) => {
        if (worker === undefined || worker.isDead()) {
          return undefined;
        }
        const exited = new Promise((resolve) => worker.once("exit", resolve));
        worker.process.kill("SIGKILL");
        return exited;
      }),
    );
    throw error;
  }
}

/**
 * Sends SIGTERM to every worker and resolves once all have exited, with whether each stopped
 * cleanly. A worker stops cleanly when it exits 0. A worker not listening yet may also be ended
 * by the signal itself, because it has no handlers while it loads, and it has served no call.
 */
async function stopWorkers(listening: ReadonlySet<number>): Promise<boolean> {
  const exits = Object.values(cluster.workers ?? {}).map((worker) => {
    if (worker === undefined || worker.isDead()) {
      return Promise.resolve(true);
    }
    const serving = listening.has(worker.id);
    const exited = new Promise<boolean>((resolve) => worker.once("exit", (code, signal) => resolve(code === 0 || (!serving && signal === "SIGTERM"))));
    worker.process.kill("SIGTERM");
    return exited;
  });
  const results = await Promise.all(exits);
  return results.every(Boolean);
}

function eachWorker(action: (worker: Worker) => void): void {
  for (const worker of Object.values(cluster.workers ?? {})) {
    if (worker !== undefined && !worker.isDead()) {
      action(worker);
    }
  }
}
