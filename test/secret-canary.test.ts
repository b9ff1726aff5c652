import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role, TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { createTokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { startHarness, TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET, type Harness } from "./support/harness.js";

/** Lists every secret the server has, in each form a careless log line could carry it. */
function secretForms(): string[] {
  const secrets = [TEST_MASTER_KEY, TEST_MASTER_SECRET, TEST_CREDENTIALS.conferenceSecret, TEST_CREDENTIALS.pubnubSecretKey];
  return secrets.flatMap((secret) => {
    const bytes = Buffer.from(secret, "utf8");
    return [secret, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("hex")];
  });
}

let harness: Harness;
const tokens: string[] = [];
const errorMessages: string[] = [];

beforeAll(async () => {
  harness = await startHarness();
  const { issueConferenceToken: issueConference, issueChatToken: issueChat } = createTokenServiceGrpcJs(harness.address);
  const connect = createClient(TokenService, createConnectTransport({ baseUrl: harness.server.url, httpVersion: "1.1" }));

  const conferenceRequest = create(IssueConferenceTokenRequestSchema, { userId: "canary-user", roomId: "canary-room", role: Role.ADMIN });
  const chatRequest = create(IssueChatTokenRequestSchema, { userId: "canary-user", channelId: "canary-room", read: true });
  const record = (call: Promise<{ token: string }>) =>
    call.then(
      (response) => tokens.push(response.token),
      (error: unknown) => {
        const details = (error as { details?: unknown }).details;
        errorMessages.push(typeof details === "string" ? details : ConnectError.from(error).message);
      },
    );

  await record(issueConference(conferenceRequest));
  await record(issueChat(chatRequest));
  await record(connect.issueConferenceToken(conferenceRequest));
  await record(connect.issueChatToken(chatRequest));
  await record(issueConference({ ...conferenceRequest, roomId: "bad.room", expirationMinutes: 0 }));
  harness.emulator.injectFaults(...Array.from({ length: 3 }, () => ({ kind: "status", status: 503 }) as const));
  await record(issueChat(chatRequest));
  harness.emulator.injectFaults({ kind: "status", status: 403 });
  await record(issueConference(conferenceRequest));
  harness.emulator.injectFaults({ kind: "hang" });
  // Only this call has a short deadline, so that a slow machine cannot fail the others.
  await record(issueChat(chatRequest, { deadlineMs: 500 }));
  harness.emulator.injectFaults({ kind: "drop" }, { kind: "drop" }, { kind: "drop" });
  await record(connect.issueChatToken(chatRequest));
});

afterAll(async () => {
  await harness.close();
});

describe("secret canary", () => {
  it("drove success and failure paths", () => {
    expect(tokens).toHaveLength(4);
    expect(errorMessages).toHaveLength(5);
    expect(harness.logs.lines.length).toBeGreaterThanOrEqual(9);
  });

  it("finds no secret in any log line", () => {
    for (const form of secretForms()) {
      for (const line of harness.logs.lines) {
        expect(line).not.toContain(form);
      }
    }
  });

  it("finds no issued token in any log line", () => {
    for (const token of tokens) {
      const signature = token.split(".").at(-1) ?? token;
      for (const line of harness.logs.lines) {
        expect(line).not.toContain(token);
        expect(line).not.toContain(signature);
      }
    }
  });

  it("finds no secret in any error message", () => {
    for (const form of secretForms()) {
      for (const message of errorMessages) {
        expect(message).not.toContain(form);
      }
    }
  });
});
