import { once } from "node:events";
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { RetryInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/ts/google/rpc/status_pb.js";
import { IssueChatTokenRequestSchema } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { CircuitBreaker } from "../src/pubnub/circuit-breaker.js";
import { ServingStatus } from "../src/server/health.js";
import { createTokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { FROZEN_MS, startHarness, type Harness } from "./support/harness.js";
import { grpcEnvelope } from "./support/raw-http2.js";

describe("CircuitBreaker", () => {
  function breakerAt(clock: { now: number }, failureThreshold = 3) {
    return new CircuitBreaker({ failureThreshold, openMs: 1000, now: () => clock.now });
  }

  it("opens after the threshold of consecutive failures", () => {
    const clock = { now: 0 };
    const breaker = breakerAt(clock);

    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.check()).toEqual({ allowed: true });
    breaker.recordFailure();

    expect(breaker.state).toBe("open");
    expect(breaker.check()).toEqual({ allowed: false, retryAfterMs: 1000 });
  });

  it("starts counting again after a success", () => {
    const breaker = breakerAt({ now: 0 });

    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    breaker.recordFailure();

    expect(breaker.state).toBe("closed");
  });

  it("lets one trial through after the open time", () => {
    const clock = { now: 0 };
    const breaker = breakerAt(clock, 1);
    breaker.recordFailure();

    clock.now = 999;
    expect(breaker.check()).toEqual({ allowed: false, retryAfterMs: 1 });
    clock.now = 1000;
    expect(breaker.check()).toEqual({ allowed: true });
    expect(breaker.state).toBe("half-open");
    expect(breaker.check()).toEqual({ allowed: false, retryAfterMs: 1000 });
  });

  it("closes after a successful trial", () => {
    const clock = { now: 0 };
    const breaker = breakerAt(clock, 1);
    breaker.recordFailure();
    clock.now = 1000;
    breaker.check();

    breaker.recordSuccess();

    expect(breaker.state).toBe("closed");
    expect(breaker.check()).toEqual({ allowed: true });
  });

  it("reopens after a failed trial", () => {
    const clock = { now: 0 };
    const breaker = breakerAt(clock, 3);
    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordFailure();
    clock.now = 1000;
    breaker.check();

    breaker.recordFailure();

    expect(breaker.state).toBe("open");
    expect(breaker.check()).toEqual({ allowed: false, retryAfterMs: 1000 });
  });

  it("allows a new trial after an abandoned one", () => {
    const clock = { now: 0 };
    const breaker = breakerAt(clock, 1);
    breaker.recordFailure();
    clock.now = 1000;
    breaker.check();

    breaker.recordAbandoned();

    expect(breaker.check()).toEqual({ allowed: true });
  });

  it.each([
    { failureThreshold: 0, openMs: 1000, message: "failureThreshold must be a whole number of at least 1; got 0" },
    { failureThreshold: 1.5, openMs: 1000, message: "failureThreshold must be a whole number of at least 1; got 1.5" },
    { failureThreshold: 1, openMs: 0, message: "openMs must be a positive number of milliseconds; got 0" },
  ])("rejects $failureThreshold failures and $openMs ms", ({ failureThreshold, openMs, message }) => {
    expect(() => new CircuitBreaker({ failureThreshold, openMs, now: () => 0 })).toThrow(message);
  });
});

describe("PubNub circuit breaker in the server", () => {
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  const REQUEST = create(IssueChatTokenRequestSchema, { userId: "u", channelId: "lobby", read: true });
  const CHAT_PATH = "/red5.token.v1.TokenService/IssueChatToken";

  function retryDelayMs(error: ServiceError): number | undefined {
    const [bytes] = error.metadata.get("grpc-status-details-bin");
    const status = fromBinary(StatusSchema, bytes as Buffer);
    const detail = status.details.find((any) => any.typeUrl.endsWith("google.rpc.RetryInfo"));
    if (detail === undefined) {
      return undefined;
    }
    const delay = fromBinary(RetryInfoSchema, detail.value).retryDelay;
    return Number(delay?.seconds ?? 0n) * 1000 + (delay?.nanos ?? 0) / 1_000_000;
  }

  /** Sends REQUEST over HTTP/2 with the given grpc-timeout and returns the status trailers. */
  async function grpcStatusWithTimeout(server: Harness, grpcTimeout: string): Promise<{ status: unknown; message: unknown }> {
    const session = http2.connect(server.server.url);
    try {
      const stream = session.request({ ":method": "POST", ":path": CHAT_PATH, "content-type": "application/grpc", te: "trailers", "grpc-timeout": grpcTimeout });
      stream.end(grpcEnvelope(toBinary(IssueChatTokenRequestSchema, REQUEST)));
      stream.resume();
      const [trailers] = (await once(stream, "trailers")) as [http2.IncomingHttpHeaders];
      return { status: trailers["grpc-status"], message: trailers["grpc-message"] };
    } finally {
      session.close();
    }
  }

  it("fails fast while PubNub keeps failing and recovers after", async () => {
    const clock = { now: FROZEN_MS };
    harness = await startHarness({
      now: () => clock.now,
      emulatorNow: () => clock.now,
      pubnubBreakerFailures: 2,
      pubnubBreakerOpenMs: 1000,
    });
    const client = createTokenServiceGrpcJs(harness.address);
    const fail = (call: Promise<unknown>) => call.then(() => undefined, (error: unknown) => error as ServiceError);
    harness.emulator.injectFaults(...Array.from({ length: 6 }, () => ({ kind: "status", status: 503 }) as const));

    const first = await fail(client.issueChatToken(REQUEST));
    const second = await fail(client.issueChatToken(REQUEST));
    const received = harness.emulator.counters().requestsReceived;
    const fast = await fail(client.issueChatToken(REQUEST));

    expect(first?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(second?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(fast?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(fast?.details).toBe("PubNub is unavailable; retry in 1000 ms");
    expect(retryDelayMs(fast as ServiceError)).toBe(1000);
    expect(harness.emulator.counters().requestsReceived).toBe(received);
    expect(harness.server.health.get("red5.token.v1.TokenService")).toBe(ServingStatus.NOT_SERVING);
    expect(harness.server.health.get("")).toBe(ServingStatus.SERVING);

    clock.now += 1000;
    const recovered = await client.issueChatToken(REQUEST);

    expect(recovered.token).not.toBe("");
    expect(harness.server.health.get("red5.token.v1.TokenService")).toBe(ServingStatus.SERVING);
    expect(harness.logs.records().filter((record) => record.msg === "PubNub circuit breaker changed state").map((record) => record.circuit)).toEqual([
      "open",
      "half-open",
      "closed",
    ]);
    client.client.close();
  });

  it("does not open on PubNub's rejections", async () => {
    harness = await startHarness({ pubnubBreakerFailures: 1 });
    const client = createTokenServiceGrpcJs(harness.address);
    harness.emulator.injectFaults({ kind: "status", status: 403 }, { kind: "status", status: 400 });

    const rejected = await client.issueChatToken(REQUEST).catch((error: unknown) => error as ServiceError);
    const invalid = await client.issueChatToken(REQUEST).catch((error: unknown) => error as ServiceError);
    const issued = await client.issueChatToken(REQUEST);

    expect((rejected as ServiceError).code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect((invalid as ServiceError).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(issued.token).not.toBe("");
    client.client.close();
  });

  it("opens when attempts time out before the caller's deadline", async () => {
    harness = await startHarness({ pubnubBreakerFailures: 1, pubnubAttemptTimeoutMs: 200 });
    harness.emulator.injectFaults({ kind: "hang" }, { kind: "hang" });

    const ended = await grpcStatusWithTimeout(harness, "300m");

    expect(ended.status).toBe("4");
    expect(harness.logs.records().filter((record) => record.msg === "PubNub circuit breaker changed state").map((record) => record.circuit)).toEqual(["open"]);
  });

  it("does not open on callers' deadlines", async () => {
    harness = await startHarness({ pubnubBreakerFailures: 1 });
    const client = createTokenServiceGrpcJs(harness.address);
    // A first call compiles the server's code, which can take longer than the deadlines below.
    await client.issueChatToken(REQUEST);
    harness.emulator.latencyMs = 300;

    const whileWaiting = await grpcStatusWithTimeout(harness, "50m");
    const beforeAsking = await grpcStatusWithTimeout(harness, "1n");
    harness.emulator.latencyMs = 0;
    const issued = await client.issueChatToken(REQUEST);

    expect(whileWaiting).toEqual({ status: "4", message: "the operation timed out" });
    expect(beforeAsking).toEqual({ status: "4", message: "deadline exceeded before PubNub was asked" });
    expect(issued.token).not.toBe("");
    expect(harness.emulator.counters().requestsReceived).toBe(3);
    expect(harness.logs.records().filter((record) => record.msg === "PubNub circuit breaker changed state")).toEqual([]);
    expect(harness.logs.records().filter((record) => record.msg === "call failed at PubNub")).toEqual([]);
    client.client.close();
  });
});
