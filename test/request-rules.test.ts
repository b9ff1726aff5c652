import { create } from "@bufbuild/protobuf";
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { badRequestOf, createTokenServiceGrpcJs, type TokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { startHarness, type Harness } from "./support/harness.js";

let harness: Harness;
let issueConferenceToken: TokenServiceGrpcJs["issueConferenceToken"];
let issueChatToken: TokenServiceGrpcJs["issueChatToken"];

beforeAll(async () => {
  harness = await startHarness({ tokenMaxMinutes: 1440 });
  ({ issueConferenceToken, issueChatToken } = createTokenServiceGrpcJs(harness.address));
});

afterAll(async () => {
  await harness.close();
});

interface Violation {
  field: string;
  reason: string;
}

/** Calls, expects INVALID_ARGUMENT, and returns the field violations from the error details. */
async function violationsOf(call: Promise<unknown>): Promise<Violation[]> {
  const error = (await call.then(
    () => undefined,
    (caught: unknown) => caught,
  )) as ServiceError | undefined;
  expect(error, "the call succeeded").toBeDefined();
  expect(error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  const badRequest = badRequestOf(error as ServiceError);
  expect(badRequest, "no google.rpc.BadRequest detail").toBeDefined();
  for (const violation of badRequest?.fieldViolations ?? []) {
    expect(error?.details).toContain(`${violation.field || "request"}: ${violation.description} [${violation.reason}]`);
  }
  return (badRequest?.fieldViolations ?? []).map(({ field, reason }) => ({ field, reason }));
}

const conference = (fields: Partial<{ userId: string; roomId: string; role: Role; expirationMinutes: number }>) =>
  create(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.PUBLISHER, ...fields });

const chat = (fields: Partial<{ userId: string; channelId: string; read: boolean; write: boolean; ttlMinutes: number }>) =>
  create(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "room-1", read: true, write: true, ...fields });

/** Id rules shared by user, room and channel ids. */
const ID_CASES: { name: string; value: string; reason: string | undefined }[] = [
  { name: "empty", value: "", reason: "string.min_len" },
  { name: "one character", value: "a", reason: undefined },
  { name: "line feed", value: "a\nb", reason: "id.no_control_characters" },
  { name: "NUL", value: "a\u0000b", reason: "id.no_control_characters" },
  { name: "DEL", value: "a\u007fb", reason: "id.no_control_characters" },
  { name: "C1 control", value: "a\u0085b", reason: "id.no_control_characters" },
  { name: "leading no-break space", value: "\u00a0a", reason: "id.no_surrounding_whitespace" },
  { name: "trailing ideographic space", value: "a\u3000", reason: "id.no_surrounding_whitespace" },
  { name: "non-ASCII letters", value: "zoë-山", reason: undefined },
];

const USER_ID_CASES = [
  ...ID_CASES,
  { name: "92 characters", value: "u".repeat(92), reason: undefined },
  { name: "93 characters", value: "u".repeat(93), reason: "string.max_len" },
  { name: "92 emoji", value: "😀".repeat(92), reason: undefined },
  { name: "93 emoji", value: "😀".repeat(93), reason: "string.max_len" },
  { name: "leading space", value: " user", reason: "id.no_surrounding_whitespace" },
  { name: "trailing tab", value: "user\t", reason: "id.no_control_characters" },
  { name: "inner space", value: "first last", reason: undefined },
  { name: "comma and colon", value: "org:user,1", reason: undefined },
];

const CHANNEL_CASES = [
  ...ID_CASES,
  { name: "85 characters", value: "r".repeat(85), reason: undefined },
  { name: "86 characters", value: "r".repeat(86), reason: "string.max_len" },
  { name: "85 emoji", value: "😀".repeat(85), reason: undefined },
  { name: "86 emoji", value: "😀".repeat(86), reason: "string.max_len" },
  ...[",", ":", "*", "/", "\\", ".", " "].map((character) => ({
    name: `reserved ${JSON.stringify(character)}`,
    value: `room${character}1`,
    reason: "channel.no_reserved_characters",
  })),
  { name: "presence suffix", value: "room-1-pnpres", reason: "channel.not_presence" },
  { name: "presence suffix inside", value: "room-pnpres-1", reason: undefined },
  { name: "dash and underscore", value: "webinar_2026-01", reason: undefined },
];

async function expectRule(call: Promise<unknown>, field: string, reason: string | undefined): Promise<void> {
  if (reason === undefined) {
    await expect(call).resolves.toBeDefined();
    return;
  }
  expect(await violationsOf(call)).toContainEqual({ field, reason });
}

describe("IssueConferenceToken rules", () => {
  it.each(USER_ID_CASES)("user_id $name", async ({ value, reason }) => {
    await expectRule(issueConferenceToken(conference({ userId: value })), "user_id", reason);
  });

  it.each(CHANNEL_CASES)("room_id $name", async ({ value, reason }) => {
    await expectRule(issueConferenceToken(conference({ roomId: value })), "room_id", reason);
  });

  it.each([
    { role: Role.UNSPECIFIED, reason: "required" },
    { role: 99 as Role, reason: "enum.defined_only" },
    { role: Role.SUBSCRIBER, reason: undefined },
  ])("role $role", async ({ role, reason }) => {
    await expectRule(issueConferenceToken(conference({ role })), "role", reason);
  });

  it.each([
    { minutes: 0, reason: "uint32.gte_lte" },
    { minutes: 1, reason: undefined },
    { minutes: 1440, reason: undefined },
    { minutes: 1441, reason: "server.max_minutes" },
    { minutes: 43_200, reason: "server.max_minutes" },
    { minutes: 43_201, reason: "uint32.gte_lte" },
    { minutes: 4_294_967_295, reason: "uint32.gte_lte" },
  ])("expiration_minutes $minutes", async ({ minutes, reason }) => {
    await expectRule(issueConferenceToken(conference({ expirationMinutes: minutes })), "expiration_minutes", reason);
  });

  it("rejects an unset lifetime whose default exceeds the maximum", async () => {
    const strict = await startHarness({ tokenMaxMinutes: 59 });
    const client = createTokenServiceGrpcJs(strict.address);

    const conferenceViolations = await violationsOf(client.issueConferenceToken(conference({})));
    const chatViolations = await violationsOf(client.issueChatToken(chat({})));
    const allowed = await client.issueChatToken(chat({ ttlMinutes: 59 }));
    await strict.close();

    expect(conferenceViolations).toEqual([{ field: "expiration_minutes", reason: "server.max_minutes" }]);
    expect(chatViolations).toEqual([{ field: "ttl_minutes", reason: "server.max_minutes" }]);
    expect(allowed.token).not.toBe("");
  });

  it("reports every broken rule at once", async () => {
    const violations = await violationsOf(issueConferenceToken(conference({ userId: "", roomId: "a.b", role: Role.UNSPECIFIED, expirationMinutes: 0 })));

    expect(violations).toEqual([
      { field: "user_id", reason: "string.min_len" },
      { field: "room_id", reason: "channel.no_reserved_characters" },
      { field: "role", reason: "required" },
      { field: "expiration_minutes", reason: "uint32.gte_lte" },
    ]);
  });

  it("asks PubNub nothing for an invalid request", async () => {
    const before = harness.emulator.counters().requestsReceived;
    await violationsOf(issueConferenceToken(conference({ roomId: "" })));
    expect(harness.emulator.counters().requestsReceived).toBe(before);
  });
});

describe("IssueChatToken rules", () => {
  it.each(USER_ID_CASES)("user_id $name", async ({ value, reason }) => {
    await expectRule(issueChatToken(chat({ userId: value })), "user_id", reason);
  });

  it.each(CHANNEL_CASES)("channel_id $name", async ({ value, reason }) => {
    await expectRule(issueChatToken(chat({ channelId: value })), "channel_id", reason);
  });

  it.each([
    { read: false, write: false, reason: "chat.read_or_write" },
    { read: true, write: false, reason: undefined },
    { read: false, write: true, reason: undefined },
  ])("read $read write $write", async ({ read, write, reason }) => {
    await expectRule(issueChatToken(chat({ read, write })), "", reason);
  });

  it.each([
    { minutes: 0, reason: "uint32.gte_lte" },
    { minutes: 1, reason: undefined },
    { minutes: 1440, reason: undefined },
    { minutes: 1441, reason: "server.max_minutes" },
    { minutes: 43_201, reason: "uint32.gte_lte" },
  ])("ttl_minutes $minutes", async ({ minutes, reason }) => {
    await expectRule(issueChatToken(chat({ ttlMinutes: minutes })), "ttl_minutes", reason);
  });

  it("names the fix in the message", async () => {
    const error = (await issueChatToken(chat({ read: false, write: false })).catch((caught: unknown) => caught)) as ServiceError;
    expect(error.details).toBe(
      "invalid request: request: read and write are both false; set read, write or both to true [chat.read_or_write]",
    );
  });
});
