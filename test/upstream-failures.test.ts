import { create } from "@bufbuild/protobuf";
import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { createTokenServiceGrpcJs, type TokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { FROZEN_MS, startHarness, type Harness, type HarnessOverrides } from "./support/harness.js";

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(overrides: HarnessOverrides = {}): Promise<TokenServiceGrpcJs["issueChatToken"]> {
  harness = await startHarness(overrides);
  return createTokenServiceGrpcJs(harness.address).issueChatToken;
}

const REQUEST = create(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "lobby", read: true });

async function failure(call: Promise<unknown>): Promise<ServiceError> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught as ServiceError,
  );
  expect(error, "the call succeeded").toBeDefined();
  return error as ServiceError;
}

function upstreamLog(h: Harness): Record<string, unknown> | undefined {
  return h.logs.records().find((record) => record.msg === "call failed at PubNub");
}

describe("PubNub failures", () => {
  it("retries 5xx with a fresh signature, then returns UNAVAILABLE", async () => {
    const issue = await start();
    harness?.emulator.injectFaults({ kind: "status", status: 503 }, { kind: "status", status: 500 }, { kind: "status", status: 502 });

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(error.details).toBe("PubNub is unavailable; retry later");
    const requests = harness?.emulator.recentRequests() ?? [];
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((request) => request.query.requestid)).size).toBe(3);
    expect(new Set(requests.map((request) => request.query.signature)).size).toBe(3);
    expect(harness?.emulator.counters().signaturesRejected).toBe(0);
    expect(upstreamLog(harness as Harness)).toMatchObject({
      code: "Unavailable",
      upstream: { kind: "unavailable", status: 502, attempts: 3 },
    });
  });

  it.each([
    { name: "503", fault: { kind: "status", status: 503 } as const },
    { name: "429", fault: { kind: "status", status: 429 } as const },
    { name: "a dropped connection", fault: { kind: "drop" } as const },
    { name: "500 inside an HTTP 200 body", fault: { kind: "errorInBody", status: 500 } as const },
  ])("recovers from one $name", async ({ fault }) => {
    const issue = await start();
    harness?.emulator.injectFaults(fault);

    const response = await issue(REQUEST);

    expect(response.token).not.toBe("");
    expect(harness?.emulator.counters().requestsReceived).toBe(2);
  });

  it("retries a hung attempt after the attempt timeout", async () => {
    const issue = await start({ pubnubAttemptTimeoutMs: 200 });
    harness?.emulator.injectFaults({ kind: "hang" });

    const response = await issue(REQUEST, { deadlineMs: 5000 });

    expect(response.token).not.toBe("");
    expect(harness?.emulator.counters().requestsReceived).toBe(2);
  });

  it.each([
    { name: "403 invalid signature", fault: { kind: "status", status: 403 } as const },
    { name: "403 inside an HTTP 200 body", fault: { kind: "errorInBody", status: 403 } as const },
  ])("returns FAILED_PRECONDITION for $name without retrying", async ({ fault }) => {
    const issue = await start();
    harness?.emulator.injectFaults(fault);

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(error.details).toBe("PubNub rejected the service's grant request; the operator must check its credentials and clock");
    expect(harness?.emulator.counters().requestsReceived).toBe(1);
  });

  it("returns INVALID_ARGUMENT with PubNub's reason for a 400", async () => {
    const issue = await start();
    harness?.emulator.injectFaults({
      kind: "status",
      status: 400,
      body: '{"error":{"message":"Invalid channel","source":"grant","details":[{"message":"Channel name is reserved.","location":"channels","locationType":"body"}]},"service":"Access Manager","status":400}',
    });

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(error.details).toBe("PubNub rejected the grant as invalid: Invalid channel - channels: Channel name is reserved.");
    expect(harness?.emulator.counters().requestsReceived).toBe(1);
  });

  it.each([
    { name: "an empty token", body: '{"data":{"message":"Success","token":""},"service":"Access Manager","status":200}' },
    { name: "a token with markup", body: '{"data":{"message":"Success","token":"<script>alert(1)</script>"},"service":"Access Manager","status":200}' },
    { name: "a body that is not JSON", body: "<html>gateway</html>" },
  ])("treats $name as a transient failure", async ({ body }) => {
    const issue = await start();
    harness?.emulator.injectFaults({ kind: "status", status: 200, body });

    const response = await issue(REQUEST);

    expect(response.token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
    expect(harness?.emulator.counters().requestsReceived).toBe(2);
  });

  it("returns FAILED_PRECONDITION when PubNub rejects the real signature", async () => {
    const issue = await start({ emulatorSecretKey: "sec-c-some-other-secret" });

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(harness?.emulator.counters().signaturesRejected).toBe(1);
    expect(upstreamLog(harness as Harness)).toMatchObject({ upstream: { kind: "rejected", status: 403 } });
    expect(String((upstreamLog(harness as Harness)?.upstream as { reason: string }).reason)).toContain("Invalid signature");
  });

  it("returns FAILED_PRECONDITION when the server clock is off by more than a minute", async () => {
    const issue = await start({ emulatorNow: () => FROZEN_MS + 61_000 });

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.FAILED_PRECONDITION);
  });

  it("returns DEADLINE_EXCEEDED within the caller's deadline", async () => {
    const issue = await start();
    harness?.emulator.injectFaults({ kind: "hang" });

    const startedAt = performance.now();
    const error = await failure(issue(REQUEST, { deadlineMs: 300 }));

    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(performance.now() - startedAt).toBeLessThan(2000);
  });

  it("bounds a call without a deadline by the server's budget", async () => {
    const issue = await start({ callBudgetMs: 300 });
    harness?.emulator.injectFaults({ kind: "hang" });

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    // The server gives the call a deadline of its budget. The call's signal reports it, because
    // the PubNub client's own timer waits a little past the deadline.
    expect(error.details).toBe("the operation timed out");
    expect(harness?.emulator.counters().requestsReceived).toBe(1);
  });

  it("bounds a gRPC call that carries only connect-timeout-ms by the server's budget", async () => {
    const issue = await start({ callBudgetMs: 300 });
    harness?.emulator.injectFaults({ kind: "hang" });
    const metadata = new Metadata();
    metadata.set("connect-timeout-ms", "60000");

    const error = await failure(issue(REQUEST, { metadata }));

    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(error.details).toBe("the operation timed out");
  });

  it("returns UNAVAILABLE when PubNub cannot be reached", async () => {
    const issue = await start();
    await harness?.emulator.close();

    const error = await failure(issue(REQUEST));

    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(upstreamLog(harness as Harness)).toMatchObject({ upstream: { kind: "unavailable", attempts: 3 } });
  });
});
