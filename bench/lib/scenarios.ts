/**
 * The benchmark's scenarios and how each is measured.
 *
 * @module
 */
import { join } from "node:path";
import type { EmulatorCounters } from "../../src/emulator/pubnub-emulator.js";
import type { AlternativeMode } from "../sdk-alternative.js";
import { runAlternative } from "./alternative.js";
import { allCores, availableCores, LOAD_CORE, MEASURED_CORE, pinProcess } from "./children.js";
import type { EmulatorProcess } from "./emulator-client.js";
import { percentile, runH2load } from "./h2load.js";
import { coreBusyShare, ownCpuSeconds, readCoreTimes, treeCpuSeconds, treePeakRss, type CoreTimes, type PeakRss } from "./proc.js";
import { callOnce, headersOf, procedureOf, writeRequestBody, type Protocol, type RpcName } from "./rpcs.js";
import { callCountChange, parseCallCounts, readCounter, ServiceProcess } from "./service.js";

/** The service's counter of PubNub grant retries. */
const RETRIES_METRIC = "token_service_pubnub_grant_retries_total";

/** HTTP/2 connections h2load opens, and streams in flight on each: 4 × 64 = 256 calls in flight. */
export const CONNECTIONS = 4;
export const STREAMS_PER_CONNECTION = 64;
export const IN_FLIGHT = CONNECTIONS * STREAMS_PER_CONNECTION;

/**
 * PUBNUB_CONNECTIONS of every token scenario but one. The emulator speaks HTTP/1.1 and the
 * service's pool sends one request per connection at a time, so with 40 ms per grant the pool
 * caps throughput at connections / 40 ms. 256 matches the calls in flight, while the default of
 * 64 would cap it at 1,600 grants/s, as the default-pool scenario shows.
 */
export const BENCH_PUBNUB_CONNECTIONS = 256;

/** The service's own default of PUBNUB_CONNECTIONS. */
const DEFAULT_PUBNUB_CONNECTIONS = 64;

/** A scenario that loads the service with h2load. */
export interface ServiceScenario {
  readonly kind: "service";
  readonly id: string;
  readonly title: string;
  readonly rpc: RpcName;
  readonly protocol: Protocol;
  /** Delay the emulator adds to every grant, in milliseconds. */
  readonly latencyMs: number;
  /** Service settings of this scenario, under any the user passed with --env. */
  readonly env: Readonly<Record<string, string>>;
  /** Share of the run's call count this scenario makes, so that slow ones stay short. */
  readonly callShare: number;
  /** Id of the no-op ceiling row to compare with. */
  readonly ceiling: string;
  /** Id of the in-process alternative row that does the same work, if any. */
  readonly alternative: string | undefined;
  /**
   * Whether the service, the emulator and h2load all share every core, as on a machine that runs
   * the whole system, rather than the service alone on the measured core.
   */
  readonly wholeMachine: boolean;
}

/** A scenario that runs the in-process SDK alternative. */
export interface AlternativeScenario {
  readonly kind: "alternative";
  readonly id: string;
  readonly title: string;
  readonly mode: AlternativeMode;
  readonly callShare: number;
  readonly ceiling: string;
}

export type Scenario = ServiceScenario | AlternativeScenario;

const POOL = { PUBNUB_CONNECTIONS: String(BENCH_PUBNUB_CONNECTIONS) };

/** Id of the in-process alternative that does the work of each RPC. */
const ALTERNATIVE_OF: Readonly<Record<RpcName, string | undefined>> = { health: undefined, chat: "sdk-chat", conference: "sdk-conference" };

function serviceScenario(
  id: string,
  title: string,
  rpc: RpcName,
  protocol: Protocol,
  settings: { latencyMs?: number; env?: Record<string, string>; callShare?: number; wholeMachine?: boolean } = {},
): ServiceScenario {
  return {
    kind: "service",
    id,
    title,
    rpc,
    protocol,
    latencyMs: settings.latencyMs ?? 0,
    env: settings.env ?? POOL,
    callShare: settings.callShare ?? 1,
    ceiling: protocol === "grpc" ? "ceiling-grpc" : "ceiling-connect",
    alternative: ALTERNATIVE_OF[rpc],
    wholeMachine: settings.wholeMachine ?? false,
  };
}

/** WORKERS of the whole-machine scenario: one worker per core, counted before pinSelf narrows this process. */
const MACHINE_WORKERS = availableCores();

/** Every scenario, in the order they run and are reported. */
export const SCENARIOS: readonly Scenario[] = [
  serviceScenario("ceiling-grpc", "no-op ceiling: Health/Check, gRPC", "health", "grpc"),
  serviceScenario("ceiling-connect", "no-op ceiling: Health/Check, Connect", "health", "connect"),
  serviceScenario("chat-grpc", "IssueChatToken, gRPC", "chat", "grpc"),
  serviceScenario("chat-connect", "IssueChatToken, Connect", "chat", "connect"),
  serviceScenario("conference-grpc", "IssueConferenceToken, gRPC", "conference", "grpc"),
  serviceScenario("conference-connect", "IssueConferenceToken, Connect", "conference", "connect"),
  serviceScenario("chat-grpc-40ms", `IssueChatToken, gRPC, PubNub +40 ms, PUBNUB_CONNECTIONS=${BENCH_PUBNUB_CONNECTIONS}`, "chat", "grpc", {
    latencyMs: 40,
  }),
  serviceScenario("chat-grpc-40ms-pool64", "IssueChatToken, gRPC, PubNub +40 ms, PUBNUB_CONNECTIONS=64 (default)", "chat", "grpc", {
    latencyMs: 40,
    env: { PUBNUB_CONNECTIONS: "64" },
    callShare: 1 / 4,
  }),
  serviceScenario(
    "chat-grpc-40ms-machine",
    `IssueChatToken, gRPC, PubNub +40 ms, PUBNUB_CONNECTIONS=${BENCH_PUBNUB_CONNECTIONS}, WORKERS=${MACHINE_WORKERS}, all on every core`,
    "chat",
    "grpc",
    { latencyMs: 40, env: { ...POOL, WORKERS: String(MACHINE_WORKERS) }, wholeMachine: true },
  ),
  { kind: "alternative", id: "sdk-chat", title: "in-process: pubnub SDK grantToken", mode: "chat", callShare: 1, ceiling: "ceiling-grpc" },
  {
    kind: "alternative",
    id: "sdk-conference",
    title: "in-process: pubnub SDK grantToken + jsonwebtoken",
    mode: "conference",
    callShare: 1,
    ceiling: "ceiling-grpc",
  },
];

/** Settings shared by every scenario of a run. */
export interface RunSettings {
  /** Measured calls of a scenario with callShare 1. */
  readonly calls: number;
  /** Warm-up calls before each measured window. */
  readonly warmupCalls: number;
  /** Service settings given with --env, which override a scenario's own. */
  readonly extraEnv: Readonly<Record<string, string>>;
  /** Directory for request bodies, h2load logs and the service's standard error. */
  readonly workDirectory: string;
}

/** Measurements of one scenario. */
export interface ScenarioResult {
  readonly scenario: Scenario;
  /** Calls in the measured window. */
  readonly calls: number;
  /** Calls that succeeded by every check. */
  readonly succeeded: number;
  /** Failures found by the checks, such as "UNAVAILABLE 12" or "h2load failed 3". */
  readonly errors: string[];
  /** Findings of the checks that are no failure, such as PubNub grant retries. */
  readonly notes: string[];
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** CPU time of the measured process tree per successful call, in microseconds. */
  readonly cpuUsPerCall: number;
  /** Largest VmHWM of any process of the measured tree, in MiB. */
  readonly peakRssMiB: number;
  /** Processes in the measured tree at the end of the window. */
  readonly processes: number;
  /** CPU time of the emulator per successful call, in microseconds. */
  readonly emulatorCpuUsPerCall: number;
  /** Share of time, 0 to 1, that each core was busy during the window. */
  readonly measuredCoreBusy: number;
  readonly loadCoreBusy: number;
  /**
   * Share of time, 0 to 1, that the measured core ran other work than the measured processes.
   * Such work slows the measured processes and raises their CPU time per call.
   */
  readonly measuredCoreOtherBusy: number;
  /** Share of time, 0 to 1, that the load core ran other work than the emulator, h2load and the benchmark. */
  readonly loadCoreOtherBusy: number;
  /** Service settings the scenario ran with, none for the alternative. */
  readonly env: Readonly<Record<string, string>>;
}

/** Measured calls of a scenario in a run. */
export function callsOf(scenario: Scenario, settings: RunSettings): number {
  return Math.max(1000, Math.round(settings.calls * scenario.callShare));
}

/** Runs one scenario and returns its measurements. */
export function runScenario(scenario: Scenario, emulator: EmulatorProcess, settings: RunSettings): Promise<ScenarioResult> {
  return scenario.kind === "service" ? runServiceScenario(scenario, emulator, settings) : runAlternativeScenario(scenario, emulator, settings);
}

/** Readings of the emulator and the cores at each end of a measured window. */
interface WindowEdge {
  readonly emulatorCpuSeconds: number;
  /** CPU time of this process and its reaped children (h2load runs), in seconds. */
  readonly benchCpuSeconds: number;
  readonly cores: CoreTimes;
  readonly emulator: EmulatorCounters;
}

async function readEdge(emulator: EmulatorProcess): Promise<WindowEdge> {
  const emulatorCpuSeconds = treeCpuSeconds(emulator.pid);
  const benchCpuSeconds = ownCpuSeconds();
  const cores = readCoreTimes();
  return { emulatorCpuSeconds, benchCpuSeconds, cores, emulator: await emulator.counters() };
}

/** Raw measurements of a scenario, before they are summarized. */
interface Measurement {
  readonly env: Readonly<Record<string, string>>;
  readonly calls: number;
  readonly succeeded: number;
  readonly errors: string[];
  readonly notes: string[];
  /** Wall time of the measured window, in seconds. */
  readonly seconds: number;
  /** Sorted latencies of the successful calls, in microseconds. */
  readonly latenciesUs: Float64Array;
  /** CPU time of the measured process tree over the window, in seconds. */
  readonly cpuSeconds: number;
  readonly before: WindowEdge;
  readonly after: WindowEdge;
  readonly peakRss: PeakRss;
}

async function runServiceScenario(scenario: ServiceScenario, emulator: EmulatorProcess, settings: RunSettings): Promise<ScenarioResult> {
  const env = { ...scenario.env, ...settings.extraEnv };
  const calls = callsOf(scenario, settings);
  const bodyFile = writeRequestBody(settings.workDirectory, scenario.rpc, scenario.protocol);
  const logFile = join(settings.workDirectory, `${scenario.id}.h2load.log`);
  await emulator.setLatency(scenario.latencyMs);
  const serviceCores = scenario.wholeMachine ? allCores() : MEASURED_CORE;
  const loadCores = scenario.wholeMachine ? allCores() : LOAD_CORE;
  pinProcess(emulator.pid, loadCores);

  const service = await ServiceProcess.start(emulator.origin, env, settings.workDirectory, serviceCores);
  try {
    await callOnce(service.url, scenario.rpc, scenario.protocol);
    const load = {
      url: `${service.url}/${procedureOf(scenario.rpc)}`,
      bodyFile,
      headers: headersOf(scenario.protocol),
      connections: CONNECTIONS,
      streamsPerConnection: STREAMS_PER_CONNECTION,
      cores: loadCores,
    };
    await runH2load({ ...load, calls: settings.warmupCalls });

    // Scrapes cost the service CPU, so they stay outside the window the CPU readings bound.
    const metricsBefore = await service.scrapeMetrics();
    const before = await readEdge(emulator);
    const cpuBefore = treeCpuSeconds(service.pid);
    const run = await runH2load({ ...load, calls, logFile });
    const cpuAfter = treeCpuSeconds(service.pid);
    const after = await readEdge(emulator);
    const peakRss = treePeakRss(service.pid);
    const metricsAfter = await service.scrapeMetrics();

    // With WORKERS above 1, the primary process serves these counters summed over its workers.
    const change = callCountChange(parseCallCounts(metricsBefore), parseCallCounts(metricsAfter), procedureOf(scenario.rpc));
    const retries = readCounter(metricsAfter, RETRIES_METRIC) - readCounter(metricsBefore, RETRIES_METRIC);
    const grants = after.emulator.grantsIssued - before.emulator.grantsIssued;
    const errors = [...change.failedCodes];
    if (run.failed > 0) {
      errors.push(`h2load failed ${run.failed}`);
    }
    if (change.ok !== run.succeeded) {
      errors.push(`OK in metrics ${change.ok} but h2load 2xx ${run.succeeded}`);
    }
    // A grant retried after an attempt timed out can be issued twice, so more grants than OK
    // calls is no failure. Fewer would mean calls reported OK without a grant.
    if (scenario.rpc !== "health" && grants < change.ok) {
      errors.push(`emulator grants ${grants} but OK calls ${change.ok}`);
    }
    const notes = retries > 0 ? [`${retries} PubNub grant retries, ${grants - change.ok} extra grants`] : [];
    const succeeded = Math.min(change.ok, run.succeeded);
    const cpuSeconds = cpuAfter - cpuBefore;
    if (scenario.latencyMs > 0) {
      notes.push(throughputBounds(scenario.latencyMs, env, cpuSeconds / succeeded, scenario.wholeMachine ? MACHINE_WORKERS : 1));
    }
    if (scenario.wholeMachine) {
      notes.push("the service, emulator and h2load share every core, so the core columns do not separate them");
    }
    return summarize(scenario, { env, calls, succeeded, errors, notes, seconds: run.seconds, latenciesUs: run.latenciesUs, cpuSeconds, before, after, peakRss });
  } finally {
    await service.stop();
    pinProcess(emulator.pid, LOAD_CORE);
  }
}

/**
 * Describes the three bounds on calls/s when every grant takes latencyMs: the calls in flight and
 * the PubNub pool (per worker), each divided by the latency, and the service's cores divided by
 * the CPU time per call.
 */
function throughputBounds(latencyMs: number, env: Readonly<Record<string, string>>, cpuSecondsPerCall: number, cores: number): string {
  const pool = Number(env.PUBNUB_CONNECTIONS ?? DEFAULT_PUBNUB_CONNECTIONS) * Number(env.WORKERS ?? 1);
  const perSecond = (value: number) => Math.round(value).toLocaleString("en-US");
  return (
    `calls/s bounds: ${perSecond((IN_FLIGHT * 1000) / latencyMs)} by calls in flight, ` +
    `${perSecond((pool * 1000) / latencyMs)} by the PubNub pool, ${perSecond(cores / cpuSecondsPerCall)} by ${cores === 1 ? "one core" : `${cores} cores`} of service CPU`
  );
}

async function runAlternativeScenario(scenario: AlternativeScenario, emulator: EmulatorProcess, settings: RunSettings): Promise<ScenarioResult> {
  const calls = callsOf(scenario, settings);
  await emulator.setLatency(0);
  const edges: { before?: WindowEdge; after?: WindowEdge } = {};
  const run = await runAlternative({
    mode: scenario.mode,
    emulatorHostPort: new URL(emulator.origin).host,
    calls,
    warmupCalls: settings.warmupCalls,
    concurrency: IN_FLIGHT,
    beforeWindow: async () => {
      edges.before = await readEdge(emulator);
    },
    afterWindow: async () => {
      edges.after = await readEdge(emulator);
    },
  });
  const before = edges.before as WindowEdge;
  const after = edges.after as WindowEdge;

  const grants = after.emulator.grantsIssued - before.emulator.grantsIssued;
  const errors: string[] = [];
  if (run.failed > 0) {
    errors.push(`failed ${run.failed}, first: ${run.firstError ?? "unknown"}`);
  }
  if (grants < run.succeeded) {
    errors.push(`emulator grants ${grants} but successful calls ${run.succeeded}`);
  }
  const notes = grants > run.succeeded ? [`${grants - run.succeeded} extra grants (SDK retries)`] : [];
  const succeeded = Math.min(run.succeeded, grants);
  const peakRss = { maxBytes: run.peakRssBytes, processes: 1 };
  return summarize(scenario, { env: {}, calls, succeeded, errors, notes, seconds: run.seconds, latenciesUs: run.latenciesUs, cpuSeconds: run.cpuSeconds, before, after, peakRss });
}

function summarize(scenario: Scenario, measured: Measurement): ScenarioResult {
  const perCall = (cpuSeconds: number) => (measured.succeeded === 0 ? Number.NaN : (cpuSeconds * 1e6) / measured.succeeded);
  const { before, after } = measured;
  const measuredCoreBusy = coreBusyShare(before.cores, after.cores, MEASURED_CORE);
  const loadCoreBusy = coreBusyShare(before.cores, after.cores, LOAD_CORE);
  const loadSideCpuSeconds = after.emulatorCpuSeconds - before.emulatorCpuSeconds + after.benchCpuSeconds - before.benchCpuSeconds;
  return {
    scenario,
    calls: measured.calls,
    succeeded: measured.succeeded,
    errors: measured.errors,
    notes: measured.notes,
    callsPerSecond: measured.succeeded / measured.seconds,
    p50Ms: percentile(measured.latenciesUs, 0.5) / 1000,
    p99Ms: percentile(measured.latenciesUs, 0.99) / 1000,
    p999Ms: percentile(measured.latenciesUs, 0.999) / 1000,
    cpuUsPerCall: perCall(measured.cpuSeconds),
    peakRssMiB: measured.peakRss.maxBytes / (1024 * 1024),
    processes: measured.peakRss.processes,
    emulatorCpuUsPerCall: perCall(after.emulatorCpuSeconds - before.emulatorCpuSeconds),
    measuredCoreBusy,
    loadCoreBusy,
    measuredCoreOtherBusy: Math.max(0, measuredCoreBusy - measured.cpuSeconds / measured.seconds),
    loadCoreOtherBusy: Math.max(0, loadCoreBusy - loadSideCpuSeconds / measured.seconds),
    env: measured.env,
  };
}
