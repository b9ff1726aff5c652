/**
 * CPU time and memory of processes, read from Linux's /proc as the kernel accounts them.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of the times in /proc/<pid>/stat (USER_HZ, 100 on common kernels). */
export const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** Fields of /proc/<pid>/stat that the benchmark reads. */
interface ProcessStat {
  readonly pid: number;
  readonly parentPid: number;
  /** utime + stime + cutime + cstime: the process's own CPU time and that of its reaped children, in ticks. */
  readonly cpuTicks: number;
}

function readStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const field = (number: number) => Number(fields[number - 3]);
  return { pid, parentPid: field(4), cpuTicks: field(14) + field(15) + field(16) + field(17) };
}

function allStats(): ProcessStat[] {
  const stats: ProcessStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (/^\d+$/.test(entry)) {
      const stat = readStat(Number(entry));
      if (stat !== undefined) {
        stats.push(stat);
      }
    }
  }
  return stats;
}

/** Returns the process and all its live descendants, the process first. */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const stat of allStats()) {
    children.set(stat.parentPid, [...(children.get(stat.parentPid) ?? []), stat.pid]);
  }
  const tree: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.shift() as number;
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * Returns the CPU time, user and system, of a process tree in seconds: every live process's own
 * time plus the time of the children each has reaped, so that a worker that exited still counts.
 */
export function treeCpuSeconds(rootPid: number): number {
  let ticks = 0;
  for (const pid of processTree(rootPid)) {
    ticks += readStat(pid)?.cpuTicks ?? 0;
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/**
 * Returns the CPU time of this process and of the children it has reaped, such as a finished
 * h2load run, in seconds. Live children are not included.
 */
export function ownCpuSeconds(): number {
  return (readStat(process.pid)?.cpuTicks ?? 0) / CLOCK_TICKS_PER_SECOND;
}

/** Peak resident set sizes of a process tree: the largest single process and the process count. */
export interface PeakRss {
  /** Largest VmHWM of any process in the tree, in bytes. */
  readonly maxBytes: number;
  readonly processes: number;
}

/** Reads VmHWM, the peak resident set size since start, of every process in the tree. */
export function treePeakRss(rootPid: number): PeakRss {
  let maxBytes = 0;
  let processes = 0;
  for (const pid of processTree(rootPid)) {
    const bytes = peakRssBytes(pid);
    if (bytes !== undefined) {
      maxBytes = Math.max(maxBytes, bytes);
      processes += 1;
    }
  }
  return { maxBytes, processes };
}

function peakRssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match === null ? undefined : Number(match[1]) * 1024;
}

/** Busy and total time of each CPU core, in ticks, from /proc/stat. */
export type CoreTimes = ReadonlyMap<number, { readonly busy: number; readonly total: number }>;

/** Reads the time each core has spent busy (everything but idle and iowait) and in total. */
export function readCoreTimes(): CoreTimes {
  const cores = new Map<number, { busy: number; total: number }>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (match === null) {
      continue;
    }
    const times = (match[2] as string).trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal; guest time is already inside user and nice.
    const total = times.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (times[3] ?? 0) + (times[4] ?? 0);
    cores.set(Number(match[1]), { busy: total - idle, total });
  }
  return cores;
}

/** Returns the share of time, 0 to 1, that a core was busy between two readings. */
export function coreBusyShare(before: CoreTimes, after: CoreTimes, core: number): number {
  const start = before.get(core);
  const end = after.get(core);
  if (start === undefined || end === undefined || end.total === start.total) {
    return 0;
  }
  return (end.busy - start.busy) / (end.total - start.total);
}
