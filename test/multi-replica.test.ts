/**
 * Three service processes behind nginx, one of which gets SIGTERM while clients keep calling
 * through nginx. nginx balances round robin and passes a call that a closing replica refused on to
 * the next replica (nginxConfig explains why a mint may be passed on).
 *
 * Open-source nginx does not read /readyz. Once a replica closes its listener, a connection that
 * the kernel had accepted for it just before is reset, and a kept-alive connection may meet its
 * GOAWAY, and nginx never passes on a gRPC call it has already sent. So no call fails only when
 * the balancer stops routing to the replica during SHUTDOWN_DELAY_MS, as a balancer that follows
 * readiness does. Without that, a few calls may fail, but never one that a replica accepted.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { connectLoadClient, grpcJsLoadClient, runLoad, type CallOutcome, type LoadClient } from "./support/load.js";
import { startNginx, type Nginx } from "./support/nginx.js";
import type { ServiceProcess } from "./support/process.js";
import { acceptedCalls, addressOf, startLoadEmulator, startReplica } from "./support/replica.js";

/** Replicas behind nginx. */
const REPLICA_COUNT = 3;

/** Calls finished before the test sends SIGTERM to one replica. */
const CALLS_BEFORE_SIGTERM = 150;

/** Upper bound on the calls of each load client, so that a run ends even if the replica never exits. */
const MAX_CALLS_PER_CLIENT = 3000;

/** Calls each client makes after the stopped replica has exited. */
const CALLS_AFTER_EXIT = 20;

/** PubNub latency, in milliseconds, so that the replica has calls in flight when it gets SIGTERM. */
const PUBNUB_LATENCY_MS = 50;

/** Upper bound on /readyz polls while waiting for a stopping replica to report not ready. */
const MAX_READINESS_POLLS = 1000;

/** Replicas and the nginx in front of them. */
interface Cluster {
  readonly replicas: readonly ServiceProcess[];
  readonly nginx: Nginx;
}

let emulator: PubNubEmulator;
let cluster: Cluster | undefined;

beforeAll(async () => {
  emulator = await startLoadEmulator();
  emulator.latencyMs = PUBNUB_LATENCY_MS;
});

afterEach(async () => {
  await cluster?.nginx.stop();
  await Promise.all((cluster?.replicas ?? []).map((replica) => replica.stop()));
  cluster = undefined;
});

afterAll(async () => {
  await emulator?.close();
});

async function startCluster(settings: Record<string, string>): Promise<Cluster> {
  const replicas = await Promise.all(Array.from({ length: REPLICA_COUNT }, () => startReplica(emulator, settings)));
  let nginx: Nginx;
  try {
    nginx = await startNginx(replicas.map(addressOf));
  } catch (error) {
    // Stops the replicas here because afterEach stops only a cluster that started whole.
    await Promise.all(replicas.map((replica) => replica.stop()));
    throw error;
  }
  cluster = { replicas, nginx };
  return cluster;
}

function loadClients(nginx: Nginx): LoadClient[] {
  return [
    grpcJsLoadClient("grpc-js-1", nginx.grpcAddress),
    grpcJsLoadClient("grpc-js-2", nginx.grpcAddress),
    grpcJsLoadClient("grpc-js-3", nginx.grpcAddress),
    grpcJsLoadClient("grpc-js-4", nginx.grpcAddress),
    connectLoadClient("connect-http1", nginx.http1Url, "connect"),
  ];
}

/** Result of a load run through nginx during which one replica got SIGTERM. */
interface StopResult {
  /** Outcomes of the calls up to the stopped replica's exit. */
  readonly outcomes: CallOutcome[];
  /** User ids of the calls that finished before SIGTERM. */
  readonly beforeSigterm: ReadonlySet<string>;
  readonly exitCode: number | null;
  /** Outcomes of the calls made after the stopped replica had exited. */
  readonly afterExit: CallOutcome[];
  readonly otherExitCodes: (number | null)[];
}

/**
 * Drives load through nginx and sends SIGTERM to the first replica after CALLS_BEFORE_SIGTERM
 * calls, then calls onSigterm. The load goes on until that replica has exited, and then each
 * client makes CALLS_AFTER_EXIT calls more. Last, it stops the other replicas, so that all their
 * output has been read.
 */
async function stopOneReplicaUnderLoad(userIdPrefix: string, onSigterm: (stopped: ServiceProcess) => Promise<void>): Promise<StopResult> {
  const { replicas, nginx } = cluster as Cluster;
  const [stopped, ...others] = replicas as [ServiceProcess, ...ServiceProcess[]];
  const clients = loadClients(nginx);
  let exited = false;
  void stopped.exited.then(() => (exited = true));
  const beforeSigterm = new Set<string>();
  let reaction: Promise<void> = Promise.resolve();

  const outcomes = await runLoad({
    clients,
    userIdPrefix,
    maxCallsPerClient: MAX_CALLS_PER_CLIENT,
    stop: () => exited,
    onCall: (finished, outcome) => {
      if (finished <= CALLS_BEFORE_SIGTERM) {
        beforeSigterm.add(outcome.userId);
      }
      if (finished === CALLS_BEFORE_SIGTERM) {
        stopped.child.kill("SIGTERM");
        reaction = onSigterm(stopped);
      }
    },
  });
  await reaction;
  const exitCode = await stopped.exited;
  const afterExit = await runLoad({ clients, userIdPrefix: `${userIdPrefix}-after`, maxCallsPerClient: CALLS_AFTER_EXIT, stop: () => false });
  for (const client of clients) {
    client.close();
  }
  const otherExitCodes = await Promise.all(others.map((replica) => replica.stop()));
  return { outcomes, beforeSigterm, exitCode, afterExit, otherExitCodes };
}

/** Returns, per replica, the call log codes of its calls whose user id starts with the prefix. */
function callsPerReplica(userIdPrefix: string): Map<string, string>[] {
  return (cluster as Cluster).replicas.map((replica) => acceptedCalls(replica.records(), userIdPrefix).callLog);
}

/**
 * Checks what every test of a stop requires. The stopped replica exited 0, and round robin had
 * spread the calls over every replica before the stop. Every OK call was minted by exactly one
 * replica, and no replica failed a call it accepted. Afterwards the other replicas served every call.
 */
function expectCleanStop(result: StopResult, userIdPrefix: string): void {
  expect(result.exitCode).toBe(0);
  expect(result.otherExitCodes).toEqual([0, 0]);
  expect(result.outcomes.length).toBeGreaterThan(CALLS_BEFORE_SIGTERM);
  expect(result.outcomes.filter((outcome) => outcome.client === "connect-http1" && outcome.code === "OK").length).toBeGreaterThan(0);

  // Prefixes end with "-", so that "readiness-" does not match "readiness-after-".
  const perReplica = callsPerReplica(`${userIdPrefix}-`).map((calls) => new Map([...calls].filter(([userId]) => !userId.startsWith(`${userIdPrefix}-after-`))));
  for (const calls of perReplica) {
    expect([...calls.keys()].filter((userId) => result.beforeSigterm.has(userId)).length).toBeGreaterThan(0);
    expect([...calls.values()].filter((code) => code !== "ok")).toEqual([]);
  }
  const ok = result.outcomes.filter((outcome) => outcome.code === "OK").map((outcome) => outcome.userId);
  expect(perReplica.flatMap((calls) => [...calls.keys()]).sort()).toEqual(ok.sort());

  const after = callsPerReplica(`${userIdPrefix}-after-`);
  expect(result.afterExit.filter((outcome) => outcome.code !== "OK")).toEqual([]);
  expect(after[0]?.size).toBe(0);
  expect(after[1]?.size).toBeGreaterThan(0);
  expect(after[2]?.size).toBeGreaterThan(0);
  expect(after.flatMap((calls) => [...calls.keys()]).sort()).toEqual(result.afterExit.map((outcome) => outcome.userId).sort());
}

describe("replicas behind nginx", () => {
  it("lose no call when nginx follows readiness", async () => {
    // The delay gives the test, standing in for a balancer that polls /readyz, time to reload
    // nginx without the replica before the replica closes its listener.
    await startCluster({ SHUTDOWN_DELAY_MS: "4000", SHUTDOWN_DRAIN_MS: "5000" });
    const { replicas, nginx } = cluster as Cluster;
    const followReadiness = async (stopped: ServiceProcess) => {
      for (let poll = 0; poll < MAX_READINESS_POLLS; poll++) {
        if ((await fetch(`${stopped.adminUrl}/readyz`)).status === 503) {
          await nginx.setReplicas(replicas.slice(1).map(addressOf));
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`/readyz of the stopped replica still answered 200 after ${MAX_READINESS_POLLS} polls`);
    };

    const result = await stopOneReplicaUnderLoad("readiness", followReadiness);

    expect(result.outcomes.filter((outcome) => outcome.code !== "OK")).toEqual([]);
    // nginx never had to pass a call on: each access log line names one upstream.
    expect(nginx.accessLog().filter((line) => line.includes(", "))).toEqual([]);
    expectCleanStop(result, "readiness");
  });

  it("fail only calls no replica accepted when nginx ignores readiness", async () => {
    await startCluster({ SHUTDOWN_DELAY_MS: "0", SHUTDOWN_DRAIN_MS: "5000" });

    const result = await stopOneReplicaUnderLoad("passive", async () => undefined);

    // NOTE: nginx fails a gRPC call with 502 when the replica resets a connection or sends GOAWAY
    // just as nginx sends the call. That happened to one call in 4 of 27 runs on a 2-core machine.
    const failed = result.outcomes.filter((outcome) => outcome.code !== "OK");
    expect(failed.filter((outcome) => outcome.detail !== "Received HTTP status code 502")).toEqual([]);
    const accepted = callsPerReplica("passive-");
    expect(failed.filter((outcome) => accepted.some((calls) => calls.has(outcome.userId)))).toEqual([]);
    expectCleanStop(result, "passive");
  });
});
