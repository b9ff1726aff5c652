/**
 * Drives one server under h2load and reports what each call costs the server.
 *
 *   npx tsx bench/profile/drive.ts [--server dist/src/main.js] [--scenario chat-grpc,noop-grpc]
 *     [--calls 20000] [--warmup 5000] [--clients 4] [--streams 128] [--latency-ms 0]
 *     [--cpu-prof DIR] [--stdout FILE] [--node-option OPTION]... [--env NAME=VALUE]...
 *
 * It starts the PubNub emulator (bench/profile/emulator.ts) pinned to core 1, then, for each
 * scenario, a fresh server process pinned to core 0 with the tests' master credentials. It checks
 * one call with a real client (grpc-js for gRPC, connect-node for Connect), warms up, and runs
 * h2load pinned to core 1. It reads the server's CPU time from /proc/<pid>/stat before and after
 * the measured run, and its calls by code from token_service_calls_total on the admin port, so
 * that a gRPC error, which comes with HTTP 200, does not count as a success.
 *
 * --server names any compiled script that reads PORT, ADMIN_PORT, RED5_MASTER_KEY,
 * RED5_MASTER_SECRET and PUBNUB_ORIGIN as src/main.ts does, and serves the same metric, as the
 * servers in bench/stacks do. It needs Linux, taskset, and h2load (Debian's nghttp2-client).
 * Every address is on loopback. With 512 calls in flight by default, it loads the server twice
 * as hard as `npm run bench` (bench/run.ts) does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema } from "../../gen/ts/grpc/health/v1/health_pb.js";
import {
  IssueChatTokenRequestSchema,
  IssueConferenceTokenRequestSchema,
  Role,
} from "../../gen/ts/red5/token/v1/token_service_pb.js";
import { TEST_MASTER_KEY, TEST_MASTER_SECRET } from "../../test/support/harness.js";
import { checkOneCall } from "./check-call.js";

/** A request sent over and over: its URL path, protocol and message. */
export interface Scenario {
  readonly name: string;
  readonly path: string;
  readonly protocol: "grpc" | "connect";
  readonly body: Uint8Array;
}

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const ISSUE_CHAT = "/red5.token.v1.TokenService/IssueChatToken";
const ISSUE_CONFERENCE = "/red5.token.v1.TokenService/IssueConferenceToken";

const MESSAGES: Record<string, { path: string; body: Uint8Array }> = {
  // A named service, because h2load cannot send the empty body of an empty message.
  noop: { path: HEALTH_CHECK, body: encode(HealthCheckRequestSchema, { service: "red5.token.v1.TokenService" }) },
  chat: {
    path: ISSUE_CHAT,
    body: encode(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "room-1", read: true, write: true }),
  },
  conference: {
    path: ISSUE_CONFERENCE,
    body: encode(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER, expirationMinutes: 60 }),
  },
};

/** Free loopback ports, picked once per run. */
const [SERVER_PORT, ADMIN_PORT, EMULATOR_PORT] = await Promise.all([freePort(), freePort(), freePort()]);
const SERVER_CORE = "0";
const LOAD_CORE = "1";

/** One measured run. */
interface Result {
  readonly scenario: string;
  readonly calls: number;
  readonly ok: number;
  readonly failed: number;
  readonly callsPerSecond: number;
  readonly cpuMicrosPerCall: number;
  /** The emulator's CPU time per call, which bounds throughput on the load core. */
  readonly emulatorMicrosPerCall: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly peakRssMiB: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function encode<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

/** Returns the scenario for a name such as "chat-grpc" or "noop-connect". */
export function scenarioByName(name: string): Scenario {
  const [message, protocol] = name.split("-");
  const entry = MESSAGES[message ?? ""];
  if (entry === undefined || (protocol !== "grpc" && protocol !== "connect")) {
    throw new Error(`unknown scenario ${name}. Use noop, chat or conference, then -grpc or -connect`);
  }
  return { name, path: entry.path, protocol, body: entry.body };
}

/** Frames a message as a gRPC request body: a 5-byte envelope (no compression flag, length), then the message. */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      server: { type: "string", default: "dist/src/main.js" },
      scenario: { type: "string", default: "noop-grpc,chat-grpc" },
      calls: { type: "string", default: "20000" },
      warmup: { type: "string", default: "5000" },
      clients: { type: "string", default: "4" },
      streams: { type: "string", default: "128" },
      "latency-ms": { type: "string", default: "0" },
      "cpu-prof": { type: "string" },
      stdout: { type: "string" },
      "node-option": { type: "string", multiple: true, default: [] },
      env: { type: "string", multiple: true, default: [] },
    },
  });
  return values;
}

type Options = ReturnType<typeof parseOptions>;

async function main(): Promise<void> {
  const options = parseOptions();
  const workDir = mkdtempSync(path.join(tmpdir(), "red5-drive-"));
  const emulator = await startEmulator(Number(options["latency-ms"]));
  try {
    const results: Result[] = [];
    for (const name of options.scenario.split(",")) {
      results.push(await runScenario(scenarioByName(name), options, emulator, workDir));
    }
    printTable(options.server, results);
  } finally {
    await stopProcess(emulator.process);
  }
}

async function startEmulator(latencyMs: number): Promise<{ process: ChildProcess; origin: string }> {
  const child = spawn("taskset", ["-c", LOAD_CORE, process.execPath, "--import", "tsx", "bench/profile/emulator.ts"], {
    env: { ...process.env, EMULATOR_PORT: String(EMULATOR_PORT), EMULATOR_LATENCY_MS: String(latencyMs) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8").trim()));
    child.once("exit", (code) => reject(new Error(`emulator exited with status ${code}`)));
  });
  return { process: child, origin };
}

async function runScenario(scenario: Scenario, options: Options, emulator: { process: ChildProcess; origin: string }, workDir: string): Promise<Result> {
  const pubnubOrigin = emulator.origin;
  const server = startServer(options, pubnubOrigin);
  try {
    await waitForAdmin();
    await checkOneCall(`http://127.0.0.1:${SERVER_PORT}`, scenario);

    const bodyFile = path.join(workDir, `${scenario.name}.bin`);
    writeFileSync(bodyFile, scenario.protocol === "grpc" ? grpcFrame(scenario.body) : scenario.body);
    await runH2load(scenario, options, bodyFile, Number(options.warmup), undefined);

    const pid = server.pid as number;
    const emulatorPid = emulator.process.pid as number;
    const before = { cpu: cpuTicks(pid), emulatorCpu: cpuTicks(emulatorPid), counts: await callCounts() };
    const logFile = path.join(workDir, `${scenario.name}.log`);
    const load = await runH2load(scenario, options, bodyFile, Number(options.calls), logFile);
    const seconds = load.seconds;
    const after = { cpu: cpuTicks(pid), emulatorCpu: cpuTicks(emulatorPid), counts: await callCounts() };

    let ok = after.counts.ok - before.counts.ok;
    const failed = after.counts.failed - before.counts.failed;
    if (ok + failed === 0) {
      // A server variant without the call counter: h2load's HTTP 2xx count is all there is.
      process.stderr.write(`${scenario.name}: the server counted no calls; using h2load's ${load.succeeded} successes\n`);
      ok = load.succeeded;
    }
    const latencies = readLatencies(logFile);
    return {
      scenario: scenario.name,
      calls: Number(options.calls),
      ok,
      failed,
      callsPerSecond: ok / seconds,
      cpuMicrosPerCall: ((after.cpu - before.cpu) * 10_000) / Math.max(1, ok),
      emulatorMicrosPerCall: ((after.emulatorCpu - before.emulatorCpu) * 10_000) / Math.max(1, ok),
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      peakRssMiB: peakRssKiB(pid) / 1024,
    };
  } finally {
    await stopProcess(server);
  }
}

function startServer(options: Options, pubnubOrigin: string): ChildProcess {
  const extraEnv = Object.fromEntries(options.env.map((entry) => entry.split(/=(.*)/s).slice(0, 2)));
  const nodeOptions = [...options["node-option"]];
  if (options["cpu-prof"] !== undefined) {
    nodeOptions.push("--cpu-prof", `--cpu-prof-dir=${options["cpu-prof"]}`);
  }
  return spawn("taskset", ["-c", SERVER_CORE, process.execPath, ...nodeOptions, options.server], {
    env: {
      ...process.env,
      RED5_MASTER_KEY: TEST_MASTER_KEY,
      RED5_MASTER_SECRET: TEST_MASTER_SECRET,
      PUBNUB_ORIGIN: pubnubOrigin,
      PORT: String(SERVER_PORT),
      ADMIN_PORT: String(ADMIN_PORT),
      ...extraEnv,
    },
    // The call log and the audit log go to standard output: /dev/null unless --stdout names a file.
    stdio: ["ignore", options.stdout === undefined ? "ignore" : openSync(options.stdout, "a"), "inherit"],
  });
}

async function waitForAdmin(): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${ADMIN_PORT}/readyz`);
      if (response.ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the server did not become ready within 10 s");
}

/** Sums token_service_calls_total by code: OK, and every other code. */
async function callCounts(): Promise<{ ok: number; failed: number }> {
  const text = await (await fetch(`http://127.0.0.1:${ADMIN_PORT}/metrics`)).text();
  let ok = 0;
  let failed = 0;
  for (const match of text.matchAll(/^token_service_calls_total\{([^}]*)\} (\d+)/gm)) {
    const count = Number(match[2]);
    if (/code="OK"/.test(match[1] ?? "")) {
      ok += count;
    } else {
      failed += count;
    }
  }
  return { ok, failed };
}

/** Runs h2load on the load core and returns the seconds it took and the HTTP 2xx responses it counted. */
async function runH2load(
  scenario: Scenario,
  options: Options,
  bodyFile: string,
  calls: number,
  logFile: string | undefined,
): Promise<{ seconds: number; succeeded: number }> {
  const headers =
    scenario.protocol === "grpc"
      ? ["-H", "content-type: application/grpc", "-H", "te: trailers"]
      : ["-H", "content-type: application/proto", "-H", "connect-protocol-version: 1"];
  const args = [
    "-c", LOAD_CORE, "h2load", "-n", String(calls), "-c", options.clients, "-m", options.streams, "-t", "1",
    "-d", bodyFile, ...headers, ...(logFile ? ["--log-file", logFile] : []),
    `http://127.0.0.1:${SERVER_PORT}${scenario.path}`,
  ];
  const output = await run("taskset", args);
  const finished = /finished in ([\d.]+)(ms|s),/.exec(output);
  if (finished === null) {
    throw new Error(`h2load output has no duration:\n${output}`);
  }
  const succeeded = Number(/status codes: (\d+) 2xx/.exec(output)?.[1] ?? "0");
  return { seconds: Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1), succeeded };
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.once("exit", (code) => {
      const output = Buffer.concat(chunks).toString("utf8");
      if (code === 0) {
        resolve(output);
      } else {
        reject(new Error(`${command} exited with status ${code}:\n${output}`));
      }
    });
  });
}

/** Returns utime + stime of a process in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5), counted from the state field, which is field 3.
  return Number(fields[11]) + Number(fields[12]);
}

function peakRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? "0");
}

/** Reads the per-request durations that h2load logged, in milliseconds, sorted. */
function readLatencies(logFile: string): number[] {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Number(line.split("\t")[2]) / 1000)
    .sort((a, b) => a - b);
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

function printTable(server: string, results: readonly Result[]): void {
  const lines = [
    `server: ${server}`,
    "| scenario | calls ok | failed | calls/s | CPU µs/call | p50 ms | p99 ms | peak RSS MiB | emulator CPU µs/call |",
    "|---|---|---|---|---|---|---|---|---|",
    ...results.map(
      (result) =>
        `| ${result.scenario} | ${result.ok} | ${result.failed} | ${Math.round(result.callsPerSecond)} | ${result.cpuMicrosPerCall.toFixed(0)} | ${result.p50Ms.toFixed(1)} | ${result.p99Ms.toFixed(1)} | ${result.peakRssMiB.toFixed(0)} | ${result.emulatorMicrosPerCall.toFixed(0)} |`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
