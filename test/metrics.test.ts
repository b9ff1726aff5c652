import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { startAdminServer, type AdminServer } from "../src/server/admin.js";
import { createTokenServiceGrpcJs, type TokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { startHarness, TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET, type Harness } from "./support/harness.js";

let harness: Harness;
let admin: AdminServer;
let client: TokenServiceGrpcJs;

beforeAll(async () => {
  harness = await startHarness();
  admin = await startAdminServer({ host: "127.0.0.1", port: 0, registry: harness.server.metrics.registry, health: harness.server.health });
  client = createTokenServiceGrpcJs(harness.address);
});

afterAll(async () => {
  client.client.close();
  await admin.close();
  await harness.close();
});

async function scrape(): Promise<string> {
  const response = await fetch(`${admin.url}/metrics`);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
}

/** Reads one sample's value from Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const prefix = labels === "" ? `${name} ` : `${name}{${labels}} `;
  const line = text.split("\n").find((entry) => entry.startsWith(prefix));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

const CHAT = create(IssueChatTokenRequestSchema, { userId: "u", channelId: "lobby", read: true });
const CHAT_CALLS = 'procedure="red5.token.v1.TokenService/IssueChatToken"';

describe("metrics", () => {
  it("count calls by procedure and code", async () => {
    const before = await scrape();

    await client.issueChatToken(CHAT);
    await client.issueChatToken({ ...CHAT, channelId: "a b" }).catch(() => undefined);

    const after = await scrape();
    expect(sample(after, "token_service_calls_total", `${CHAT_CALLS},code="OK"`) - sample(before, "token_service_calls_total", `${CHAT_CALLS},code="OK"`)).toBe(1);
    expect(
      sample(after, "token_service_calls_total", `${CHAT_CALLS},code="InvalidArgument"`) -
        sample(before, "token_service_calls_total", `${CHAT_CALLS},code="InvalidArgument"`),
    ).toBe(1);
    expect(sample(after, "token_service_call_duration_seconds_count", CHAT_CALLS)).toBeGreaterThanOrEqual(2);
    expect(sample(after, "token_service_calls_in_flight", CHAT_CALLS)).toBe(0);
  });

  it("count tokens issued by kind and role", async () => {
    const before = await scrape();

    await client.issueConferenceToken(create(IssueConferenceTokenRequestSchema, { userId: "u", roomId: "r", role: Role.SUBSCRIBER }));
    await client.issueChatToken(CHAT);

    const after = await scrape();
    const delta = (labels: string) => sample(after, "token_service_tokens_issued_total", labels) - sample(before, "token_service_tokens_issued_total", labels);
    expect(delta('kind="conference",role="subscriber"')).toBe(1);
    expect(delta('kind="chat",role=""')).toBe(1);
  });

  it("count PubNub retries, failures and attempt outcomes", async () => {
    const before = await scrape();
    harness.emulator.injectFaults(...Array.from({ length: 3 }, () => ({ kind: "status", status: 503 }) as const));

    await client.issueChatToken(CHAT).catch(() => undefined);

    const after = await scrape();
    expect(sample(after, "token_service_pubnub_grant_retries_total", "") - sample(before, "token_service_pubnub_grant_retries_total", "")).toBe(2);
    expect(
      sample(after, "token_service_pubnub_grant_failures_total", 'cause="unavailable"') -
        sample(before, "token_service_pubnub_grant_failures_total", 'cause="unavailable"'),
    ).toBe(1);
    expect(
      sample(after, "token_service_pubnub_grant_attempt_duration_seconds_count", 'outcome="http_503"') -
        sample(before, "token_service_pubnub_grant_attempt_duration_seconds_count", 'outcome="http_503"'),
    ).toBe(3);
    expect(sample(after, "token_service_pubnub_circuit_open", "")).toBe(0);
  });

  it("contain no secret, id or token", async () => {
    const issued = await client.issueChatToken({ ...CHAT, userId: "metrics-canary-user" });

    const text = await scrape();

    for (const secret of [TEST_MASTER_KEY, TEST_MASTER_SECRET, TEST_CREDENTIALS.conferenceSecret, TEST_CREDENTIALS.pubnubSecretKey, issued.token, "metrics-canary-user"]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe("admin server", () => {
  it("answers liveness, readiness and unknown paths", async () => {
    expect((await fetch(`${admin.url}/livez`)).status).toBe(200);
    expect((await fetch(`${admin.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${admin.url}/nothing`)).status).toBe(404);
    expect((await fetch(`${admin.url}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("reports not ready once the server shuts down", async () => {
    const stopping = await startHarness();
    const stoppingAdmin = await startAdminServer({ host: "127.0.0.1", port: 0, registry: stopping.server.metrics.registry, health: stopping.server.health });

    await stopping.close();
    const readiness = await fetch(`${stoppingAdmin.url}/readyz`);
    const liveness = await fetch(`${stoppingAdmin.url}/livez`);
    await stoppingAdmin.close();

    expect(readiness.status).toBe(503);
    expect(liveness.status).toBe(200);
  });
});
