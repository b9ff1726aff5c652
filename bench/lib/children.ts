/**
 * Child processes of the benchmark, each pinned to one CPU core, or to every core, with taskset(1).
 *
 * @module
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Core of the measured process: the service or the in-process alternative. */
export const MEASURED_CORE = 0;

/** Core of everything else: the emulator, h2load and this orchestrating process. */
export const LOAD_CORE = 1;

/** Time a child gets to exit after SIGTERM before it is killed, in milliseconds. */
const STOP_GRACE_MS = 15_000;

/** Options of spawnPinned. */
export interface PinnedSpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly stdio?: StdioOptions;
}

/** Cores in taskset's list form: one core such as 0, or a range such as "0-1". */
export type Cores = number | string;

/**
 * The cores this process could run on when the benchmark started, as a taskset list such as
 * "0-1". It is read at load, before pinSelf narrows this process to one core.
 */
const STARTING_CORES = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0-1";

/** Returns every core the benchmark may use, as a taskset list such as "0-1". */
export function allCores(): string {
  return STARTING_CORES;
}

/**
 * Starts a command pinned to the given cores. taskset replaces itself with the command, so the
 * child's pid is the command's own.
 */
export function spawnPinned(cores: Cores, command: string, args: readonly string[], options: PinnedSpawnOptions = {}): ChildProcess {
  return spawn("taskset", ["-c", String(cores), command, ...args], {
    env: options.env ?? process.env,
    stdio: options.stdio ?? ["ignore", "pipe", "pipe"],
  });
}

/**
 * Pins this process to a core, so that the orchestration shares the load generator's core and
 * leaves the measured core alone. Threads started later inherit the affinity.
 */
export function pinSelf(core: number): void {
  pinProcess(process.pid, core);
}

/** Pins a running process and all its threads to the given cores. */
export function pinProcess(pid: number, cores: Cores): void {
  const result = spawnSync("taskset", ["-a", "-p", "-c", String(cores), String(pid)], { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`taskset could not pin process ${pid} to cores ${cores}: ${result.stderr.trim() || result.error?.message}`);
  }
}

/** Returns the number of CPU cores this process may run on. */
export function availableCores(): number {
  const result = spawnSync("nproc", [], { encoding: "utf8" });
  return Number(result.stdout.trim());
}

/** Finds a free TCP port on 127.0.0.1 by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  server.close();
  await once(server, "close");
  return port;
}

/** Resolves with the exit code once the child has exited; resolves at once if it already has. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/**
 * Sends SIGTERM to a child, by its pid, and waits for it to exit. A child still running after
 * STOP_GRACE_MS gets SIGKILL.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await exited(child);
  clearTimeout(timer);
}
