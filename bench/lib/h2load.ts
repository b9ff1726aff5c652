/**
 * Runs h2load, nghttp2's HTTP/2 load generator, and reads its summary and per-request log.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { exited, LOAD_CORE, spawnPinned, type Cores } from "./children.js";

/** One h2load run. */
export interface H2loadOptions {
  readonly url: string;
  /** File whose bytes are the body of every request (h2load -d). */
  readonly bodyFile: string;
  /** Request headers, each as "name: value". */
  readonly headers: readonly string[];
  /** Requests in total (h2load -n). */
  readonly calls: number;
  /** HTTP/2 connections (h2load -c). */
  readonly connections: number;
  /** Streams in flight per connection (h2load -m). */
  readonly streamsPerConnection: number;
  /** Per-request log to write (h2load --log-file); without it, no latencies are read. */
  readonly logFile?: string;
  /** Cores h2load runs on. Default: the load generator's core. */
  readonly cores?: Cores;
}

/** Results of an h2load run. */
export interface H2loadResult {
  /** Requests that completed with any response. */
  readonly done: number;
  /** Requests with a 2xx response. h2load counts gRPC errors here too, because they arrive as HTTP 200. */
  readonly succeeded: number;
  /** Requests that failed: non-2xx status, stream or connection error, or timeout. */
  readonly failed: number;
  /** Wall time from the first connection to the last response, in seconds. */
  readonly seconds: number;
  /** Latency of every 2xx request in microseconds, sorted; empty without a log file. */
  readonly latenciesUs: Float64Array;
}

/** Returns h2load's version line, such as "h2load nghttp2/1.52.0". */
export function h2loadVersion(): string {
  const result = spawnSync("h2load", ["--version"], { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error("h2load is not installed; run bench/install-h2load.sh (it needs root).");
  }
  return result.stdout.trim();
}

/** Runs h2load with one thread, on the load generator's core unless options.cores names others, and returns its results. */
export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  const args = [
    "--threads=1",
    `--requests=${options.calls}`,
    `--clients=${options.connections}`,
    `--max-concurrent-streams=${options.streamsPerConnection}`,
    `--data=${options.bodyFile}`,
    ...options.headers.map((header) => `--header=${header}`),
    ...(options.logFile === undefined ? [] : [`--log-file=${options.logFile}`]),
    options.url,
  ];
  const child = spawnPinned(options.cores ?? LOAD_CORE, "h2load", args);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  const code = await exited(child);
  if (code !== 0) {
    throw new Error(`h2load exited with code ${code}:\n${output}`);
  }
  const summary = parseSummary(output);
  const latenciesUs = options.logFile === undefined ? new Float64Array(0) : readLatencies(options.logFile);
  return { ...summary, latenciesUs };
}

function parseSummary(output: string): Omit<H2loadResult, "latenciesUs"> {
  // "finished in 5.21s, 9597.70 req/s, 1.10MB/s" (or ms when short)
  const finished = /finished in ([\d.]+)(m?s),/.exec(output);
  // "requests: 50000 total, 50000 started, 50000 done, 50000 succeeded, 0 failed, 0 errored, 0 timeout"
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(output);
  if (finished === null || requests === null) {
    throw new Error(`h2load printed no summary:\n${output}`);
  }
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  const total = Number(requests[1]);
  const succeeded = Number(requests[4]);
  return { done: Number(requests[3]), succeeded, failed: total - succeeded, seconds };
}

/** Reads h2load's log: one line per request, "start µs since epoch, HTTP status, µs until the response ended". */
function readLatencies(logFile: string): Float64Array {
  const values: number[] = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const [, status, elapsed] = line.split("\t");
    if (status !== undefined && status.startsWith("2") && elapsed !== undefined) {
      values.push(Number(elapsed));
    }
  }
  return Float64Array.from(values).sort();
}

/** Returns the value below which the given share (0 to 1) of sorted values fall: nearest rank. */
export function percentile(sorted: Float64Array, share: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const rank = Math.ceil(share * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}
