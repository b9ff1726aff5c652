import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckRequestSchema } from "../gen/ts/grpc/health/v1/health_pb.js";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { generateApiKey, type GeneratedApiKey } from "../src/auth/api-keys.js";
import { createAuditLog } from "../src/auth/audit.js";
import { parseCallers } from "../src/auth/callers.js";
import { LogCapture, startHarness, type Harness } from "./support/harness.js";
import { grpcEnvelope, RawHttp2Client } from "./support/raw-http2.js";

/**
 * The direct path for unary gRPC calls must behave exactly as connect-node's own path. Two servers
 * with the same settings, one with the direct path and one without, receive the same requests.
 * Their responses (status, headers, body, trailers), call logs, audit records and call counts must match.
 */

const CHAT = "/red5.token.v1.TokenService/IssueChatToken";

/** The servers' call budget: the deadline of calls without one, and the time a body may take. */
const CALL_BUDGET_MS = 1000;
const CONFERENCE = "/red5.token.v1.TokenService/IssueConferenceToken";
const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

interface Server {
  readonly harness: Harness;
  readonly audit: LogCapture;
}

let key: GeneratedApiKey;
let direct: Server;
let viaConnect: Server;

async function startServer(unaryGrpcPath: boolean): Promise<Server> {
  const audit = new LogCapture();
  const callers = parseCallers({
    callers: [
      {
        name: "meeting-service",
        apiKeys: [{ keyId: key.keyId, hash: key.hash }],
        policy: { rpcs: ["IssueConferenceToken", "IssueChatToken"], roles: ["publisher", "subscriber"], rooms: ["room-*"], channels: ["room-*"], chatPermissions: { read: true, write: true }, maxConferenceMinutes: 120 },
        rateLimit: { perSecond: 1, burst: 40 },
      },
    ],
  });
  const harness = await startHarness({ unaryGrpcPath, callers, auditLog: createAuditLog(audit), callBudgetMs: CALL_BUDGET_MS });
  return { harness, audit };
}

beforeAll(async () => {
  key = generateApiKey();
  [direct, viaConnect] = await Promise.all([startServer(true), startServer(false)]);
});

afterAll(async () => {
  await Promise.all([direct?.harness.close(), viaConnect?.harness.close()]);
});

/** One request as sent on the wire: extra headers and the exact body bytes. */
interface WireRequest {
  readonly name: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body: Buffer;
  /** Whether the request carries the API key. Default: true. */
  readonly authenticated?: boolean;
}

/** What a client sees of one response. */
interface WireResponse {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly body: string;
  readonly trailers: Record<string, unknown>;
}

function encode<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Buffer {
  return Buffer.from(toBinary(schema, create(schema, init)));
}


/** grpc-message of a passed deadline: from the call's deadline signal, or from a handler that starts late. */
const DEADLINE_MESSAGES = ["the operation timed out", "deadline exceeded before PubNub was asked"];

const chatRequest = encode(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "room-1", read: true, write: true, ttlMinutes: 5 });
const conferenceRequest = encode(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER, expirationMinutes: 60 });

const REQUESTS: readonly WireRequest[] = [
  { name: "chat token", path: CHAT, body: grpcEnvelope(chatRequest) },
  { name: "conference token", path: CONFERENCE, body: grpcEnvelope(conferenceRequest) },
  { name: "content type application/grpc+proto", path: CHAT, headers: { "content-type": "application/grpc+proto" }, body: grpcEnvelope(chatRequest) },
  { name: "response compression accepted", path: CONFERENCE, headers: { "grpc-accept-encoding": "gzip" }, body: grpcEnvelope(conferenceRequest) },
  { name: "unsupported accepted encodings only", path: CHAT, headers: { "grpc-accept-encoding": "snappy, zstd" }, body: grpcEnvelope(chatRequest) },
  { name: "gzip request", path: CHAT, headers: { "grpc-encoding": "gzip" }, body: grpcEnvelope(gzipSync(chatRequest), 1) },
  { name: "unknown request encoding", path: CHAT, headers: { "grpc-encoding": "snappy" }, body: grpcEnvelope(chatRequest, 1) },
  { name: "compressed flag without an encoding", path: CHAT, body: grpcEnvelope(chatRequest, 1) },
  { name: "flags byte 0x02", path: CHAT, body: grpcEnvelope(chatRequest, 0x02) },
  { name: "flags byte 0x80", path: CHAT, body: grpcEnvelope(chatRequest, 0x80) },
  { name: "flags byte 0x03", path: CHAT, body: grpcEnvelope(chatRequest, 0x03) },
  { name: "deadline given", path: CHAT, headers: { "grpc-timeout": "3S" }, body: grpcEnvelope(chatRequest) },
  { name: "malformed deadline", path: CHAT, headers: { "grpc-timeout": "soon" }, body: grpcEnvelope(chatRequest) },
  { name: "invalid field", path: CHAT, body: grpcEnvelope(encode(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "a:b", read: true })) },
  { name: "no permission requested", path: CHAT, body: grpcEnvelope(encode(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "room-1" })) },
  { name: "denied by policy", path: CONFERENCE, body: grpcEnvelope(encode(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "other-1", role: Role.ADMIN })) },
  { name: "lifetime above the caller's maximum", path: CONFERENCE, body: grpcEnvelope(encode(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER, expirationMinutes: 600 })) },
  { name: "no API key", path: CHAT, body: grpcEnvelope(chatRequest), authenticated: false },
  { name: "not protobuf", path: CHAT, body: grpcEnvelope(Buffer.from([0x0a, 0xff, 0x01])) },
  { name: "empty body", path: CHAT, body: Buffer.alloc(0) },
  { name: "incomplete prefix", path: CHAT, body: Buffer.from([0, 0, 0]) },
  { name: "incomplete message", path: CHAT, body: grpcEnvelope(chatRequest).subarray(0, 12) },
  { name: "two messages", path: CHAT, body: Buffer.concat([grpcEnvelope(chatRequest), grpcEnvelope(chatRequest)]) },
  { name: "trailing bytes", path: CHAT, body: Buffer.concat([grpcEnvelope(chatRequest), Buffer.from([1, 2])]) },
  { name: "declared length above the limit", path: CHAT, body: grpcEnvelope(Buffer.alloc(16), 0, 1_000_000) },
  { name: "message above the limit", path: CHAT, body: grpcEnvelope(encode(IssueChatTokenRequestSchema, { userId: "u".repeat(20_000), channelId: "room-1", read: true })) },
  { name: "JSON over gRPC", path: CHAT, headers: { "content-type": "application/grpc+json" }, body: grpcEnvelope(Buffer.from('{"userId":"user-1","channelId":"room-1","read":true}')) },
  { name: "unknown content type", path: CHAT, headers: { "content-type": "application/grpc+thrift" }, body: grpcEnvelope(chatRequest) },
  { name: "GET", path: CHAT, headers: { ":method": "GET" }, body: Buffer.alloc(0) },
  { name: "health of the server", path: HEALTH_CHECK, body: grpcEnvelope(encode(HealthCheckRequestSchema, {})), authenticated: false },
  { name: "health of an unknown service", path: HEALTH_CHECK, body: grpcEnvelope(encode(HealthCheckRequestSchema, { service: "nope.Service" })), authenticated: false },
  { name: "unknown method", path: "/red5.token.v1.TokenService/IssueNothing", body: grpcEnvelope(chatRequest) },
];

/** Sends one request on a new HTTP/2 connection and collects everything the client receives. */
async function send(server: Server, request: WireRequest): Promise<WireResponse> {
  const session = http2.connect(server.harness.server.url);
  session.on("error", () => undefined);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": request.path,
      "content-type": "application/grpc",
      te: "trailers",
      ...(request.authenticated === false ? {} : { authorization: `Bearer ${key.key}` }),
      ...request.headers,
    });
    const response = collect(stream);
    if (request.body.length > 0) {
      stream.end(request.body);
    } else if (!stream.writableEnded) {
      stream.end();
    }
    return await response;
  } finally {
    session.close();
  }
}

/** Sets both emulators to respond after delayMs during the tests of the enclosing describe. */
function answerPubNubAfter(delayMs: number): void {
  const setLatency = (value: number) => {
    direct.harness.emulator.latencyMs = value;
    viaConnect.harness.emulator.latencyMs = value;
  };
  beforeAll(() => setLatency(delayMs));
  afterAll(() => setLatency(0));
}

/** Line counts of both servers' logs and audit records, and their emulators' grants. */
interface Snapshot {
  readonly logs: readonly [number, number];
  readonly audit: readonly [number, number];
  readonly grants: readonly [number, number];
}

/** Takes a snapshot: index 0 is the server with the direct path, 1 the one without. */
function snapshot(): Snapshot {
  return {
    logs: [direct.harness.logs.lines.length, viaConnect.harness.logs.lines.length],
    audit: [direct.audit.lines.length, viaConnect.audit.lines.length],
    grants: [direct.harness.emulator.counters().grantsIssued, viaConnect.harness.emulator.counters().grantsIssued],
  };
}

/** Returns the log or audit lines a server wrote since the snapshot. */
function newLines(server: Server, before: Snapshot, kind: "logs" | "audit"): string[] {
  const index = server === direct ? 0 : 1;
  const lines = kind === "logs" ? server.harness.logs.lines : server.audit.lines;
  return lines.slice(before[kind][index]);
}

/** Waits until both servers have logged since the snapshot and then stayed quiet for 200 ms. */
async function settled(before: Snapshot): Promise<void> {
  await expect.poll(() => newLines(direct, before, "logs").length > 0 && newLines(viaConnect, before, "logs").length > 0, { timeout: 5000 }).toBe(true);
  let count = -1;
  while (count !== direct.harness.logs.lines.length + viaConnect.harness.logs.lines.length) {
    count = direct.harness.logs.lines.length + viaConnect.harness.logs.lines.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Collects the response of a stream: status, headers, body and trailers. */
function collect(stream: http2.ClientHttp2Stream): Promise<WireResponse> {
  return new Promise<WireResponse>((resolve, reject) => {
    let status = 0;
    let headers: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (received) => {
      status = Number(received[":status"]);
      headers = withoutVolatile(received);
    });
    stream.on("trailers", (received) => {
      trailers = withoutVolatile(received);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("close", () => resolve({ status, headers, body: Buffer.concat(chunks).toString("hex"), trailers }));
    stream.on("error", reject);
  });
}

/** Sends a chat token request and resets the stream with CANCEL after delayMs. */
async function cancelAfter(server: Server, delayMs: number): Promise<void> {
  const session = http2.connect(server.harness.server.url);
  session.on("error", () => undefined);
  const stream = session.request({ ":method": "POST", ":path": CHAT, "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${key.key}` });
  stream.on("error", () => undefined);
  stream.end(grpcEnvelope(chatRequest));
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await new Promise((resolve) => stream.once("close", resolve));
  session.close();
}

function withoutVolatile(headers: http2.IncomingHttpHeaders): Record<string, unknown> {
  const { date: _date, ...rest } = headers;
  return rest;
}

/** Log records without the fields that differ from run to run: times and random request ids. */
function comparableRecords(lines: readonly string[]): unknown[] {
  return lines.map((line) => {
    const { time: _time, latencyMs: _latency, pid: _pid, hostname: _hostname, requestId: _requestId, ...rest } = JSON.parse(line) as Record<string, unknown>;
    return rest;
  });
}

describe("unary gRPC on the direct path", () => {
  it.each(REQUESTS)("answers $name as connect-node does", async (request) => {
    const logsBefore = [direct.harness.logs.lines.length, viaConnect.harness.logs.lines.length];
    const auditBefore = [direct.audit.lines.length, viaConnect.audit.lines.length];

    const expected = await send(viaConnect, request);
    const actual = await send(direct, request);

    expect(actual).toEqual(expected);
    expect(comparableRecords(direct.harness.logs.lines.slice(logsBefore[0]))).toEqual(comparableRecords(viaConnect.harness.logs.lines.slice(logsBefore[1])));
    expect(comparableRecords(direct.audit.lines.slice(auditBefore[0]))).toEqual(comparableRecords(viaConnect.audit.lines.slice(auditBefore[1])));
  });

  describe("with PubNub answering after 300 ms", () => {
    answerPubNubAfter(300);

    // On a busy machine the handler may start after the 50 ms deadline, and then reports that
    // PubNub was not asked, so each path may give either message.
    it("answers a passed deadline as connect-node does", async () => {
      const request: WireRequest = { name: "short deadline", path: CHAT, headers: { "grpc-timeout": "50m" }, body: grpcEnvelope(chatRequest) };
      const logsBefore = [direct.harness.logs.lines.length, viaConnect.harness.logs.lines.length];

      const [expected, actual] = await Promise.all([send(viaConnect, request), send(direct, request)]);

      const { "grpc-message": expectedMessage, ...expectedTrailers } = expected.trailers;
      const { "grpc-message": actualMessage, ...actualTrailers } = actual.trailers;
      expect({ ...actual, trailers: actualTrailers }).toEqual({ ...expected, trailers: expectedTrailers });
      expect(actual.trailers["grpc-status"]).toBe("4");
      expect(DEADLINE_MESSAGES).toContain(expectedMessage);
      expect(DEADLINE_MESSAGES).toContain(actualMessage);
      const codes = (lines: readonly string[]) => lines.map((line) => (JSON.parse(line) as { code?: string }).code);
      expect(codes(viaConnect.harness.logs.lines.slice(logsBefore[1]))).toEqual(["DeadlineExceeded"]);
      expect(codes(direct.harness.logs.lines.slice(logsBefore[0]))).toEqual(["DeadlineExceeded"]);
    });

    it("logs a call the client cancels as connect-node does", async () => {
      const logsBefore = [direct.harness.logs.lines.length, viaConnect.harness.logs.lines.length];

      await Promise.all([cancelAfter(viaConnect, 50), cancelAfter(direct, 50)]);
      const callLog = async (server: Server, from: number) => {
        await expect.poll(() => server.harness.logs.lines.slice(from).some((line) => line.includes('"msg":"call ')), { timeout: 2000 }).toBe(true);
        return comparableRecords(server.harness.logs.lines.slice(from));
      };

      const expected = await callLog(viaConnect, logsBefore[1] as number);
      expect(await callLog(direct, logsBefore[0] as number)).toEqual(expected);
      expect(JSON.stringify(expected)).toContain("Canceled");
    });
  });

  describe("calls the client abandons", () => {
    answerPubNubAfter(300);

    const endings: { name: string; end: (client: RawHttp2Client) => void }[] = [
      { name: "reset with CANCEL", end: (client) => client.resetStream(1, http2.constants.NGHTTP2_CANCEL) },
      { name: "reset with NO_ERROR", end: (client) => client.resetStream(1, http2.constants.NGHTTP2_NO_ERROR) },
      { name: "connection closed", end: (client) => client.close() },
    ];

    it.each(endings)("mints nothing for a message left open, then $name", async ({ end }) => {
      const run = async (server: Server) => {
        const client = await RawHttp2Client.connect(server.harness.server.port);
        client.sendGrpcRequest(1, CHAT, `127.0.0.1:${server.harness.server.port}`, chatRequest, { headers: { authorization: `Bearer ${key.key}` }, endStream: false });
        await new Promise((resolve) => setTimeout(resolve, 50));
        end(client);
        client.close();
      };
      const before = snapshot();

      await Promise.all([run(viaConnect), run(direct)]);
      await settled(before);

      expect(comparableRecords(newLines(direct, before, "logs"))).toEqual(comparableRecords(newLines(viaConnect, before, "logs")));
      expect(comparableRecords(newLines(direct, before, "audit"))).toEqual(comparableRecords(newLines(viaConnect, before, "audit")));
      expect(direct.harness.emulator.counters().grantsIssued).toBe(before.grants[0]);
      expect(viaConnect.harness.emulator.counters().grantsIssued).toBe(before.grants[1]);
    });
  });

  it.each([0, 0x80])("starts the deadline at the headers (flags %i)", async (flags) => {
    const late = async (server: Server): Promise<WireResponse> => {
      const session = http2.connect(server.harness.server.url);
      session.on("error", () => undefined);
      const stream = session.request({ ":method": "POST", ":path": CHAT, "content-type": "application/grpc", te: "trailers", "grpc-timeout": "200m", authorization: `Bearer ${key.key}` });
      stream.on("error", () => undefined);
      const response = collect(stream);
      await new Promise((resolve) => setTimeout(resolve, 400));
      stream.end(grpcEnvelope(chatRequest, flags));
      try {
        return await response;
      } finally {
        session.close();
      }
    };
    const before = snapshot();

    const [expected, actual] = await Promise.all([late(viaConnect), late(direct)]);

    expect(actual).toEqual(expected);
    expect(actual.trailers["grpc-status"]).toBe("4");
    expect(direct.harness.emulator.counters().grantsIssued).toBe(before.grants[0]);
    expect(comparableRecords(newLines(direct, before, "logs"))).toEqual(comparableRecords(newLines(viaConnect, before, "logs")));
  });

  // connect-node writes status 13 into trailers the reset stream never sends, and its log record
  // names that status. The direct path writes nothing, so its record has no grpcStatus.
  it("logs a body cut at the call budget as rejected", async () => {
    const stall = async (server: Server) => {
      const session = http2.connect(server.harness.server.url);
      session.on("error", () => undefined);
      const stream = session.request({ ":method": "POST", ":path": CHAT, "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${key.key}` });
      stream.on("error", () => undefined);
      stream.write(grpcEnvelope(chatRequest).subarray(0, 3));
      await new Promise((resolve) => stream.once("close", resolve));
      session.close();
      return stream.rstCode;
    };
    const before = snapshot();

    const [expected, actual] = await Promise.all([stall(viaConnect), stall(direct)]);
    await settled(before);

    expect(actual).toBe(expected);
    expect(actual).toBe(http2.constants.NGHTTP2_CANCEL);
    const withoutStatus = (records: unknown[]) => records.map((record) => ({ ...(record as object), grpcStatus: undefined }));
    const directRecords = comparableRecords(newLines(direct, before, "logs"));
    expect(withoutStatus(directRecords)).toEqual(withoutStatus(comparableRecords(newLines(viaConnect, before, "logs"))));
    expect(directRecords).toMatchObject([{ msg: "call rejected before reaching the service" }]);
    expect(directRecords[0]).not.toHaveProperty("grpcStatus");
  });

  it("counts the same calls by method and code", async () => {
    const counted = async (server: Server) =>
      (await server.harness.server.metrics.registry.getSingleMetricAsString("token_service_calls_total")).split("\n").filter((line) => !line.startsWith("#"));

    expect(await counted(direct)).toEqual(await counted(viaConnect));
    expect(await counted(direct)).not.toEqual([]);
  });
});
