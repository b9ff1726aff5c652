import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Config } from "./config.js";
import { startAdminServer, type AdminServer } from "./server/admin.js";
import { HealthStatus, ServingStatus } from "./server/health.js";
import type { Logger } from "./server/logger.js";

/** Time before a worker that exited unexpectedly is replaced, so that a crash loop does not spin. */
const RESTART_DELAY_MS = 1000;

/** A primary process and its workers. */
export interface Primary {
  readonly url: string;
  readonly admin: AdminServer;
}

/**
 * Starts the primary process of worker-per-core mode. It forks config.workers workers, each a whole
 * token server on the shared port, and hands out connections to them round-robin. It serves the
 * admin port with metrics summed over the workers and forwards SIGHUP to them. On SIGTERM or
 * SIGINT it stops them and exits once every worker has drained.
 */
export async function startPrimary(config: Config, logger: Logger): Promise<Primary> {
  const health = new HealthStatus();
  health.set("", ServingStatus.NOT_SERVING);
  let stopping = false;

  const port = await forkWorkers(config.workers, logger);
  health.set("", ServingStatus.SERVING);
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      return;
    }
    logger.error({ worker: worker.id, code, signal }, "worker exited unexpectedly; starting a replacement");
    setTimeout(() => cluster.fork(), RESTART_DELAY_MS);
  });

  const aggregator = new AggregatorRegistry();
  const admin = await startAdminServer({
    host: config.adminHost,
    port: config.adminPort,
    registry: { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() },
    health,
  });
  process.on("SIGHUP", () => eachWorker((worker) => worker.process.kill("SIGHUP")));
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    health.shutdown();
    void stopWorkers().then(async (clean) => {
      await admin.close();
      logger.info({ clean }, "server stopped");
      process.exit(clean ? 0 : 1);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  const scheme = config.tls ? "https" : "http";
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return { url: `${scheme}://${host}:${port}`, admin };
}

/** Marks this process as a worker whose metrics the primary collects. */
export function serveWorkerMetrics(registry: Registry): void {
  // Constructing an aggregator in a worker registers the handler for the primary's metric requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

/** Forks the workers and resolves with the port they listen on, once every one of them does. */
async function forkWorkers(count: number, logger: Logger): Promise<number> {
  const listening = Array.from({ length: count }, () => {
    const worker = cluster.fork();
    return new Promise<number>((resolve, reject) => {
      worker.once("listening", (address) => resolve(address.port));
      worker.once("exit", (code) => reject(new Error(`worker ${worker.id} exited with ${code} before listening`)));
    });
  });
  const ports = await Promise.all(listening);
  logger.debug({ workers: count }, "workers listening");
  return ports[0] ?? 0;
}

/** Sends SIGTERM to every worker and resolves once all have exited, with whether each exited 0. */
async function stopWorkers(): Promise<boolean> {
  const exits = Object.values(cluster.workers ?? {}).map((worker) => {
    if (worker === undefined || worker.isDead()) {
      return Promise.resolve(true);
    }
    const exited = new Promise<boolean>((resolve) => worker.once("exit", (code) => resolve(code === 0)));
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
