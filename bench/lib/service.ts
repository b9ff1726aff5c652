/**
 * The token service under test: the compiled dist/src/main.js in a process of its own, pinned to
 * the measured core.
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_MASTER_KEY, BENCH_MASTER_SECRET } from "../credentials.js";
import { freePort, MEASURED_CORE, spawnPinned, stopChild, type Cores } from "./children.js";

/** The compiled entry point; `npm run build` writes it. */
export const SERVICE_ENTRY = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url));

/** Time the service gets to report ready on /readyz, in milliseconds. */
const READY_TIMEOUT_MS = 30_000;

/** A running service process. */
export class ServiceProcess {
  private constructor(
    private readonly child: ChildProcess,
    /** Base URL of the gRPC, gRPC-Web and Connect port, such as http://127.0.0.1:41234. */
    readonly url: string,
    /** Base URL of the admin port. */
    readonly adminUrl: string,
    private readonly stderrFile: string,
  ) {}

  /**
   * Starts the service with the benchmark's credentials, PUBNUB_ORIGIN set to the emulator, free
   * ports, and the given environment on top, and resolves once /readyz returns 200. Its standard
   * output (call log and audit records) goes to /dev/null and its standard error to a file in
   * logDirectory. It runs on the measured core unless cores names others.
   */
  static async start(pubnubOrigin: string, env: Readonly<Record<string, string>>, logDirectory: string, cores: Cores = MEASURED_CORE): Promise<ServiceProcess> {
    if (!existsSync(SERVICE_ENTRY)) {
      throw new Error(`${SERVICE_ENTRY} not found; run npm run build first.`);
    }
    const port = await freePort();
    const adminPort = await freePort();
    const stderrFile = join(logDirectory, `service-${port}.stderr.log`);
    const stderr = openSync(stderrFile, "w");
    const child = spawnPinned(cores, process.execPath, [SERVICE_ENTRY], {
      env: {
        PATH: process.env.PATH,
        RED5_MASTER_KEY: BENCH_MASTER_KEY,
        RED5_MASTER_SECRET: BENCH_MASTER_SECRET,
        PUBNUB_ORIGIN: pubnubOrigin,
        HOST: "127.0.0.1",
        PORT: String(port),
        ADMIN_HOST: "127.0.0.1",
        ADMIN_PORT: String(adminPort),
        ...env,
      },
      stdio: ["ignore", "ignore", stderr],
    });
    closeSync(stderr);
    const service = new ServiceProcess(child, `http://127.0.0.1:${port}`, `http://127.0.0.1:${adminPort}`, stderrFile);
    await service.waitUntilReady();
    return service;
  }

  /** Process id of the service's main process, the root of its process tree. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Returns the Prometheus text of the admin port's /metrics. */
  async scrapeMetrics(): Promise<string> {
    const response = await fetch(`${this.adminUrl}/metrics`);
    if (!response.ok) {
      throw new Error(`GET ${this.adminUrl}/metrics returned HTTP ${response.status}`);
    }
    return response.text();
  }

  /** Stops the service with SIGTERM, as an orchestrator would, and waits for it to exit. */
  async stop(): Promise<void> {
    await stopChild(this.child);
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (performance.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`the service exited with code ${this.child.exitCode} at start-up:\n${this.stderrTail()}`);
      }
      try {
        const response = await fetch(`${this.adminUrl}/readyz`);
        if (response.ok) {
          return;
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.stop();
    throw new Error(`the service did not report ready within ${READY_TIMEOUT_MS} ms:\n${this.stderrTail()}`);
  }

  private stderrTail(): string {
    return readFileSync(this.stderrFile, "utf8").split("\n").slice(-20).join("\n");
  }
}

/** Finished calls by procedure and code, from token_service_calls_total. */
export type CallCounts = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** Reads token_service_calls_total from Prometheus text: procedure, then code, to count. */
export function parseCallCounts(metricsText: string): CallCounts {
  const counts = new Map<string, Map<string, number>>();
  for (const line of metricsText.split("\n")) {
    const match = /^token_service_calls_total\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (match === null) {
      continue;
    }
    const labels = Object.fromEntries([...(match[1] as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1], label[2]]));
    const procedure = labels.procedure ?? "";
    const byCode = counts.get(procedure) ?? new Map<string, number>();
    byCode.set(labels.code ?? "", Number(match[2]));
    counts.set(procedure, byCode);
  }
  return counts;
}

/** Reads the value of a counter without labels from Prometheus text; 0 when absent. */
export function readCounter(metricsText: string, name: string): number {
  const match = new RegExp(`^${name}\\s+(\\S+)$`, "m").exec(metricsText);
  return match === null ? 0 : Number(match[1]);
}

/** Change in a procedure's calls between two readings: OK calls and calls with any other code. */
export function callCountChange(before: CallCounts, after: CallCounts, procedure: string): { ok: number; failed: number; failedCodes: string[] } {
  let ok = 0;
  let failed = 0;
  const failedCodes: string[] = [];
  for (const [code, count] of after.get(procedure) ?? new Map<string, number>()) {
    const change = count - (before.get(procedure)?.get(code) ?? 0);
    if (code === "OK") {
      ok += change;
    } else if (change > 0) {
      failed += change;
      failedCodes.push(`${code} ${change}`);
    }
  }
  return { ok, failed, failedCodes };
}
