import { readFileSync } from "node:fs";
import { create, fromBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema, type ErrorInfo, type RetryInfo } from "../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/ts/google/rpc/status_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/ts/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/ts/grpc/reflection/v1/reflection_pb.js";
import {
  IssueChatTokenRequestSchema,
  IssueConferenceTokenRequestSchema,
  Role,
  TokenService,
  type IssueChatTokenRequest,
  type IssueConferenceTokenRequest,
} from "../gen/ts/red5/token/v1/token_service_pb.js";
import { generateApiKey, type GeneratedApiKey } from "../src/auth/api-keys.js";
import { createAuditLog, tokenFingerprint } from "../src/auth/audit.js";
import { parseCallers } from "../src/auth/callers.js";
import { createTokenServiceGrpcJs, type TokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { FROZEN_MS, startHarness, type Harness } from "./support/harness.js";
import { createTestPki, MEETING_SERVICE_SAN, WEBINAR_SERVICE_SAN, type CertifiedKey, type TestPki } from "./support/pki.js";
import { parseWithSdk, readWrite } from "./support/pubnub-sdk.js";

const UNAUTHENTICATED_MESSAGE = "missing or invalid credentials";

const EXAMPLE_CONFIG_FILE = new URL("../config/callers.example.json", import.meta.url);

/** The parts of a caller entry in the callers configuration that the tests change. */
interface CallerEntry {
  name: string;
  apiKeys?: { keyId: string; hash: string }[];
  rateLimit?: { perSecond: number; burst: number };
  [field: string]: unknown;
}

interface CallersConfig {
  roleChatPermissions: unknown;
  callers: CallerEntry[];
}

/** Keys generated for this run. `unconfigured` belongs to no caller. */
interface TestKeys {
  readonly meeting: GeneratedApiKey;
  readonly meetingRotated: GeneratedApiKey;
  readonly webinar: GeneratedApiKey;
  readonly chatReader: GeneratedApiKey;
  readonly limited: GeneratedApiKey;
  readonly unconfigured: GeneratedApiKey;
}

/** A caller, added by the tests, that may issue read-only chat tokens on support-* channels. */
const CHAT_READER_POLICY = {
  rpcs: ["IssueChatToken"],
  channels: ["support-*"],
  chatPermissions: { read: true, write: false },
  maxChatMinutes: 45,
};

/** A caller, added by the tests, with a rate limit of one call per second and a burst of two. */
const LIMITED_POLICY = { rpcs: ["IssueConferenceToken"], roles: ["publisher"], rooms: ["limited-*"] };

/**
 * Reads config/callers.example.json and replaces its API keys, whose secrets the tests do not
 * have, with generated ones. Adds the chat-reader and limited-service callers.
 */
function callersConfig(keys: TestKeys, roleChatPermissions?: unknown): CallersConfig {
  const config = JSON.parse(readFileSync(EXAMPLE_CONFIG_FILE, "utf8")) as CallersConfig;
  const entry = (key: GeneratedApiKey) => ({ keyId: key.keyId, hash: key.hash });
  const caller = (name: string) => {
    const found = config.callers.find((candidate) => candidate.name === name);
    if (found === undefined) {
      throw new Error(`config/callers.example.json has no caller ${name}`);
    }
    return found;
  };

  caller("meeting-service").apiKeys = [entry(keys.meeting), entry(keys.meetingRotated)];
  caller("webinar-service").apiKeys = [entry(keys.webinar)];
  config.callers.push({ name: "chat-reader", apiKeys: [entry(keys.chatReader)], policy: CHAT_READER_POLICY });
  config.callers.push({ name: "limited-service", apiKeys: [entry(keys.limited)], rateLimit: { perSecond: 1, burst: 2 }, policy: LIMITED_POLICY });
  if (roleChatPermissions !== undefined) {
    config.roleChatPermissions = roleChatPermissions;
  }
  return config;
}

/** An audit log destination that keeps every write. pino writes one whole record per call. */
class AuditCapture {
  readonly writes: string[] = [];

  write(chunk: string): void {
    this.writes.push(chunk);
  }
}

/** The controllable clock of a test server, in Unix milliseconds. */
interface TestClock {
  ms: number;
}

interface TestServer {
  readonly harness: Harness;
  readonly audit: AuditCapture;
  readonly clock: TestClock;
}

/** Starts a TLS server that requests client certificates issued by pki.ca, with the test callers. */
async function startAuthServer(pki: TestPki, keys: TestKeys, roleChatPermissions?: unknown): Promise<TestServer> {
  const audit = new AuditCapture();
  const clock: TestClock = { ms: FROZEN_MS };
  const harness = await startHarness({
    tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca.cert },
    callers: parseCallers(callersConfig(keys, roleChatPermissions)),
    auditLog: createAuditLog(audit),
    now: () => clock.ms,
    emulatorNow: () => clock.ms,
  });
  return { harness, audit, clock };
}

/** The error of a failed call, from either client library, with the details the tests read. */
interface CallError {
  readonly code: Code;
  readonly message: string;
  readonly errorInfo: ErrorInfo | undefined;
  readonly retryInfo: RetryInfo | undefined;
}

type Outcome<T> = { readonly ok: true; readonly response: T } | { readonly ok: false; readonly error: CallError };

/** Converts a grpc-js ServiceError or a ConnectError to a CallError. */
function toCallError(caught: unknown): CallError {
  if (caught instanceof Error && "metadata" in caught && caught.metadata instanceof grpc.Metadata) {
    const serviceError = caught as grpc.ServiceError;
    return {
      code: serviceError.code as number as Code,
      message: serviceError.details,
      errorInfo: grpcJsDetail(serviceError, ErrorInfoSchema),
      retryInfo: grpcJsDetail(serviceError, RetryInfoSchema),
    };
  }
  const error = ConnectError.from(caught);
  return {
    code: error.code,
    message: error.rawMessage,
    errorInfo: error.findDetails(ErrorInfoSchema)[0],
    retryInfo: error.findDetails(RetryInfoSchema)[0],
  };
}

/** Decodes one detail from a grpc-js error's grpc-status-details-bin trailer. */
function grpcJsDetail<Desc extends DescMessage>(error: grpc.ServiceError, schema: Desc): MessageShape<Desc> | undefined {
  const [bytes] = error.metadata.get("grpc-status-details-bin");
  if (!(bytes instanceof Buffer)) {
    return undefined;
  }
  for (const detail of fromBinary(StatusSchema, bytes).details) {
    const unpacked = anyUnpack(detail, schema);
    if (unpacked !== undefined) {
      return unpacked;
    }
  }
  return undefined;
}

/**
 * Runs one call and returns its outcome with the audit record it wrote. Fails unless the call
 * wrote exactly one record, on exactly one line.
 */
async function audited<T>(audit: AuditCapture, call: () => Promise<T>): Promise<{ outcome: Outcome<T>; record: Record<string, unknown> }> {
  const before = audit.writes.length;
  const outcome: Outcome<T> = await call().then(
    (response) => ({ ok: true as const, response }),
    (caught: unknown) => ({ ok: false as const, error: toCallError(caught) }),
  );

  expect(audit.writes).toHaveLength(before + 1);
  const line = audit.writes[before] ?? "";
  expect(line.endsWith("\n")).toBe(true);
  expect(line.slice(0, -1)).not.toMatch(/[\r\n\u2028\u2029]/);
  return { outcome, record: JSON.parse(line) as Record<string, unknown> };
}

/** Returns the error of a failed outcome, and fails the test if the call succeeded. */
function errorOf<T>(outcome: Outcome<T>): CallError {
  if (outcome.ok) {
    throw new Error("expected the call to fail, but it succeeded");
  }
  return outcome.error;
}

/** Returns the response of a successful outcome, and fails the test with the error otherwise. */
function responseOf<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) {
    throw new Error(`expected the call to succeed, but it failed with ${Code[outcome.error.code]}: ${outcome.error.message}`);
  }
  return outcome.response;
}

/** Audit record fields for a call that authenticated. */
function apiKeyCaller(name: string, key: GeneratedApiKey) {
  return { name, authenticatedBy: `api-key:${key.keyId}` };
}

function bearer(key: string): { authorization: string } {
  return { authorization: `Bearer ${key}` };
}

type ConferenceFields = MessageInitShape<typeof IssueConferenceTokenRequestSchema>;
type ChatFields = MessageInitShape<typeof IssueChatTokenRequestSchema>;

/** Token responses, as far as the tests read them. */
type TokenResponse = { readonly token: string };

function conferenceRequest(fields: ConferenceFields): IssueConferenceTokenRequest {
  return create(IssueConferenceTokenRequestSchema, { userId: "user-1", ...fields });
}

function chatRequest(fields: ChatFields): IssueChatTokenRequest {
  return create(IssueChatTokenRequestSchema, { userId: "user-1", ...fields });
}

/** TLS options of a connect-node transport: trust the test CA, and present a client certificate if given. */
function tlsOptions(pki: TestPki, client?: CertifiedKey) {
  return client === undefined ? { ca: pki.ca.cert } : { ca: pki.ca.cert, cert: client.cert, key: client.key };
}

/** Creates a connect-node gRPC client of TokenService over TLS (HTTP/2). */
function grpcClient(server: TestServer, pki: TestPki, client?: CertifiedKey) {
  return createClient(TokenService, createGrpcTransport({ baseUrl: server.harness.server.url, nodeOptions: tlsOptions(pki, client) }));
}

/** Creates a connect-node Connect protocol client of TokenService over TLS and HTTP/1.1. */
function connectHttp1Client(server: TestServer, pki: TestPki, client?: CertifiedKey) {
  const transport: Transport = createConnectTransport({ baseUrl: server.harness.server.url, httpVersion: "1.1", nodeOptions: tlsOptions(pki, client) });
  return createClient(TokenService, transport);
}

const grpcJsClients: TokenServiceGrpcJs[] = [];

/** Creates a grpc-js client of TokenService over TLS, which afterEach closes. */
function grpcJsClient(server: TestServer, pki: TestPki, client?: CertifiedKey): TokenServiceGrpcJs {
  const credentials =
    client === undefined ? grpc.credentials.createSsl(pki.ca.cert) : grpc.credentials.createSsl(pki.ca.cert, client.key, client.cert);
  const created = createTokenServiceGrpcJs(`localhost:${server.harness.server.port}`, credentials);
  grpcJsClients.push(created);
  return created;
}

function metadataOf(headers: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) {
    metadata.set(name, value);
  }
  return metadata;
}

let pki: TestPki;
let keys: TestKeys;
let server: TestServer;

beforeAll(async () => {
  pki = createTestPki();
  keys = {
    meeting: generateApiKey(),
    meetingRotated: generateApiKey(),
    webinar: generateApiKey(),
    chatReader: generateApiKey(),
    limited: generateApiKey(),
    unconfigured: generateApiKey(),
  };
  server = await startAuthServer(pki, keys);
});

afterEach(() => {
  for (const client of grpcJsClients.splice(0)) {
    client.client.close();
  }
});

afterAll(async () => {
  await server?.harness.close();
  pki?.remove();
});

const MEETING_REQUEST = { userId: "user-1", roomId: "meeting-1", role: Role.ADMIN, expirationMinutes: 60 };
const WEBINAR_REQUEST = { userId: "user-2", roomId: "webinar-1", role: Role.SUBSCRIBER, expirationMinutes: 30 };

describe("API key authentication", () => {
  it("accepts a configured key", async () => {
    const client = grpcClient(server, pki);

    const { outcome, record } = await audited(server.audit, () =>
      client.issueConferenceToken(conferenceRequest(MEETING_REQUEST), { headers: bearer(keys.meeting.key) }),
    );

    const response = responseOf(outcome);
    expect(record).toEqual({
      level: 30,
      log: "audit",
      msg: "token mint attempt",
      time: new Date(FROZEN_MS).toISOString(),
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      caller: apiKeyCaller("meeting-service", keys.meeting),
      rpc: "IssueConferenceToken",
      userId: "user-1",
      roomId: "meeting-1",
      role: "admin",
      minutes: 60,
      expiresAt: new Date(FROZEN_MS + 60 * 60_000).toISOString(),
      tokenFingerprint: tokenFingerprint(response.token),
      code: "OK",
      latencyMs: expect.any(Number),
    });
  });

  it("accepts a second key of the same caller", async () => {
    const client = grpcJsClient(server, pki);

    const { outcome, record } = await audited(server.audit, () =>
      client.issueChatToken(chatRequest({ channelId: "meeting-2", read: true, write: true }), { metadata: metadataOf(bearer(keys.meetingRotated.key)) }),
    );

    const response = responseOf(outcome);
    expect(record).toMatchObject({
      caller: apiKeyCaller("meeting-service", keys.meetingRotated),
      rpc: "IssueChatToken",
      userId: "user-1",
      channelId: "meeting-2",
      permissions: { read: true, write: true },
      code: "OK",
      tokenFingerprint: tokenFingerprint(response.token),
    });
  });

  it("rejects every bad credential with one message", async () => {
    const wrongSecret = `r5ts_${keys.meeting.keyId}_${keys.unconfigured.key.slice(-43)}`;
    const cases: { name: string; headers: Record<string, string> }[] = [
      { name: "wrong secret", headers: bearer(wrongSecret) },
      { name: "unknown key id", headers: bearer(keys.unconfigured.key) },
      { name: "key without scheme", headers: { authorization: keys.meeting.key } },
      { name: "basic scheme", headers: { authorization: `Basic ${keys.meeting.key}` } },
      { name: "truncated key", headers: bearer(keys.meeting.key.slice(0, -1)) },
      { name: "key with a character added", headers: bearer(`${keys.meeting.key}A`) },
      { name: "scheme alone", headers: { authorization: "Bearer" } },
      { name: "missing credentials", headers: {} },
    ];
    const connectClient = grpcClient(server, pki);
    const grpcJs = grpcJsClient(server, pki);

    for (const { name, headers } of cases) {
      const calls = [
        () => connectClient.issueConferenceToken(conferenceRequest(MEETING_REQUEST), { headers }),
        () => grpcJs.issueConferenceToken(conferenceRequest(MEETING_REQUEST), { metadata: metadataOf(headers) }),
      ];
      for (const call of calls) {
        const { outcome, record } = await audited(server.audit, call);

        const error = errorOf(outcome);
        expect(error.code, name).toBe(Code.Unauthenticated);
        expect(error.message, name).toBe(UNAUTHENTICATED_MESSAGE);
        expect(record, name).toMatchObject({ caller: null, rpc: "IssueConferenceToken", roomId: "meeting-1", code: "UNAUTHENTICATED" });
        expect(record.tokenFingerprint, name).toBeNull();
        expect(record.expiresAt, name).toBeNull();
      }
    }
  });

  it("lets the key decide over another caller's certificate", async () => {
    const client = grpcClient(server, pki, pki.meetingService);

    const allowed = await audited(server.audit, () =>
      client.issueConferenceToken(conferenceRequest(WEBINAR_REQUEST), { headers: bearer(keys.webinar.key) }),
    );
    const denied = await audited(server.audit, () =>
      client.issueConferenceToken(conferenceRequest(MEETING_REQUEST), { headers: bearer(keys.webinar.key) }),
    );
    const wrongKey = await audited(server.audit, () =>
      client.issueConferenceToken(conferenceRequest(MEETING_REQUEST), { headers: bearer(keys.unconfigured.key) }),
    );

    responseOf(allowed.outcome);
    expect(allowed.record).toMatchObject({ caller: apiKeyCaller("webinar-service", keys.webinar), code: "OK" });
    expect(errorOf(denied.outcome).errorInfo?.reason).toBe("policy.role");
    expect(denied.record).toMatchObject({ caller: apiKeyCaller("webinar-service", keys.webinar), code: "PERMISSION_DENIED" });
    expect(errorOf(wrongKey.outcome).code).toBe(Code.Unauthenticated);
    expect(wrongKey.record).toMatchObject({ caller: null, code: "UNAUTHENTICATED" });
  });
});

describe("client certificate authentication", () => {
  it("accepts a certificate with a configured URI SAN", async () => {
    const client = grpcJsClient(server, pki, pki.meetingService);

    const { outcome, record } = await audited(server.audit, () => client.issueConferenceToken(conferenceRequest(MEETING_REQUEST)));

    const response = responseOf(outcome);
    expect(record).toMatchObject({
      caller: { name: "meeting-service", authenticatedBy: `mtls:${MEETING_SERVICE_SAN}` },
      rpc: "IssueConferenceToken",
      userId: "user-1",
      roomId: "meeting-1",
      role: "admin",
      code: "OK",
      tokenFingerprint: tokenFingerprint(response.token),
    });
  });

  it("accepts a certificate with a configured DNS SAN", async () => {
    const clients = [connectHttp1Client(server, pki, pki.webinarService), grpcClient(server, pki, pki.webinarService)];

    for (const client of clients) {
      const { outcome, record } = await audited(server.audit, () => client.issueConferenceToken(conferenceRequest(WEBINAR_REQUEST)));

      const response = responseOf(outcome);
      expect(record).toMatchObject({
        caller: { name: "webinar-service", authenticatedBy: `mtls:${WEBINAR_SERVICE_SAN}` },
        userId: "user-2",
        roomId: "webinar-1",
        role: "subscriber",
        minutes: 30,
        code: "OK",
        tokenFingerprint: tokenFingerprint(response.token),
      });
    }
  });

  it("rejects certificates that identify no caller", async () => {
    const cases: { name: string; certificate: CertifiedKey | undefined }[] = [
      { name: "unknown SAN", certificate: pki.unknownService },
      { name: "expired", certificate: pki.expiredMeetingService },
      { name: "signed by another CA", certificate: pki.otherCaMeetingService },
      { name: "no certificate", certificate: undefined },
    ];

    for (const { name, certificate } of cases) {
      const grpcJs = grpcJsClient(server, pki, certificate);
      const calls: (() => Promise<TokenResponse>)[] = [
        () => grpcJs.issueConferenceToken(conferenceRequest(MEETING_REQUEST)),
        () => grpcClient(server, pki, certificate).issueConferenceToken(conferenceRequest(MEETING_REQUEST)),
        () => connectHttp1Client(server, pki, certificate).issueChatToken(chatRequest({ channelId: "meeting-1", read: true })),
      ];
      for (const call of calls) {
        const { outcome, record } = await audited(server.audit, call);

        const error = errorOf(outcome);
        expect(error.code, name).toBe(Code.Unauthenticated);
        expect(error.message, name).toBe(UNAUTHENTICATED_MESSAGE);
        expect(record, name).toMatchObject({ caller: null, code: "UNAUTHENTICATED", tokenFingerprint: null });
      }
    }
  });
});

describe("open services", () => {
  it("serve health and reflection without credentials", async () => {
    const auditedBefore = server.audit.writes.length;

    for (const certificate of [undefined, pki.otherCaMeetingService]) {
      const transport = createGrpcTransport({ baseUrl: server.harness.server.url, nodeOptions: tlsOptions(pki, certificate) });

      const health = await createClient(Health, transport).check({ service: TokenService.typeName });
      expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);

      const reflection = createClient(ServerReflection, transport).serverReflectionInfo(
        (async function* () {
          yield { messageRequest: { case: "listServices" as const, value: "" } };
        })(),
      );
      const services: string[] = [];
      for await (const response of reflection) {
        if (response.messageResponse.case === "listServicesResponse") {
          services.push(...response.messageResponse.value.service.map((service) => service.name));
        }
      }
      expect(services).toContain(TokenService.typeName);
    }

    expect(server.audit.writes).toHaveLength(auditedBefore);
  });
});

/** One policy case: the caller, the call, and the rule that denies it or undefined when allowed. */
interface PolicyCase {
  readonly name: string;
  readonly caller: "meeting-service" | "webinar-service" | "chat-reader";
  readonly conference?: ConferenceFields;
  readonly chat?: ChatFields;
  readonly rule: string | undefined;
}

const POLICY_CASES: readonly PolicyCase[] = [
  { name: "subscriber in webinar-1 for 30 minutes", caller: "webinar-service", conference: WEBINAR_REQUEST, rule: undefined },
  { name: "publisher role", caller: "webinar-service", conference: { ...WEBINAR_REQUEST, role: Role.PUBLISHER }, rule: "policy.role" },
  { name: "admin role", caller: "webinar-service", conference: { ...WEBINAR_REQUEST, role: Role.ADMIN }, rule: "policy.role" },
  { name: "room matching no character of the wildcard", caller: "webinar-service", conference: { ...WEBINAR_REQUEST, roomId: "webinar-" }, rule: "policy.room" },
  { name: "room outside the pattern", caller: "webinar-service", conference: { ...WEBINAR_REQUEST, roomId: "team-1" }, rule: "policy.room" },
  { name: "31 minutes", caller: "webinar-service", conference: { ...WEBINAR_REQUEST, expirationMinutes: 31 }, rule: "policy.max_minutes" },
  { name: "default 60 minutes", caller: "webinar-service", conference: { ...WEBINAR_REQUEST, expirationMinutes: undefined }, rule: "policy.max_minutes" },
  { name: "chat token RPC", caller: "webinar-service", chat: { channelId: "webinar-1", read: true, ttlMinutes: 30 }, rule: "policy.rpc" },
  { name: "meeting admin for 480 minutes", caller: "meeting-service", conference: { ...MEETING_REQUEST, expirationMinutes: 480 }, rule: undefined },
  { name: "meeting 481 minutes", caller: "meeting-service", conference: { ...MEETING_REQUEST, expirationMinutes: 481 }, rule: "policy.max_minutes" },
  { name: "meeting chat for 480 minutes", caller: "meeting-service", chat: { channelId: "meeting-1", read: true, write: true, ttlMinutes: 480 }, rule: undefined },
  { name: "meeting chat 481 minutes", caller: "meeting-service", chat: { channelId: "meeting-1", read: true, ttlMinutes: 481 }, rule: "policy.max_minutes" },
  { name: "meeting chat on another channel", caller: "meeting-service", chat: { channelId: "webinar-1", read: true }, rule: "policy.channel" },
  { name: "read-only chat", caller: "chat-reader", chat: { channelId: "support-1", read: true, ttlMinutes: 45 }, rule: undefined },
  { name: "write permission", caller: "chat-reader", chat: { channelId: "support-1", write: true, ttlMinutes: 45 }, rule: "policy.chat_permission" },
  { name: "read and write permission", caller: "chat-reader", chat: { channelId: "support-1", read: true, write: true, ttlMinutes: 45 }, rule: "policy.chat_permission" },
  { name: "channel outside the pattern", caller: "chat-reader", chat: { channelId: "meeting-1", read: true, ttlMinutes: 45 }, rule: "policy.channel" },
  { name: "46 chat minutes", caller: "chat-reader", chat: { channelId: "support-1", read: true, ttlMinutes: 46 }, rule: "policy.max_minutes" },
];

/** Text from each caller's policy that a denial must not reveal. */
const POLICY_CONTENTS: Readonly<Record<PolicyCase["caller"], readonly string[]>> = {
  "meeting-service": ["meeting-*", "480"],
  "webinar-service": ["webinar-*", "30", "subscriber"],
  "chat-reader": ["support-*", "45"],
};

describe("caller policies", () => {
  it.each(POLICY_CASES)("$caller: $name", async ({ caller, conference, chat, rule }) => {
    const key = { "meeting-service": keys.meeting, "webinar-service": keys.webinar, "chat-reader": keys.chatReader }[caller];
    const client = grpcClient(server, pki);
    const headers = bearer(key.key);

    const call: () => Promise<TokenResponse> =
      conference !== undefined
        ? () => client.issueConferenceToken(conferenceRequest(conference), { headers })
        : () => client.issueChatToken(chatRequest(chat ?? {}), { headers });
    const { outcome, record } = await audited(server.audit, call);

    expect(record).toMatchObject({ caller: apiKeyCaller(caller, key), rpc: conference !== undefined ? "IssueConferenceToken" : "IssueChatToken" });
    if (conference !== undefined) {
      expect(record.roomId).toBe(conference.roomId);
    } else {
      expect(record.channelId).toBe(chat?.channelId);
    }
    if (rule === undefined) {
      const response = responseOf(outcome);
      expect(record.code).toBe("OK");
      expect(record.tokenFingerprint).toBe(tokenFingerprint(response.token));
      return;
    }

    const error = errorOf(outcome);
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.message).toMatch(/^permission denied: /);
    expect(error.message.endsWith(`[${rule}]`)).toBe(true);
    expect(error.errorInfo?.reason).toBe(rule);
    expect(error.errorInfo?.domain).toBe("red5-token-service");
    for (const content of POLICY_CONTENTS[caller]) {
      expect(error.message).not.toContain(content);
    }
    expect(record.code).toBe("PERMISSION_DENIED");
    expect(record.tokenFingerprint).toBeNull();
    expect(record.expiresAt).toBeNull();
  });
});

describe("rate limit", () => {
  let limitedServer: TestServer;

  beforeAll(async () => {
    limitedServer = await startAuthServer(pki, keys);
  });

  afterAll(async () => {
    await limitedServer?.harness.close();
  });

  it("rejects calls beyond the burst until the bucket refills", async () => {
    const connectClient = grpcClient(limitedServer, pki);
    const grpcJs = grpcJsClient(limitedServer, pki);
    const request = conferenceRequest({ userId: "user-3", roomId: "limited-1", role: Role.PUBLISHER });
    const viaConnect = () => audited(limitedServer.audit, () => connectClient.issueConferenceToken(request, { headers: bearer(keys.limited.key) }));
    const viaGrpcJs = () => audited(limitedServer.audit, () => grpcJs.issueConferenceToken(request, { metadata: metadataOf(bearer(keys.limited.key)) }));
    const limitedCaller = apiKeyCaller("limited-service", keys.limited);

    for (const call of [viaConnect, viaGrpcJs]) {
      const { outcome, record } = await call();
      responseOf(outcome);
      expect(record).toMatchObject({ caller: limitedCaller, code: "OK" });
    }

    for (const call of [viaConnect, viaGrpcJs]) {
      const { outcome, record } = await call();
      const error = errorOf(outcome);
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(error.message).toBe("rate limit exceeded for this caller; retry after 1000 ms");
      expect(error.retryInfo?.retryDelay?.seconds).toBe(1n);
      expect(error.retryInfo?.retryDelay?.nanos).toBe(0);
      expect(record).toMatchObject({ caller: limitedCaller, rpc: "IssueConferenceToken", roomId: "limited-1", code: "RESOURCE_EXHAUSTED", tokenFingerprint: null });
    }

    limitedServer.clock.ms += 999;
    const early = errorOf((await viaGrpcJs()).outcome);
    expect(early.code).toBe(Code.ResourceExhausted);
    expect(early.retryInfo?.retryDelay?.seconds).toBe(0n);
    expect(early.retryInfo?.retryDelay?.nanos).toBe(1_000_000);

    limitedServer.clock.ms += 1;
    const refilled = await viaConnect();
    responseOf(refilled.outcome);
    expect(refilled.record).toMatchObject({ caller: limitedCaller, code: "OK", time: new Date(FROZEN_MS + 1000).toISOString() });

    const next = errorOf((await viaConnect()).outcome);
    expect(next.retryInfo?.retryDelay?.seconds).toBe(1n);
  });
});

describe("role chat permissions", () => {
  /** Issues a conference token as meeting-service and returns the channels its PubNub token grants. */
  async function embeddedChannels(target: TestServer, role: Role) {
    const client = grpcClient(target, pki);
    const response = await client.issueConferenceToken(conferenceRequest({ ...MEETING_REQUEST, role }), { headers: bearer(keys.meeting.key) });
    const pubnubToken = decodeJwt(response.token).pubnubToken;
    expect(typeof pubnubToken).toBe("string");
    return { grants: response.chatGrants, channels: parseWithSdk(pubnubToken as string).resources?.channels };
  }

  it("grants subscribers read only under least-privilege", async () => {
    const subscriber = await embeddedChannels(server, Role.SUBSCRIBER);
    const publisher = await embeddedChannels(server, Role.PUBLISHER);

    expect(subscriber.channels).toEqual({ "meeting-1": readWrite(true, false), "meeting-1-pnpres": readWrite(true, false) });
    expect(subscriber.grants.map(({ channel, read, write }) => ({ channel, read, write }))).toEqual([
      { channel: "meeting-1", read: true, write: false },
      { channel: "meeting-1-pnpres", read: true, write: false },
    ]);
    expect(publisher.channels).toEqual({ "meeting-1": readWrite(true, true), "meeting-1-pnpres": readWrite(true, true) });
  });

  it("grants subscribers read and write under red5", async () => {
    const red5Server = await startAuthServer(pki, keys, "red5");
    try {
      const subscriber = await embeddedChannels(red5Server, Role.SUBSCRIBER);

      expect(subscriber.channels).toEqual({ "meeting-1": readWrite(true, true), "meeting-1-pnpres": readWrite(true, true) });
    } finally {
      await red5Server.harness.close();
    }
  });
});

describe("audit log", () => {
  it("records the code a PubNub failure reaches the caller with", async () => {
    const client = grpcClient(server, pki);
    server.harness.emulator.injectFaults({ kind: "status", status: 503 }, { kind: "status", status: 503 }, { kind: "status", status: 503 });

    const chat = await audited(server.audit, () =>
      client.issueChatToken(chatRequest({ userId: "user-1", channelId: "meeting-1", read: true }), { headers: bearer(keys.meeting.key) }),
    );

    expect(errorOf(chat.outcome).code).toBe(Code.Unavailable);
    expect(chat.record).toMatchObject({ code: "UNAVAILABLE", tokenFingerprint: null });
  });

  it("keeps ids with CR and LF on one line", async () => {
    const client = grpcClient(server, pki);

    const conference = await audited(server.audit, () =>
      client.issueConferenceToken(conferenceRequest({ ...MEETING_REQUEST, userId: "a\r\nb", roomId: "meeting-1\n{\"code\":\"OK\"}" }), {
        headers: bearer(keys.meeting.key),
      }),
    );
    const chat = await audited(server.audit, () =>
      client.issueChatToken(chatRequest({ userId: "a\r\nb", channelId: "meeting-1\r\n", read: true }), { headers: bearer(keys.meeting.key) }),
    );

    expect(errorOf(conference.outcome).code).toBe(Code.InvalidArgument);
    expect(conference.record).toMatchObject({
      caller: apiKeyCaller("meeting-service", keys.meeting),
      userId: "a\r\nb",
      roomId: "meeting-1\n{\"code\":\"OK\"}",
      code: "INVALID_ARGUMENT",
      tokenFingerprint: null,
    });
    expect(errorOf(chat.outcome).code).toBe(Code.InvalidArgument);
    expect(chat.record).toMatchObject({ userId: "a\r\nb", channelId: "meeting-1\r\n", code: "INVALID_ARGUMENT", tokenFingerprint: null });
  });
});
