import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, Registry } from "prom-client";
import type { Logger } from "./server/logger.js";

const METRICS_REQUEST = "red5-token-service:metrics-request";
const METRICS_RESPONSE = "red5-token-service:metrics-response";

/** Time a worker has to respond to a metrics request before the scrape fails. */
const WORKER_RESPONSE_TIMEOUT_MS = 5000;

/** One value of a metric, as Registry.getMetricsAsJSON() gives it. */
interface MetricValue {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
  /** Name of a histogram's series: _bucket, _sum or _count. */
  readonly metricName?: string;
}

/** One metric with its values, as Registry.getMetricsAsJSON() gives it. */
interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  readonly values: readonly MetricValue[];
}

interface MetricsRequest {
  readonly type: typeof METRICS_REQUEST;
  readonly id: number;
}

interface MetricsResponse {
  readonly type: typeof METRICS_RESPONSE;
  readonly id: number;
  readonly metrics?: readonly MetricSnapshot[];
  readonly error?: string;
}

/** Responds to the primary's metrics requests with this worker's registry. */
export function serveWorkerMetrics(registry: Registry): void {
  process.on("message", (message: unknown) => {
    if (!isMessage<MetricsRequest>(message, METRICS_REQUEST)) {
      return;
    }
    registry.getMetricsAsJSON().then(
      // prom-client types `type` as a numeric enum, but the values are strings such as "counter".
      (metrics) => process.send?.({ type: METRICS_RESPONSE, id: message.id, metrics: metrics as unknown as MetricSnapshot[] } satisfies MetricsResponse),
      (error: unknown) => process.send?.({ type: METRICS_RESPONSE, id: message.id, error: String(error) } satisfies MetricsResponse),
    );
  });
}

/** A metrics request sent to one worker, still without a response. */
interface PendingRequest {
  readonly workerId: number;
  readonly settle: (metrics: readonly MetricSnapshot[] | undefined, error?: Error) => void;
}

/**
 * The primary's view of its workers' metrics: each scrape requests the registry of every ready
 * worker and sums the responses, as prom-client's AggregatorRegistry does. Counters and
 * histograms also keep the counts of workers that have exited, as last reported, so that
 * replacing a worker never makes a sum go down, which Prometheus would read as a reset of the
 * whole series. Counts a worker made after its last report are lost with it. Gauges count live
 * workers only.
 */
export class ClusterMetrics {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly lastReported = new Map<number, readonly MetricSnapshot[]>();
  private readonly retired = new RetiredCounts();
  private readonly pending = new Map<number, PendingRequest>();
  private nextRequestId = 0;

  /** isReady selects the workers that handle metrics requests. A scrape leaves out the others. */
  constructor(
    private readonly logger: Logger,
    private readonly isReady: (worker: Worker) => boolean,
  ) {
    cluster.on("message", (worker, message: unknown) => {
      if (isMessage<MetricsResponse>(message, METRICS_RESPONSE)) {
        const request = this.pending.get(message.id);
        if (request?.workerId === worker.id) {
          request.settle(message.metrics, message.error === undefined ? undefined : new Error(`worker ${worker.id} failed to read its metrics: ${message.error}`));
        }
      }
    });
    cluster.on("exit", (worker) => {
      this.retire(worker.id);
      for (const request of this.pending.values()) {
        if (request.workerId === worker.id) {
          request.settle(undefined);
        }
      }
    });
  }

  /** Renders the summed metrics in the Prometheus text format. */
  async metrics(): Promise<string> {
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead() && this.isReady(worker));
    const responses = await Promise.all(workers.map(async (worker) => [worker, await this.request(worker)] as const));
    const live: (readonly MetricSnapshot[])[] = [];
    for (const [worker, metrics] of responses) {
      if (worker.isDead()) {
        // Exited while the scrape waited: its last report goes to the retired counts, once.
        this.retire(worker.id);
        continue;
      }
      if (metrics !== undefined) {
        this.lastReported.set(worker.id, metrics);
      }
      // A worker whose channel has closed before its exit sends no response. Its last report
      // is counted instead, or the sum would dip until the exit retires it.
      const counted = this.lastReported.get(worker.id);
      if (counted !== undefined) {
        live.push(counted);
      }
    }
    return AggregatorRegistry.aggregate([...live, this.retired.snapshot()]).metrics();
  }

  /** Moves an exited worker's last report into the retired counts, if it is not there yet. */
  private retire(workerId: number): void {
    const last = this.lastReported.get(workerId);
    if (last !== undefined) {
      this.retired.add(last);
      this.lastReported.delete(workerId);
    }
  }

  /** Requests one worker's metrics. Resolves with undefined when the worker exits first. */
  private request(worker: Worker): Promise<readonly MetricSnapshot[] | undefined> {
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(undefined, new Error(`metrics request timed out: worker ${worker.id} sent no response within ${WORKER_RESPONSE_TIMEOUT_MS} ms`));
      }, WORKER_RESPONSE_TIMEOUT_MS);
      const settle = (metrics: readonly MetricSnapshot[] | undefined, error?: Error) => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (error === undefined) {
          resolve(metrics);
        } else {
          this.logger.warn({ worker: worker.id, err: error }, "metrics scrape failed");
          reject(error);
        }
      };
      this.pending.set(id, { workerId: worker.id, settle });
      worker.send({ type: METRICS_REQUEST, id } satisfies MetricsRequest, undefined, (error: Error | null) => {
        // A closed channel means the worker is exiting, and its exit keeps its last report.
        if (error !== null) {
          settle(undefined);
        }
      });
    });
  }
}

/** The counter and histogram values of exited workers, summed by series and labels. */
class RetiredCounts {
  private readonly metrics = new Map<string, { readonly metric: MetricSnapshot; readonly values: Map<string, MetricValue> }>();

  add(snapshot: readonly MetricSnapshot[]): void {
    for (const metric of snapshot) {
      if ((metric.type !== "counter" && metric.type !== "histogram") || metric.aggregator !== "sum") {
        continue;
      }
      let entry = this.metrics.get(metric.name);
      if (entry === undefined) {
        entry = { metric, values: new Map() };
        this.metrics.set(metric.name, entry);
      }
      for (const value of metric.values) {
        const key = seriesKey(value);
        const sum = entry.values.get(key);
        entry.values.set(key, { ...value, value: (sum?.value ?? 0) + value.value });
      }
    }
  }

  snapshot(): MetricSnapshot[] {
    return [...this.metrics.values()].map(({ metric, values }) => ({ ...metric, values: [...values.values()] }));
  }
}

/** Identifies a series within a metric: its name and its labels in name order. */
function seriesKey(value: MetricValue): string {
  const labels = Object.keys(value.labels)
    .sort()
    .map((name) => [name, value.labels[name]]);
  return JSON.stringify([value.metricName ?? "", labels]);
}

function isMessage<T extends { readonly type: string }>(message: unknown, type: T["type"]): message is T {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === type && typeof (message as { id?: unknown }).id === "number";
}
