/**
 * Runs bench/sdk-alternative.ts on the measured core and measures its CPU time and peak memory
 * from /proc, the way the benchmark measures the service.
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { AlternativeCommand, AlternativeMessage, AlternativeMode } from "../sdk-alternative.js";
import { MEASURED_CORE, spawnPinned, stopChild } from "./children.js";
import { treeCpuSeconds, treePeakRss } from "./proc.js";

const SCRIPT = fileURLToPath(new URL("../sdk-alternative.ts", import.meta.url));

/** Settings of one alternative run. */
export interface AlternativeOptions {
  readonly mode: AlternativeMode;
  /** Emulator host and port, as the SDK's origin setting takes them. */
  readonly emulatorHostPort: string;
  readonly calls: number;
  readonly warmupCalls: number;
  readonly concurrency: number;
  /** Runs after the warm-up, before the CPU reading that opens the measured window. */
  readonly beforeWindow?: () => Promise<void>;
  /** Runs after the CPU reading that closes the measured window. */
  readonly afterWindow?: () => Promise<void>;
}

/** Measurements of one alternative run. */
export interface AlternativeResult {
  readonly succeeded: number;
  readonly failed: number;
  readonly firstError: string | undefined;
  /** Wall time of the measured calls, in seconds. */
  readonly seconds: number;
  /** Latencies of the successful calls in microseconds, sorted. */
  readonly latenciesUs: Float64Array;
  /** CPU time of the process over the measured calls, in seconds. */
  readonly cpuSeconds: number;
  /** VmHWM of the process at the end, in bytes. */
  readonly peakRssBytes: number;
}

/** Starts the alternative, lets it warm up, and measures its CPU time over the measured calls. */
export async function runAlternative(options: AlternativeOptions): Promise<AlternativeResult> {
  const args = [
    "--import",
    "tsx",
    SCRIPT,
    `--origin=${options.emulatorHostPort}`,
    `--mode=${options.mode}`,
    `--calls=${options.calls}`,
    `--warmup=${options.warmupCalls}`,
    `--concurrency=${options.concurrency}`,
  ];
  const child = spawnPinned(MEASURED_CORE, process.execPath, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    await nextMessage(child, "warm");
    await options.beforeWindow?.();
    const cpuBefore = treeCpuSeconds(child.pid ?? 0);
    send(child, { type: "go" });
    await nextMessage(child, "done");
    const cpuAfter = treeCpuSeconds(child.pid ?? 0);
    const peakRssBytes = treePeakRss(child.pid ?? 0).maxBytes;
    await options.afterWindow?.();
    send(child, { type: "report" });
    const report = await nextMessage(child, "report");
    if (report.type !== "report") {
      throw new Error("the alternative sent no report");
    }
    return {
      succeeded: report.succeeded,
      failed: report.failed,
      firstError: report.firstError,
      seconds: report.seconds,
      latenciesUs: Float64Array.from(report.latenciesUs).sort(),
      cpuSeconds: cpuAfter - cpuBefore,
      peakRssBytes,
    };
  } finally {
    await stopChild(child);
  }
}

function send(child: ChildProcess, command: AlternativeCommand): void {
  child.send(command);
}

function nextMessage(child: ChildProcess, type: AlternativeMessage["type"]): Promise<AlternativeMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: AlternativeMessage) => {
      if (message.type === type) {
        cleanUp();
        resolve(message);
      }
    };
    const onExit = (code: number | null) => {
      cleanUp();
      reject(new Error(`the alternative exited with code ${code} while the benchmark waited for "${type}"`));
    };
    const cleanUp = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}
