/**
 * SIGTERM of a service process while clients keep calling it.
 *
 * A call is accepted once the server has read its request and passed it to the service's
 * interceptors. From then on it gets one call log record and one audit record, whatever its
 * outcome. The tests check both sides. Every accepted call must end OK at the client, and every
 * call that failed at the client must be one the server never read (connection or stream
 * refused), so the server and the PubNub emulator have no record of it.
 */
import http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequestSchema as HealthCheckRequest,
  type HealthCheckResponseSchema as HealthCheckResponse,
} from "../gen/ts/grpc/health/v1/health_pb.js";
import type { PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { createGrpcJsClient, OWN_CONNECTION, unary } from "./support/grpc-js-client.js";
import { connectLoadClient, grpcJsLoadClient, runLoad, type CallOutcome, type LoadClient } from "./support/load.js";
import { acceptsConnections, type ServiceProcess } from "./support/process.js";
import { FrameType, goawayLastStreamId, RawHttp2Client } from "./support/raw-http2.js";
import { acceptedCalls, addressOf, grantedUserIds, startLoadEmulator, startReplica, unexplainedFailures } from "./support/replica.js";

/** Calls finished before the test sends SIGTERM. */
const CALLS_BEFORE_SIGTERM = 200;

/** Upper bound on the calls of each load client, so that a run ends even if the process never exits. */
const MAX_CALLS_PER_CLIENT = 3000;

/** Upper bound on readiness probes, likewise. */
const MAX_PROBES = 3000;

/** Pause between readiness probes, in milliseconds. */
const PROBE_PAUSE_MS = 5;

/**
 * PubNub latency during the load, in milliseconds, so that at any moment most clients have a call
 * in flight at the server, waiting for PubNub, and the drain has calls to finish.
 */
const LOAD_PUBNUB_LATENCY_MS = 50;

/** A PubNub delay far beyond any drain the tests set, in milliseconds. */
const LONGER_THAN_DRAIN_MS = 60_000;

let emulator: PubNubEmulator;
const replicas: ServiceProcess[] = [];

beforeAll(async () => {
  emulator = await startLoadEmulator();
});

afterEach(async () => {
  emulator.clearFaults();
  emulator.latencyMs = 0;
  await Promise.all(replicas.splice(0).map((replica) => replica.stop()));
});

afterAll(async () => {
  await emulator?.close();
});

async function start(settings: Record<string, string>): Promise<ServiceProcess> {
  const replica = await startReplica(emulator, settings);
  replicas.push(replica);
  return replica;
}

/** What one readiness probe saw, in the order: /readyz, then gRPC health on a new connection. */
interface Probe {
  /** HTTP status of GET /readyz, or "refused" once the admin server has closed. */
  readonly readyz: number | "refused";
  /**
   * Health Check status of the whole server (""), or "refused" once the listener has closed. A
   * connection the kernel accepted just as the listener closed is reset, and counts as refused.
   */
  readonly server: string;
  /** Health Check status of red5.token.v1.TokenService, on the same connection. */
  readonly tokenService: string;
}

/** Probes /readyz and, over a new gRPC connection each time, health, until stop returns true. */
async function probeUntil(replica: ServiceProcess, stop: () => boolean): Promise<Probe[]> {
  const probes: Probe[] = [];
  while (!stop() && probes.length < MAX_PROBES) {
    const readyz = await fetch(`${replica.adminUrl}/readyz`).then(
      (response) => response.status,
      () => "refused" as const,
    );
    const client = createGrpcJsClient(Health, addressOf(replica), grpc.credentials.createInsecure(), OWN_CONNECTION);
    const check = unary<typeof HealthCheckRequest, typeof HealthCheckResponse>(client, "check");
    const status = (service: string) =>
      check(create(HealthCheckRequestSchema, { service })).then(
        (response) => ServingStatus[response.status],
        (error: grpc.ServiceError) => (/ECONNREFUSED|ECONNRESET/.test(error.details) ? "refused" : `${grpc.status[error.code]}: ${error.details}`),
      );
    const server = await status("");
    const tokenService = server === "refused" ? "refused" : await status("red5.token.v1.TokenService");
    client.close();
    probes.push({ readyz, server, tokenService });
    await new Promise((resolve) => setTimeout(resolve, PROBE_PAUSE_MS));
  }
  return probes;
}

function closeAll(clients: readonly LoadClient[]): void {
  for (const client of clients) {
    client.close();
  }
}

describe("SIGTERM under load", () => {
  it("completes every accepted call and exits 0", async () => {
    const replica = await start({ SHUTDOWN_DELAY_MS: "3000", SHUTDOWN_DRAIN_MS: "5000" });
    const clients = [
      grpcJsLoadClient("grpc-js-1", addressOf(replica)),
      grpcJsLoadClient("grpc-js-2", addressOf(replica)),
      grpcJsLoadClient("grpc-js-3", addressOf(replica)),
      connectLoadClient("connect-grpc-1", replica.url, "grpc"),
      connectLoadClient("connect-grpc-2", replica.url, "grpc"),
      connectLoadClient("connect-http1", replica.url, "connect"),
    ];
    let exited = false;
    void replica.exited.then(() => (exited = true));
    let probes: Promise<Probe[]> = Promise.resolve([]);
    emulator.latencyMs = LOAD_PUBNUB_LATENCY_MS;

    const outcomes = await runLoad({
      clients,
      userIdPrefix: "load",
      maxCallsPerClient: MAX_CALLS_PER_CLIENT,
      stop: () => exited,
      onCall: (finished) => {
        if (finished === CALLS_BEFORE_SIGTERM) {
          replica.child.kill("SIGTERM");
          probes = probeUntil(replica, () => exited);
        }
      },
    });
    const exitCode = await replica.exited;
    const observed = await probes;
    closeAll(clients);

    expect(exitCode).toBe(0);
    expectEveryAcceptedCallOk(outcomes, replica, ["connect-http1"]);
    // The load spanned the shutdown: calls succeeded after SIGTERM, and later ones were refused.
    const afterSigterm = outcomes.slice(CALLS_BEFORE_SIGTERM);
    expect(afterSigterm.filter((outcome) => outcome.code === "OK").length).toBeGreaterThan(0);
    expect(afterSigterm.filter((outcome) => outcome.code !== "OK").length).toBeGreaterThan(0);
    expectReadinessOffBeforeListenerClosed(observed);
  });
});

/** Checks the client outcomes against the replica's call log, audit log and the emulator's grants. */
function expectEveryAcceptedCallOk(outcomes: readonly CallOutcome[], replica: ServiceProcess, http1Clients: readonly string[]): void {
  const ok = outcomes.filter((outcome) => outcome.code === "OK").map((outcome) => outcome.userId).sort();
  const failed = outcomes.filter((outcome) => outcome.code !== "OK").map((outcome) => outcome.userId);
  const accepted = acceptedCalls(replica.records(), "load");

  expect(ok.length).toBeGreaterThan(CALLS_BEFORE_SIGTERM);
  expect(unexplainedFailures(outcomes, http1Clients)).toEqual([]);
  expect([...accepted.callLog.keys()].sort()).toEqual(ok);
  expect([...accepted.callLog.values()].filter((code) => code !== "ok")).toEqual([]);
  expect([...accepted.audit.keys()].sort()).toEqual(ok);
  expect([...accepted.audit.values()].filter((code) => code !== "OK")).toEqual([]);
  expect(accepted.rejectedBeforeService).toBe(0);
  expect(grantedUserIds(emulator, "load").sort()).toEqual(ok);
  expect(failed.filter((userId) => accepted.callLog.has(userId))).toEqual([]);
}

/**
 * Checks the order of the shutdown as the probes saw it: /readyz and gRPC health turn to 503 and
 * NOT_SERVING while the listener still accepts connections, stay so, and only then does the
 * listener refuse connections. A probe may straddle the moment the listener closes.
 */
function expectReadinessOffBeforeListenerClosed(probes: readonly Probe[]): void {
  const firstNotReady = probes.findIndex((probe) => probe.readyz === 503);
  const firstRefused = probes.findIndex((probe) => probe.server === "refused");

  expect(firstNotReady).toBeGreaterThanOrEqual(0);
  expect(probes[firstNotReady]?.server).toBe("NOT_SERVING");
  expect(firstRefused).toBeGreaterThan(firstNotReady);
  const afterSigterm = probes.slice(firstNotReady);
  expect(afterSigterm.filter((probe) => probe.readyz !== 503 && probe.readyz !== "refused")).toEqual([]);
  expect(afterSigterm.filter((probe) => probe.server !== "NOT_SERVING" && probe.server !== "refused")).toEqual([]);
  expect(afterSigterm.filter((probe) => probe.tokenService !== "NOT_SERVING" && probe.tokenService !== "refused")).toEqual([]);
  expect(probes.slice(firstRefused).filter((probe) => probe.server !== "refused")).toEqual([]);
}

describe("SIGTERM with slow calls in flight", () => {
  /** Starts one slow call per protocol and resolves once the emulator has received all of them. */
  async function startSlowCalls(replica: ServiceProcess, delayMs: number) {
    const clients = [
      grpcJsLoadClient("grpc-js", addressOf(replica)),
      connectLoadClient("connect-grpc", replica.url, "grpc"),
      connectLoadClient("connect-http1", replica.url, "connect"),
    ];
    const received = emulator.counters().requestsReceived;
    emulator.injectFaults(...clients.map(() => ({ kind: "delay" as const, ms: delayMs })));
    const calls = Promise.all(clients.map((client) => client.issueChatToken(`slow-${delayMs}-${client.name}`)));
    while (emulator.counters().requestsReceived < received + clients.length) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { clients, calls };
  }

  it("lets calls shorter than the drain finish", async () => {
    const replica = await start({ SHUTDOWN_DRAIN_MS: "10000", PUBNUB_ATTEMPT_TIMEOUT_MS: "10000" });
    const { clients, calls } = await startSlowCalls(replica, 1000);

    replica.child.kill("SIGTERM");
    const outcomes = await calls;
    const exitCode = await replica.exited;
    closeAll(clients);

    expect(outcomes.filter((outcome) => outcome.code !== "OK")).toEqual([]);
    expect(exitCode).toBe(0);
    const accepted = acceptedCalls(replica.records(), "slow-1000");
    expect([...accepted.callLog.values()]).toEqual(["ok", "ok", "ok"]);
    expect(replica.records().at(-1)?.msg).toBe("server stopped");
  });

  it("cancels calls still open at the drain deadline and exits 0", async () => {
    const replica = await start({ SHUTDOWN_DRAIN_MS: "1000", PUBNUB_ATTEMPT_TIMEOUT_MS: String(LONGER_THAN_DRAIN_MS) });
    const { clients, calls } = await startSlowCalls(replica, LONGER_THAN_DRAIN_MS);

    replica.child.kill("SIGTERM");
    const outcomes = await calls;
    const exitCode = await replica.exited;
    closeAll(clients);

    expect(exitCode).toBe(0);
    expect(outcomes.map((outcome) => outcome.code).filter((code) => code === "OK")).toEqual([]);
    // Each cancelled call still has its records, written before the process stopped.
    const records = replica.records();
    const accepted = acceptedCalls(records, `slow-${LONGER_THAN_DRAIN_MS}`);
    expect([...accepted.callLog.values()]).toEqual(["Canceled", "Canceled", "Canceled"]);
    expect(accepted.audit.size).toBe(3);
    expect(records.at(-1)?.msg).toBe("server stopped");
  });
});

describe("HTTP/1.1 keep-alive during the drain", () => {
  it("closes the connection after the response in flight", async () => {
    const replica = await start({ SHUTDOWN_DRAIN_MS: "10000", PUBNUB_ATTEMPT_TIMEOUT_MS: "10000" });
    const agent = new http.Agent({ keepAlive: true });
    const received = emulator.counters().requestsReceived;
    emulator.injectFaults({ kind: "delay", ms: 1000 });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.request(
        `${replica.url}/red5.token.v1.TokenService/IssueChatToken`,
        { method: "POST", agent, headers: { "content-type": "application/json" } },
        resolve,
      );
      request.on("error", reject);
      request.end(JSON.stringify({ userId: "keep-alive-1", channelId: "room-1", read: true }));
    });
    while (emulator.counters().requestsReceived === received) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    replica.child.kill("SIGTERM");
    const completed = await response;
    completed.resume();
    const exitCode = await replica.exited;
    agent.destroy();

    expect(completed.statusCode).toBe(200);
    expect(completed.headers.connection).toBe("close");
    expect(exitCode).toBe(0);
  });
});

describe("HTTP/2 GOAWAY at SIGTERM", () => {
  /** The gRPC message of a HealthCheckResponse with the given status (field 1, varint). */
  const healthResponse = (status: ServingStatus) => Buffer.from([0, 0, 0, 0, 2, 0x08, status]);

  it("marks later streams as never processed", async () => {
    const replica = await start({ SHUTDOWN_DRAIN_MS: "5000" });
    const url = new URL(replica.url);
    const client = await RawHttp2Client.connect(Number(url.port));
    client.sendGrpcRequest(1, "/grpc.health.v1.Health/Check", url.host, new Uint8Array());
    await client.waitFor((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & 0x1) !== 0);

    replica.child.kill("SIGTERM");
    await client.waitFor((frame) => frame.type === FrameType.GOAWAY);
    // A request that was on the wire when the GOAWAY left: the client sends it before reading on.
    client.sendGrpcRequest(3, "/grpc.health.v1.Health/Check", url.host, new Uint8Array());
    client.ackPings();
    // Resolves once the server has closed the connection, after its last frame.
    await client.waitFor(() => false);
    const exitCode = await replica.exited;

    expect(client.dataOf(1)).toEqual(healthResponse(ServingStatus.SERVING));
    // The last stream id shows the client that stream 3 was never processed, so it may send the
    // call again elsewhere: grpc-js does so by itself, and nginx with "invalid_header".
    const goaways = client.frames.filter((frame) => frame.type === FrameType.GOAWAY);
    expect(goaways.length).toBeGreaterThan(0);
    expect(goaways.map(goawayLastStreamId).filter((lastStreamId) => lastStreamId !== 1)).toEqual([]);
    expect(client.frames.filter((frame) => frame.streamId === 3)).toEqual([]);
    const healthChecks = replica.records().filter((record) => record.procedure === "grpc.health.v1.Health/Check");
    expect(healthChecks).toHaveLength(1);
    expect(exitCode).toBe(0);
  });

  it("sends GOAWAY on a connection whose first bytes came late", async () => {
    const replica = await start({ SHUTDOWN_DRAIN_MS: "3000" });
    const url = new URL(replica.url);
    // Accepted before SIGTERM, but its first bytes arrive after the listener has closed.
    const client = await RawHttp2Client.connect(Number(url.port), url.hostname, { sendPreface: false });
    // The server accepts connections in order, so once a later one is served, it has this one.
    const later = await RawHttp2Client.connect(Number(url.port), url.hostname);
    later.sendGrpcRequest(1, "/grpc.health.v1.Health/Check", url.host, new Uint8Array());
    await later.waitFor((frame) => frame.type === FrameType.HEADERS && frame.streamId === 1 && (frame.flags & 0x1) !== 0);
    later.close();

    replica.child.kill("SIGTERM");
    while (await acceptsConnections(Number(url.port))) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    client.sendGrpcRequest(1, "/grpc.health.v1.Health/Check", url.host, new Uint8Array(), { withPreface: true });
    // Resolves once the server has closed the connection: after a GOAWAY, or at the drain deadline.
    await client.waitFor(() => false);
    const exitCode = await replica.exited;

    expect(client.dataOf(1)).toEqual(healthResponse(ServingStatus.NOT_SERVING));
    const goaways = client.frames.filter((frame) => frame.type === FrameType.GOAWAY);
    expect(goaways.length).toBeGreaterThan(0);
    expect(goaways.map(goawayLastStreamId).filter((lastStreamId) => lastStreamId !== 1)).toEqual([]);
    expect(exitCode).toBe(0);
  });
});
