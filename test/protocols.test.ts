import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { IssueChatTokenRequestSchema, Role, TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { FROZEN_SECONDS, startHarness, type Harness } from "./support/harness.js";
import { parseWithSdk } from "./support/pubnub-sdk.js";

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness.close();
});

const transports: { name: string; create: (baseUrl: string) => Transport }[] = [
  { name: "Connect over HTTP/1.1", create: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }) },
  { name: "Connect JSON over HTTP/1.1", create: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }) },
  { name: "Connect over HTTP/2", create: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" }) },
  { name: "gRPC-Web over HTTP/1.1", create: (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }) },
  { name: "gRPC over HTTP/2", create: (baseUrl) => createGrpcTransport({ baseUrl }) },
];

describe.each(transports)("$name", ({ create: createTransport }) => {
  it("issues both tokens", async () => {
    const client = createClient(TokenService, createTransport(harness.server.url));

    const conference = await client.issueConferenceToken({ userId: "user-1", roomId: "room-1", role: Role.PUBLISHER });
    const chat = await client.issueChatToken({ userId: "user-1", channelId: "room-1", write: true, ttlMinutes: 2 });

    expect(conference.token.split(".")).toHaveLength(3);
    expect(conference.issueTime?.seconds).toBe(BigInt(FROZEN_SECONDS));
    expect(parseWithSdk(chat.token).ttl).toBe(2);
  });

  it("returns field violations in the error details", async () => {
    const client = createClient(TokenService, createTransport(harness.server.url));

    const error = await client
      .issueChatToken(create(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "a:b", read: true }))
      .then(() => undefined, (caught: unknown) => ConnectError.from(caught));

    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toBe(
      "invalid request: channel_id: must not contain any of , : * / \\ . or space, which PubNub reserves in channel names [channel.no_reserved_characters]",
    );
    const [badRequest] = error?.findDetails(BadRequestSchema) ?? [];
    expect(badRequest?.fieldViolations.map(({ field, reason }) => ({ field, reason }))).toEqual([
      { field: "channel_id", reason: "channel.no_reserved_characters" },
    ]);
  });
});

describe("request limits", () => {
  it("rejects a request larger than the maximum request size", async () => {
    const client = createClient(TokenService, createGrpcTransport({ baseUrl: harness.server.url }));

    const error = await client
      .issueChatToken({ userId: "u".repeat(20_000), channelId: "c", read: true })
      .then(() => undefined, (caught: unknown) => ConnectError.from(caught));

    expect(error?.code).toBe(Code.ResourceExhausted);
  });
});

describe("Connect JSON parsing", () => {
  async function post(body: Uint8Array | string, headers: Record<string, string> = {}) {
    const response = await fetch(`${harness.server.url}/red5.token.v1.TokenService/IssueChatToken`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
    return { status: response.status, json: (await response.json()) as { code?: string; message?: string; token?: string } };
  }

  it("accepts a well-formed request", async () => {
    const result = await post('{"userId":"user-1","channelId":"lobby","read":true}');

    expect(result.status).toBe(200);
    expect(result.json.token).toMatch(/./);
  });

  it("rejects an unknown field", async () => {
    const result = await post('{"userId":"user-1","channelId":"lobby","read":true,"ttl":5}');

    expect(result.status).toBe(400);
    expect(result.json.code).toBe("invalid_argument");
    expect(result.json.message).toContain("ttl");
  });

  it("rejects an unknown enum name", async () => {
    const response = await fetch(`${harness.server.url}/red5.token.v1.TokenService/IssueConferenceToken`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"userId":"user-1","roomId":"room-1","role":"ROLE_OWNER"}',
    });
    const json = (await response.json()) as { code: string; message: string };

    expect(response.status).toBe(400);
    expect(json.code).toBe("invalid_argument");
    expect(json.message).toContain("ROLE_OWNER");
  });

  it("rejects invalid UTF-8", async () => {
    const body = Buffer.concat([Buffer.from('{"userId":"u'), Buffer.from([0xff]), Buffer.from('","channelId":"c","read":true}')]);

    const result = await post(body);

    expect(result.status).toBe(400);
    expect(result.json.code).toBe("invalid_argument");
  });

  it.each([{ "connect-timeout-ms": "9999999999" }, { "connect-timeout-ms": "2147483648" }])("caps a deadline longer than a timer can wait: %o", async (headers) => {
    const result = await post('{"userId":"user-1","channelId":"lobby","read":true}', headers);

    expect(result.status).toBe(200);
    expect(result.json.token).toMatch(/./);
  });
});
