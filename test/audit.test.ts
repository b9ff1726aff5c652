import { describe, expect, it } from "vitest";
import {
  createAuditLog,
  createAuditLogger,
  MAX_AUDITED_STRING_LENGTH,
  tokenFingerprint,
  type ChatAuditEntry,
  type ConferenceAuditEntry,
} from "../src/auth/audit.js";

/** A pino destination that keeps each write. pino writes one whole record per call. */
class CapturedWrites {
  readonly writes: string[] = [];

  write(chunk: string): void {
    this.writes.push(chunk);
  }

  /** Checks that every write is exactly one line, and returns each parsed. */
  records(): Record<string, unknown>[] {
    return this.writes.map((chunk) => {
      expect(chunk.endsWith("\n")).toBe(true);
      expect(chunk.slice(0, -1)).not.toMatch(/[\r\n\u0085\u2028\u2029]/);
      return JSON.parse(chunk) as Record<string, unknown>;
    });
  }
}

const NOW = new Date("2026-01-15T12:00:00Z");

const CONFERENCE_TOKEN = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1aWQiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";

const conferenceEntry: ConferenceAuditEntry = {
  time: NOW,
  requestId: "req-1",
  caller: { name: "billing", authenticatedBy: "api-key:key-2026-01" },
  rpc: "IssueConferenceToken",
  userId: "user-1",
  roomId: "webinar-1",
  role: "publisher",
  minutes: 60,
  expiresAt: new Date("2026-01-15T13:00:00Z"),
  tokenFingerprint: tokenFingerprint(CONFERENCE_TOKEN),
  code: "OK",
  latencyMs: 12.5,
};

const chatEntry: ChatAuditEntry = {
  time: NOW,
  requestId: "req-2",
  caller: { name: "support", authenticatedBy: "mtls:spiffe://example.test/support" },
  rpc: "IssueChatToken",
  userId: "user-2",
  channelId: "support-7",
  permissions: { read: true, write: true },
  minutes: 90,
  expiresAt: undefined,
  tokenFingerprint: undefined,
  code: "PERMISSION_DENIED",
  latencyMs: 0.25,
};

function recordOnce(entry: ConferenceAuditEntry | ChatAuditEntry): Record<string, unknown> {
  const destination = new CapturedWrites();
  createAuditLog(destination).record(entry);
  const records = destination.records();
  expect(records).toHaveLength(1);
  return records[0] as Record<string, unknown>;
}

describe("createAuditLog", () => {
  it("records a conference token issued", () => {
    const destination = new CapturedWrites();

    createAuditLog(destination).record(conferenceEntry);

    expect(destination.writes).toEqual([
      '{"level":30,"log":"audit","time":"2026-01-15T12:00:00.000Z","requestId":"req-1",' +
        '"caller":{"name":"billing","authenticatedBy":"api-key:key-2026-01"},"rpc":"IssueConferenceToken",' +
        '"userId":"user-1","roomId":"webinar-1","role":"publisher","minutes":60,"expiresAt":"2026-01-15T13:00:00.000Z",' +
        `"tokenFingerprint":"${tokenFingerprint(CONFERENCE_TOKEN)}","code":"OK","latencyMs":12.5,"msg":"token mint attempt"}\n`,
    ]);
  });

  it("records a chat token denied", () => {
    expect(recordOnce(chatEntry)).toStrictEqual({
      level: 30,
      log: "audit",
      time: "2026-01-15T12:00:00.000Z",
      requestId: "req-2",
      caller: { name: "support", authenticatedBy: "mtls:spiffe://example.test/support" },
      rpc: "IssueChatToken",
      userId: "user-2",
      channelId: "support-7",
      permissions: { read: true, write: true },
      minutes: 90,
      expiresAt: null,
      tokenFingerprint: null,
      code: "PERMISSION_DENIED",
      latencyMs: 0.25,
      msg: "token mint attempt",
    });
  });

  it("records an unauthenticated attempt", () => {
    const record = recordOnce({ ...conferenceEntry, caller: undefined, role: undefined, expiresAt: undefined, tokenFingerprint: undefined, code: "UNAUTHENTICATED" });

    expect(record.caller).toBeNull();
    expect(record.role).toBeNull();
    expect(record.expiresAt).toBeNull();
    expect(record.tokenFingerprint).toBeNull();
    expect(record.code).toBe("UNAUTHENTICATED");
  });

  it("copies only the fields of an entry", () => {
    // An object with more fields than AuditEntry type-checks when it is not a literal.
    const widened = { ...chatEntry, token: "pubnub-token", apiKey: "key-secret", caller: { ...chatEntry.caller, key: "key-secret" } };

    const destination = new CapturedWrites();
    createAuditLog(destination).record(widened as ChatAuditEntry);

    expect(destination.writes.join("")).not.toContain("pubnub-token");
    expect(destination.writes.join("")).not.toContain("key-secret");
    expect(Object.keys(destination.records()[0] ?? {})).toEqual([
      "level",
      "log",
      "time",
      "requestId",
      "caller",
      "rpc",
      "userId",
      "channelId",
      "permissions",
      "minutes",
      "expiresAt",
      "tokenFingerprint",
      "code",
      "latencyMs",
      "msg",
    ]);
  });

  it("writes no token", () => {
    const destination = new CapturedWrites();

    createAuditLog(destination).record(conferenceEntry);

    const output = destination.writes.join("");
    for (const part of [CONFERENCE_TOKEN, ...CONFERENCE_TOKEN.split(".")]) {
      expect(output).not.toContain(part);
    }
  });

  /** Ids that try to end a record early or forge another one. */
  const HOSTILE_IDS: [string, string][] = [
    ["line feed", 'room\n{"level":30,"code":"OK"}'],
    ["carriage return", "room\r{}"],
    ["CRLF", 'room\r\n{"code":"OK","msg":"token mint attempt"}\r\n'],
    ["line separator", "room\u2028{}"],
    ["paragraph separator", "room\u2029{}"],
    ["next line (NEL)", "room\u0085{}"],
    ["other C1 control", "room\u009b{}"],
    ["double quote", 'room","code":"OK'],
    ["backslash", 'room\\","code":"OK'],
    ["closing brace", 'room"}\n{"rpc":"IssueChatToken'],
    ["NUL", "room\u0000x"],
    ["unpaired surrogate", "room\ud800x"],
  ];

  it.each(HOSTILE_IDS)("keeps an id with %s in one record", (_case, id) => {
    const destination = new CapturedWrites();
    const log = createAuditLog(destination);

    log.record({ ...conferenceEntry, requestId: id, userId: id, roomId: id, caller: { name: id, authenticatedBy: `mtls:${id}` } });
    log.record({ ...chatEntry, channelId: id });

    const [conference, chat] = destination.records();
    expect(destination.writes).toHaveLength(2);
    expect(conference?.requestId).toBe(id);
    expect(conference?.userId).toBe(id);
    expect(conference?.roomId).toBe(id);
    expect(conference?.caller).toEqual({ name: id, authenticatedBy: `mtls:${id}` });
    expect(conference?.code).toBe("OK");
    expect(chat?.channelId).toBe(id);
    expect(chat?.code).toBe("PERMISSION_DENIED");
  });

  it("cuts long ids by code point", () => {
    const long = "😀".repeat(MAX_AUDITED_STRING_LENGTH + 1);
    const longest = "😀".repeat(MAX_AUDITED_STRING_LENGTH);

    const record = recordOnce({ ...conferenceEntry, requestId: long, userId: longest, roomId: long });

    expect(MAX_AUDITED_STRING_LENGTH).toBe(128);
    expect(record.requestId).toBe(longest);
    expect(record.userId).toBe(longest);
    expect(record.roomId).toBe(longest);
  });
});

describe("createAuditLogger", () => {
  it("redacts secret field names", () => {
    const destination = new CapturedWrites();

    createAuditLogger(destination).info({
      token: "t-1",
      key: "k-1",
      secret: "s-1",
      authorization: "Bearer a-1",
      caller: { key: "k-2", name: "billing" },
      request: { headers: { authorization: "Bearer a-2" } },
    });

    const [record] = destination.records();
    expect(record).toStrictEqual({
      level: 30,
      log: "audit",
      token: "[redacted]",
      key: "[redacted]",
      secret: "[redacted]",
      authorization: "[redacted]",
      caller: { key: "[redacted]", name: "billing" },
      request: { headers: { authorization: "[redacted]" } },
    });
  });
});

describe("tokenFingerprint", () => {
  it("takes 12 hex digits of SHA-256", () => {
    // Expected digests computed with sha256sum.
    expect(tokenFingerprint("abc")).toBe("ba7816bf8f01");
    expect(tokenFingerprint("")).toBe("e3b0c44298fc");
  });

  it("hashes the UTF-8 text", () => {
    // SHA-256 of the bytes c3 a9 (é in UTF-8), computed with sha256sum.
    expect(tokenFingerprint("\u00e9")).toBe("4a99557e4033");
  });

  it("is stable and short", () => {
    const fingerprint = tokenFingerprint(CONFERENCE_TOKEN);

    expect(fingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(tokenFingerprint(CONFERENCE_TOKEN)).toBe(fingerprint);
    expect(tokenFingerprint(`${CONFERENCE_TOKEN.slice(0, -1)}h`)).not.toBe(fingerprint);
    expect(CONFERENCE_TOKEN).not.toContain(fingerprint);
  });
});
