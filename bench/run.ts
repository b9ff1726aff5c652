/**
 * Benchmarks the token service under h2load and compares it with the in-process PubNub SDK
 * alternative. `npm run bench` runs it after installing h2load and building the service. It
 * prints the report in Markdown, and with --write also replaces the results in BENCHMARKS.md.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { availableCores, LOAD_CORE, pinSelf } from "./lib/children.js";
import { EmulatorProcess } from "./lib/emulator-client.js";
import { h2loadVersion } from "./lib/h2load.js";
import { renderReport, writeIntoFile, type RunFacts } from "./lib/report.js";
import { callsOf, runScenario, SCENARIOS, type RunSettings, type ScenarioResult } from "./lib/scenarios.js";

const REPOSITORY = fileURLToPath(new URL("..", import.meta.url));
const BENCHMARKS_FILE = join(REPOSITORY, "BENCHMARKS.md");

const DEFAULT_CALLS = 20_000;
const DEFAULT_WARMUP_CALLS = 3_000;

const USAGE = `usage: npm run bench -- [--write] [--env NAME=VALUE]... [--calls N] [--warmup N] [--only ID,...]
  --write          also replace the results in BENCHMARKS.md
  --env NAME=VALUE extra service setting, over the scenario's own (repeatable), e.g. --env WORKERS=2
  --calls N        measured calls per scenario; default ${DEFAULT_CALLS}
  --warmup N       warm-up calls before each measured window; default ${DEFAULT_WARMUP_CALLS}
  --only ID,...    run only these scenarios: ${SCENARIOS.map((scenario) => scenario.id).join(", ")}`;

/** Command-line options of a run. */
interface Options {
  readonly write: boolean;
  readonly extraEnv: Record<string, string>;
  readonly calls: number;
  readonly warmupCalls: number;
  readonly only: string[] | undefined;
}

function readOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      write: { type: "boolean", default: false },
      env: { type: "string", multiple: true, default: [] },
      calls: { type: "string", default: String(DEFAULT_CALLS) },
      warmup: { type: "string", default: String(DEFAULT_WARMUP_CALLS) },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    return undefined;
  }
  const extraEnv: Record<string, string> = {};
  for (const setting of values.env) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(setting);
    if (match === null) {
      throw new Error(`--env ${JSON.stringify(setting)} is not NAME=VALUE.\n${USAGE}`);
    }
    extraEnv[match[1] as string] = match[2] as string;
  }
  const only = values.only?.split(",").map((id) => id.trim());
  const unknown = only?.filter((id) => !SCENARIOS.some((scenario) => scenario.id === id)) ?? [];
  if (unknown.length > 0) {
    throw new Error(`unknown scenario ${unknown.join(", ")}.\n${USAGE}`);
  }
  return {
    write: values.write,
    extraEnv,
    calls: readCount("--calls", values.calls),
    warmupCalls: readCount("--warmup", values.warmup),
    only,
  };
}

function readCount(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new Error(`${flag} must be a whole number of 1 or more, got ${JSON.stringify(text)}.`);
  }
  return Number(text);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = readOptions(argv);
  if (options === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const cores = availableCores();
  if (cores < 2) {
    throw new Error(`the benchmark pins the service and the load generator to separate cores, but nproc reports ${cores}. Run it where nproc reports 2 or more.`);
  }
  pinSelf(LOAD_CORE);
  const facts: RunFacts = {
    command: ["npm run bench", ...(argv.length > 0 ? ["--", ...argv] : [])].join(" "),
    date: new Date().toISOString().slice(0, 10),
    commit: describeCommit(),
    cores,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown",
    nodeVersion: process.version,
    h2loadVersion: h2loadVersion(),
    calls: options.calls,
    warmupCalls: options.warmupCalls,
    extraEnv: options.extraEnv,
    loadBefore: loadAverage(),
    loadAfter: "",
  };

  const workDirectory = mkdtempSync(join(tmpdir(), "red5-bench-"));
  const settings: RunSettings = { calls: options.calls, warmupCalls: options.warmupCalls, extraEnv: options.extraEnv, workDirectory };
  const scenarios = SCENARIOS.filter((scenario) => options.only === undefined || options.only.includes(scenario.id));
  const results: ScenarioResult[] = [];
  const emulator = await EmulatorProcess.start();
  try {
    for (const scenario of scenarios) {
      const startedAt = performance.now();
      process.stderr.write(`bench: ${scenario.id}: ${callsOf(scenario, settings)} calls...`);
      const result = await runScenario(scenario, emulator, settings);
      results.push(result);
      const seconds = (performance.now() - startedAt) / 1000;
      process.stderr.write(` ${Math.round(result.callsPerSecond)} calls/s, ${Math.round(result.cpuUsPerCall)} µs CPU/call, ${result.errors.length === 0 ? "no errors" : result.errors.join("; ")} (${seconds.toFixed(1)} s)\n`);
    }
  } catch (error) {
    process.stderr.write(`\nbench: the services' standard error and the h2load logs are kept in ${workDirectory}\n`);
    throw error;
  } finally {
    await emulator.stop();
  }
  rmSync(workDirectory, { recursive: true, force: true });

  const report = renderReport({ ...facts, loadAfter: loadAverage() }, results);
  process.stdout.write(`${report}\n`);
  if (options.write) {
    writeIntoFile(BENCHMARKS_FILE, report);
    process.stderr.write(`bench: wrote the results into ${BENCHMARKS_FILE}\n`);
  }
}

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/** Short commit id, marked when src/ or gen/ have uncommitted changes that the numbers include. */
function describeCommit(): string {
  const git = (args: string[]) => execFileSync("git", args, { cwd: REPOSITORY, encoding: "utf8" }).trim();
  try {
    const commit = git(["rev-parse", "--short", "HEAD"]);
    const changed = git(["status", "--porcelain", "--untracked-files=no", "--", "src", "gen"]);
    return changed === "" ? commit : `${commit} (with uncommitted changes in src/ or gen/)`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
