import { once } from "node:events";
import http2 from "node:http2";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { createTokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { startHarness, type Harness } from "./support/harness.js";
import { grpcEnvelope } from "./support/raw-http2.js";

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ callBudgetMs: 500 });
});

afterAll(async () => {
  await harness.close();
});

/** Sends one raw gRPC request over HTTP/2 and returns its response headers and trailers. */
async function rawGrpcCall(path: string, body: Buffer, endStream = true) {
  const session = http2.connect(harness.server.url);
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  let trailers: http2.IncomingHttpHeaders = {};
  stream.on("trailers", (received) => (trailers = received));
  stream.resume();
  stream.write(body);
  if (endStream) {
    stream.end();
  }
  const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
  await once(stream, "close");
  session.close();
  return { headers, trailers, rstCode: stream.rstCode };
}

function recordsWith(message: string): Record<string, unknown>[] {
  return harness.logs.records().filter((record) => record.msg === message);
}

describe("listener", () => {
  it("routes HTTP/1.1 that arrives one byte at a time", async () => {
    const socket = net.connect(harness.server.port, "127.0.0.1");
    await once(socket, "connect");
    const request = "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let response = "";
    socket.on("data", (chunk: Buffer) => (response += chunk.toString("latin1")));

    for (const character of request.slice(0, 3)) {
      socket.write(character);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.write(request.slice(3));
    await once(socket, "close");

    expect(response).toMatch(/^HTTP\/1\.1 \d{3} /);
  });

  it.each(["/red5.token.v1.TokenService/IssueChatToken", "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check?probe=1"])("cuts a stalled %s body after the call budget", async (path) => {
    const session = http2.connect(harness.server.url);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc" });
    stream.on("error", () => undefined);
    stream.resume();
    stream.write(Buffer.from([0, 0, 0, 0, 50]));

    await once(stream, "close");
    session.close();

    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it.each([
    { path: "/red5.token.v1.TokenService/IssueChatToken", contentType: "application/grpc" },
    { path: "/red5.token.v1.TokenService/IssueChatToken", contentType: "application/proto" },
    { path: "/grpc.health.v1.Health/Check", contentType: "application/grpc" },
  ])("rejects an :authority that is no URL host with 400 ($contentType $path)", async ({ path, contentType }) => {
    const session = http2.connect(harness.server.url);
    const stream = session.request({ ":method": "POST", ":path": path, ":authority": "[::1", "content-type": contentType });
    stream.on("error", () => undefined);
    stream.end(grpcEnvelope(new Uint8Array(0)));
    const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
    stream.resume();
    await once(stream, "close");
    session.close();

    expect(headers[":status"]).toBe(400);
    expect(recordsWith("request rejected: invalid :authority or Host header").at(-1)).toMatchObject({ authority: "[::1" });
    const after = await rawGrpcCall("/grpc.health.v1.Health/Check", grpcEnvelope(new Uint8Array(0)));
    expect(after.trailers["grpc-status"]).toBe("0");
  });

  it("closes a rejected stream whose client is still sending", async () => {
    const session = http2.connect(harness.server.url);
    session.on("error", () => undefined);
    const stream = session.request({ ":method": "POST", ":path": "/red5.token.v1.TokenService/IssueChatToken", "content-type": "application/grpc", "grpc-encoding": "gzip" });
    stream.on("error", () => undefined);
    const logged = recordsWith("call rejected before reaching the service").length;
    // A first message that is not gzip, then more than the 64 KiB flow-control window.
    stream.write(grpcEnvelope(new Uint8Array([1, 2, 3])));
    for (let index = 0; index < 8; index++) {
      stream.write(grpcEnvelope(new Uint8Array(16_000)));
    }
    stream.end();
    const [trailers] = (await once(stream, "trailers")) as [http2.IncomingHttpHeaders];

    expect(trailers["grpc-status"]).not.toBe("0");
    // The edge logs the call once the server's stream has closed.
    await expect.poll(() => recordsWith("call rejected before reaching the service").length, { timeout: 5000 }).toBe(logged + 1);
    session.destroy();
  });

  it("reports an undecodable message as INVALID_ARGUMENT and logs it", async () => {
    const invalidUtf8 = Buffer.from([0x0a, 0x02, 0xc3, 0x28, 0x12, 0x01, 0x63, 0x18, 0x01]);

    const result = await rawGrpcCall("/red5.token.v1.TokenService/IssueChatToken", grpcEnvelope(invalidUtf8));

    const status = result.trailers["grpc-status"] ?? result.headers["grpc-status"];
    const message = String(result.trailers["grpc-message"] ?? result.headers["grpc-message"]);
    expect(status).toBe("3");
    expect(message).toMatch(/^invalid request: not a valid protobuf message/);
    expect(recordsWith("call rejected before reaching the service").some((record) => record.grpcStatus === "3")).toBe(true);
  });

  it("resets an oversized request it will not read", async () => {
    const large = create(IssueChatTokenRequestSchema, { userId: "u".repeat(70_000), channelId: "c", read: true });

    const result = await rawGrpcCall("/red5.token.v1.TokenService/IssueChatToken", grpcEnvelope(toBinary(IssueChatTokenRequestSchema, large)), false);

    expect(result.trailers["grpc-status"] ?? result.headers["grpc-status"]).toBe("8");
    expect(result.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it("keeps a connection usable after rejecting large requests", async () => {
    const roomy = await startHarness();
    const client = createTokenServiceGrpcJs(roomy.address);
    const large = create(IssueChatTokenRequestSchema, { userId: "u".repeat(100_000), channelId: "c", read: true });
    const small = create(IssueChatTokenRequestSchema, { userId: "u", channelId: "c", read: true });

    const rejected = await Promise.allSettled(Array.from({ length: 150 }, () => client.issueChatToken(large)));
    const issued = await Promise.allSettled(Array.from({ length: 300 }, () => client.issueChatToken(small)));
    client.client.close();
    await roomy.close();

    expect(rejected.every((result) => result.status === "rejected")).toBe(true);
    expect(issued.filter((result) => result.status === "rejected").map((result) => String(result.reason))).toEqual([]);
  });
});

describe("maximum connection age", () => {
  it("sends GOAWAY after the age and lets the call in flight finish", async () => {
    const aged = await startHarness({ maxConnectionAgeMs: 1000 });
    aged.emulator.injectFaults({ kind: "delay", ms: 2000 });
    const session = http2.connect(aged.server.url);
    const goaway = once(session, "goaway") as Promise<[number, number]>;

    const body = grpcEnvelope(toBinary(IssueChatTokenRequestSchema, create(IssueChatTokenRequestSchema, { userId: "u", channelId: "c", read: true })));
    const stream = session.request({ ":method": "POST", ":path": "/red5.token.v1.TokenService/IssueChatToken", "content-type": "application/grpc", te: "trailers" });
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("trailers", (received) => (trailers = received));
    stream.resume();
    stream.end(body);
    const [code, lastStreamId] = await goaway;
    const streamOpenAtGoaway = !stream.closed;
    await once(stream, "close");
    session.close();
    await aged.close();

    expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(lastStreamId).toBe(stream.id);
    expect(streamOpenAtGoaway).toBe(true);
    expect(trailers["grpc-status"]).toBe("0");
  });

  it("keeps connections open without the setting", async () => {
    const session = http2.connect(harness.server.url);
    let goaway = false;
    session.on("goaway", () => (goaway = true));

    await rawGrpcCall("/grpc.health.v1.Health/Check", grpcEnvelope(new Uint8Array()));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const open = !session.closed && !session.destroyed;
    session.close();

    expect(goaway).toBe(false);
    expect(open).toBe(true);
  });
});
