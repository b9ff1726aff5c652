import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role, TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { generateApiKey, type GeneratedApiKey } from "../src/auth/api-keys.js";
import { createAuditLog } from "../src/auth/audit.js";
import { parseCallers } from "../src/auth/callers.js";
import { createTokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { startHarness, TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET, type Harness } from "./support/harness.js";

/** Length of the secret part of an API key: the base64url text after the key id. */
const API_KEY_SECRET_LENGTH = 43;

const meetingKey = generateApiKey();
const limitedKey = generateApiKey();

/** Lists every secret the server or its callers hold, in each form a careless line could carry it. */
function secretForms(): string[] {
  const apiKeyParts = [meetingKey, limitedKey].flatMap((key) => [key.key, key.key.slice(-API_KEY_SECRET_LENGTH)]);
  const secrets = [TEST_MASTER_KEY, TEST_MASTER_SECRET, TEST_CREDENTIALS.conferenceSecret, TEST_CREDENTIALS.pubnubSecretKey, ...apiKeyParts];
  return secrets.flatMap((secret) => {
    const bytes = Buffer.from(secret, "utf8");
    return [secret, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("hex")];
  });
}

/**
 * Builds the example callers configuration with meeting-service alone, under a generated key, and
 * adds a caller limited to two calls at once, so that its third call is rate limited.
 */
function callersConfig(): unknown {
  const config = JSON.parse(readFileSync(new URL("../config/callers.example.json", import.meta.url), "utf8")) as {
    callers: { name: string; apiKeys?: unknown }[];
  };
  const entry = (key: GeneratedApiKey) => ({ keyId: key.keyId, hash: key.hash });
  config.callers = config.callers.filter((caller) => caller.name === "meeting-service");
  for (const caller of config.callers) {
    caller.apiKeys = [entry(meetingKey)];
  }
  config.callers.push({
    name: "limited-service",
    apiKeys: [entry(limitedKey)],
    rateLimit: { perSecond: 1, burst: 2 },
    policy: { rpcs: ["IssueChatToken"], channels: ["meeting-*"], chatPermissions: { read: true, write: true } },
  } as { name: string; apiKeys: unknown });
  return config;
}

/**
 * Returns the status message of a failed call. ConnectError also has a details property, the
 * error details as a list, so the grpc-js ServiceError is recognized by its numeric code instead.
 */
function messageOf(error: unknown): string {
  if (error instanceof ConnectError) {
    return error.rawMessage;
  }
  const serviceError = error as grpc.ServiceError;
  if (typeof serviceError.code === "number" && typeof serviceError.details === "string") {
    return serviceError.details;
  }
  throw new Error(`unexpected error from a client: ${String(error)}`);
}

let harness: Harness;
const auditLines: string[] = [];
const tokens: string[] = [];
const errorMessages: string[] = [];

beforeAll(async () => {
  harness = await startHarness({
    callBudgetMs: 300,
    callers: parseCallers(callersConfig()),
    auditLog: createAuditLog({ write: (line: string) => auditLines.push(line) }),
  });
  const grpcJs = createTokenServiceGrpcJs(harness.address);
  const connect = createClient(TokenService, createConnectTransport({ baseUrl: harness.server.url, httpVersion: "1.1" }));

  const conferenceRequest = create(IssueConferenceTokenRequestSchema, { userId: "canary-user", roomId: "meeting-canary", role: Role.ADMIN });
  const chatRequest = create(IssueChatTokenRequestSchema, { userId: "canary-user", channelId: "meeting-canary", read: true });
  const metadataFor = (key: string) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${key}`);
    return metadata;
  };
  const withKey = { metadata: metadataFor(meetingKey.key) };
  const connectWithKey = { headers: { authorization: `Bearer ${meetingKey.key}` } };
  const record = (call: Promise<{ token: string }>) =>
    call.then(
      (response) => tokens.push(response.token),
      (error: unknown) => errorMessages.push(messageOf(error)),
    );

  await record(grpcJs.issueConferenceToken(conferenceRequest, withKey));
  await record(grpcJs.issueChatToken(chatRequest, withKey));
  await record(connect.issueConferenceToken(conferenceRequest, connectWithKey));
  await record(connect.issueChatToken(chatRequest, connectWithKey));

  const wrongSecret = `r5ts_${meetingKey.keyId}_${limitedKey.key.slice(-API_KEY_SECRET_LENGTH)}`;
  await record(grpcJs.issueConferenceToken(conferenceRequest, { metadata: metadataFor(wrongSecret) }));
  await record(connect.issueChatToken(chatRequest, { headers: { authorization: `Bearer ${limitedKey.key}x` } }));
  await record(grpcJs.issueConferenceToken(conferenceRequest));
  await record(grpcJs.issueConferenceToken({ ...conferenceRequest, roomId: "webinar-1" }, withKey));
  await record(connect.issueConferenceToken({ ...conferenceRequest, roomId: "bad.room", expirationMinutes: 0 }, connectWithKey));

  for (let call = 0; call < 3; call++) {
    await record(grpcJs.issueChatToken(chatRequest, { metadata: metadataFor(limitedKey.key) }));
  }

  harness.emulator.injectFaults(...Array.from({ length: 3 }, () => ({ kind: "status", status: 503 }) as const));
  await record(grpcJs.issueChatToken(chatRequest, withKey));
  harness.emulator.injectFaults({ kind: "status", status: 403 });
  await record(connect.issueConferenceToken(conferenceRequest, connectWithKey));
  grpcJs.client.close();
});

afterAll(async () => {
  await harness.close();
});

/** Issued tokens, with the PubNub token inside each conference token. */
function issuedTokens(): string[] {
  return tokens.flatMap((token) => {
    if (!token.startsWith("eyJ")) {
      return [token];
    }
    const pubnubToken = decodeJwt(token).pubnubToken;
    return typeof pubnubToken === "string" ? [token, token.split(".").at(-1) ?? token, pubnubToken] : [token];
  });
}

describe("authentication secret canary", () => {
  it("drove success and failure paths", () => {
    expect(tokens).toHaveLength(6);
    expect(errorMessages).toHaveLength(8);
    for (const message of errorMessages) {
      expect(typeof message).toBe("string");
    }
    expect(errorMessages).toContain("missing or invalid credentials");
    expect(errorMessages.some((message) => message.startsWith("permission denied: "))).toBe(true);
    expect(errorMessages.some((message) => message.startsWith("rate limit exceeded"))).toBe(true);
    expect(errorMessages).toContain("PubNub is unavailable; retry later");
    expect(errorMessages.some((message) => message.startsWith("PubNub rejected the service's grant request"))).toBe(true);
    expect(auditLines).toHaveLength(14);
    expect(harness.logs.lines.length).toBeGreaterThanOrEqual(14);
  });

  it("searches text that names the caller's key", () => {
    // The key id is not secret, so it appears. Finding it shows that the searches below read real records.
    expect(auditLines.some((line) => line.includes(`api-key:${meetingKey.keyId}`))).toBe(true);
    expect(auditLines.some((line) => line.includes(`api-key:${limitedKey.keyId}`))).toBe(true);
  });

  it("finds no secret or API key in any log line or audit record", () => {
    for (const form of secretForms()) {
      for (const line of [...harness.logs.lines, ...auditLines]) {
        expect(line).not.toContain(form);
      }
    }
  });

  it("finds no issued token in any log line or audit record", () => {
    const issued = issuedTokens();
    expect(issued.length).toBeGreaterThan(tokens.length);
    for (const token of issued) {
      for (const line of [...harness.logs.lines, ...auditLines]) {
        expect(line).not.toContain(token);
      }
    }
  });

  it("finds no secret or API key in any error message", () => {
    for (const form of secretForms()) {
      for (const message of errorMessages) {
        expect(message).not.toContain(form);
      }
    }
  });
});
