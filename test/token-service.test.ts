import { createHmac } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { ServiceError } from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { mintToken } from "../src/emulator/pubnub-emulator.js";
import { createTokenServiceGrpcJs, type TokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { FROZEN_SECONDS, startHarness, TEST_CREDENTIALS, type Harness } from "./support/harness.js";
import { parseWithSdk, readWrite } from "./support/pubnub-sdk.js";

let harness: Harness;
let issueConferenceToken: TokenServiceGrpcJs["issueConferenceToken"];
let issueChatToken: TokenServiceGrpcJs["issueChatToken"];

beforeAll(async () => {
  harness = await startHarness();
  ({ issueConferenceToken, issueChatToken } = createTokenServiceGrpcJs(harness.address));
});

afterAll(async () => {
  await harness.close();
});

beforeEach(() => {
  harness.emulator.clearFaults();
});

function base64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}

/** Builds the conference token Red5's SDK would produce, from the format's rules alone. */
function expectedConferenceToken(claims: Record<string, unknown>): string {
  const signingInput = `${base64url('{"alg":"HS256","typ":"JWT"}')}.${base64url(JSON.stringify(claims))}`;
  const signature = createHmac("sha256", TEST_CREDENTIALS.conferenceSecret).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}

describe("IssueConferenceToken over grpc-js", () => {
  it("matches the golden token under a frozen clock", async () => {
    const response = await issueConferenceToken(
      create(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER }),
    );

    const pubnubToken = mintToken(
      {
        issuedAt: FROZEN_SECONDS,
        ttlMinutes: 60,
        authorizedUuid: "user-1",
        resources: { channels: { "room-1": 3, "room-1-pnpres": 3 }, groups: {}, uuids: {}, users: {}, spaces: {} },
        patterns: { channels: {}, groups: {}, uuids: {}, users: {}, spaces: {} },
        meta: {},
      },
      TEST_CREDENTIALS.pubnubSecretKey,
    );
    const golden = expectedConferenceToken({
      uid: "user-1",
      roomId: "room-1",
      role: "publisher",
      pubnubSubscribeKey: "sub-c-test-subscribe-key",
      pubnubPublishKey: "pub-c-test-publish-key",
      pubnubToken,
      iat: FROZEN_SECONDS,
      exp: FROZEN_SECONDS + 3600,
    });
    expect(response.token).toBe(golden);
  });

  it("verifies with jose under the conference secret", async () => {
    const response = await issueConferenceToken(
      create(IssueConferenceTokenRequestSchema, { userId: "user-7", roomId: "webinar-42", role: Role.SUBSCRIBER, expirationMinutes: 15 }),
    );

    const { payload, protectedHeader } = await jwtVerify(response.token, new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret), {
      algorithms: ["HS256"],
      currentDate: new Date(FROZEN_SECONDS * 1000),
    });
    expect(protectedHeader).toEqual({ alg: "HS256", typ: "JWT" });
    expect(decodeProtectedHeader(response.token)).not.toHaveProperty("kid");
    expect(Object.keys(payload)).toEqual(["uid", "roomId", "role", "pubnubSubscribeKey", "pubnubPublishKey", "pubnubToken", "iat", "exp"]);
    expect(payload.uid).toBe("user-7");
    expect(payload.roomId).toBe("webinar-42");
    expect(payload.role).toBe("subscriber");
    expect(payload.pubnubSubscribeKey).toBe(TEST_CREDENTIALS.pubnubSubscribeKey);
    expect(payload.pubnubPublishKey).toBe(TEST_CREDENTIALS.pubnubPublishKey);
    expect(payload.iat).toBe(FROZEN_SECONDS);
    expect(payload.exp).toBe(FROZEN_SECONDS + 15 * 60);
  });

  it("embeds a chat token the pubnub SDK parses", async () => {
    const response = await issueConferenceToken(
      create(IssueConferenceTokenRequestSchema, { userId: "user-7", roomId: "webinar-42", role: Role.SUBSCRIBER, expirationMinutes: 15 }),
    );
    const { payload } = await jwtVerify(response.token, new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret), {
      currentDate: new Date(FROZEN_SECONDS * 1000),
    });

    const parsed = parseWithSdk(payload.pubnubToken as string);
    expect(parsed.version).toBe(2);
    expect(parsed.timestamp).toBe(FROZEN_SECONDS);
    expect(parsed.ttl).toBe(15);
    expect(parsed.authorized_uuid).toBe("user-7");
    expect(parsed.resources?.channels).toEqual({ "webinar-42": readWrite(true, true), "webinar-42-pnpres": readWrite(true, true) });
    expect(parsed.patterns?.channels ?? {}).toEqual({});
  });

  it("reports times, role and chat grants", async () => {
    const response = await issueConferenceToken(
      create(IssueConferenceTokenRequestSchema, { userId: "u", roomId: "r", role: Role.ADMIN, expirationMinutes: 43_200 }),
    );

    expect(response.issueTime?.seconds).toBe(BigInt(FROZEN_SECONDS));
    expect(response.expireTime?.seconds).toBe(BigInt(FROZEN_SECONDS + 43_200 * 60));
    expect(response.role).toBe(Role.ADMIN);
    expect(response.chatGrants.map(({ channel, read, write }) => ({ channel, read, write }))).toEqual([
      { channel: "r", read: true, write: true },
      { channel: "r-pnpres", read: true, write: true },
    ]);
  });

  it.each([
    [Role.ADMIN, "admin"],
    [Role.PUBLISHER, "publisher"],
    [Role.SUBSCRIBER, "subscriber"],
  ])("writes role %s as %s", async (role, claim) => {
    const response = await issueConferenceToken(create(IssueConferenceTokenRequestSchema, { userId: "u", roomId: "r", role }));
    const { payload } = await jwtVerify(response.token, new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret), {
      currentDate: new Date(FROZEN_SECONDS * 1000),
    });
    expect(payload.role).toBe(claim);
  });

  it("sends the grant request PubNub expects", async () => {
    await issueConferenceToken(create(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER }));

    const request = harness.emulator.recentRequests().at(-1);
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v3/pam/sub-c-test-subscribe-key/grant");
    expect(request?.body).toBe(
      '{"ttl":60,"permissions":{"uuid":"user-1","resources":{"channels":{"room-1":3,"room-1-pnpres":3},"groups":{},"uuids":{},"users":{},"spaces":{}},"patterns":{"channels":{},"groups":{},"uuids":{},"users":{},"spaces":{}},"meta":{}}}',
    );
    expect(request?.query.uuid).toBe("red5-token-service");
    expect(request?.query.timestamp).toBe(String(FROZEN_SECONDS));
    expect(request?.query.requestid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(request?.query.pnsdk).toMatch(/^red5-token-service\//);
    expect(request?.query.signature).toMatch(/^v2\.[A-Za-z0-9_-]{43}$/);
  });
});

describe("IssueChatToken over grpc-js", () => {
  it.each([
    { read: true, write: false, bits: 1 },
    { read: false, write: true, bits: 2 },
    { read: true, write: true, bits: 3 },
  ])("grants read=$read write=$write", async ({ read, write, bits }) => {
    const response = await issueChatToken(
      create(IssueChatTokenRequestSchema, { userId: "user-2", channelId: "lobby", read, write, ttlMinutes: 5 }),
    );

    const parsed = parseWithSdk(response.token);
    expect(parsed.authorized_uuid).toBe("user-2");
    expect(parsed.ttl).toBe(5);
    expect(parsed.timestamp).toBe(FROZEN_SECONDS);
    expect(parsed.resources?.channels).toEqual({ lobby: readWrite(read, write), "lobby-pnpres": readWrite(read, write) });
    expect(response.grants.map(({ channel, read: r, write: w }) => ({ channel, read: r, write: w }))).toEqual([
      { channel: "lobby", read, write },
      { channel: "lobby-pnpres", read, write },
    ]);
    expect(JSON.parse(harness.emulator.recentRequests().at(-1)?.body ?? "{}").permissions.resources.channels).toEqual({
      lobby: bits,
      "lobby-pnpres": bits,
    });
  });

  it("defaults to 60 minutes", async () => {
    const response = await issueChatToken(create(IssueChatTokenRequestSchema, { userId: "u", channelId: "c", read: true }));

    expect(parseWithSdk(response.token).ttl).toBe(60);
    expect(response.issueTime?.seconds).toBe(BigInt(FROZEN_SECONDS));
    expect(response.expireTime?.seconds).toBe(BigInt(FROZEN_SECONDS + 3600));
  });

  it("keeps non-ASCII ids intact", async () => {
    const response = await issueChatToken(
      create(IssueChatTokenRequestSchema, { userId: "usér-ü", channelId: "salon-été", read: true, write: true }),
    );

    const parsed = parseWithSdk(response.token);
    expect(parsed.authorized_uuid).toBe("usér-ü");
    expect(Object.keys(parsed.resources?.channels ?? {})).toEqual(["salon-été", "salon-été-pnpres"]);
  });
});

describe("deadlines", () => {
  it("caps a 30-day deadline instead of failing", async () => {
    const response = await issueChatToken(create(IssueChatTokenRequestSchema, { userId: "u", channelId: "c", read: true }), {
      deadlineMs: 30 * 24 * 3600 * 1000,
    });

    expect(response.token).not.toBe("");
  });
});

describe("grpc-js errors", () => {
  it("returns INVALID_ARGUMENT with a readable message", async () => {
    const error = (await issueConferenceToken(create(IssueConferenceTokenRequestSchema, { userId: "u", roomId: "r" })).catch(
      (caught: unknown) => caught,
    )) as ServiceError;

    expect(error.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(error.details).toBe("invalid request: role: value is required [required]");
  });
});
