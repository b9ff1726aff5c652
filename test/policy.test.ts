import { describe, expect, it } from "vitest";
import {
  checkChatRequest,
  checkConferenceRequest,
  chatPermissionsForRole,
  DEFAULT_ROLE_CHAT_PERMISSIONS,
  LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS,
  parseCallerPolicy,
  parseRoleChatPermissions,
  PolicyError,
  type CallerPolicy,
  type ChatRequest,
  type ConferenceRequest,
  type PolicyDenial,
} from "../src/auth/policy.js";

/** A policy allowing both RPCs, as an operator would write it. */
const BOTH_RPCS = {
  rpcs: ["IssueConferenceToken", "IssueChatToken"],
  roles: ["publisher", "subscriber"],
  maxConferenceMinutes: 120,
  maxChatMinutes: 30,
  rooms: ["lobby", "webinar-*"],
  channels: ["support-*"],
  chatPermissions: { read: true, write: false },
};

const CONFERENCE_ONLY = { rpcs: ["IssueConferenceToken"], roles: ["admin"], rooms: ["lobby"] };
const CHAT_ONLY = { rpcs: ["IssueChatToken"], channels: ["support-*"], chatPermissions: { read: true, write: true } };

const policy = parseCallerPolicy(BOTH_RPCS, "billing");

/** Throws if the call does not throw a PolicyError, and returns it. */
function policyErrorOf(call: () => unknown): PolicyError {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(PolicyError);
  return caught as PolicyError;
}

describe("parseCallerPolicy", () => {
  it("reads every field", () => {
    expect([...policy.rpcs]).toEqual(["IssueConferenceToken", "IssueChatToken"]);
    expect([...policy.roles]).toEqual(["publisher", "subscriber"]);
    expect(policy.maxConferenceMinutes).toBe(120);
    expect(policy.maxChatMinutes).toBe(30);
    expect(policy.rooms.matches("lobby")).toBe(true);
    expect(policy.rooms.matches("webinar-1")).toBe(true);
    expect(policy.rooms.matches("support-1")).toBe(false);
    expect(policy.channels.matches("support-1")).toBe(true);
    expect(policy.channels.matches("lobby")).toBe(false);
    expect(policy.chatPermissions).toEqual({ read: true, write: false });
  });

  it("applies defaults to a conference-only policy", () => {
    const conferenceOnly = parseCallerPolicy(CONFERENCE_ONLY, "rooms-app");

    expect([...conferenceOnly.rpcs]).toEqual(["IssueConferenceToken"]);
    expect([...conferenceOnly.roles]).toEqual(["admin"]);
    expect(conferenceOnly.maxConferenceMinutes).toBe(43_200);
    expect(conferenceOnly.maxChatMinutes).toBe(43_200);
    expect(conferenceOnly.channels.matches("lobby")).toBe(false);
    expect(conferenceOnly.chatPermissions).toEqual({ read: false, write: false });
  });

  it("applies defaults to a chat-only policy", () => {
    const chatOnly = parseCallerPolicy(CHAT_ONLY, "support-app");

    expect([...chatOnly.rpcs]).toEqual(["IssueChatToken"]);
    expect([...chatOnly.roles]).toEqual([]);
    expect(chatOnly.rooms.matches("support-1")).toBe(false);
    expect(chatOnly.maxConferenceMinutes).toBe(43_200);
    expect(chatOnly.maxChatMinutes).toBe(43_200);
  });

  it("keeps settings of an RPC switched off", () => {
    const switchedOff = parseCallerPolicy({ ...BOTH_RPCS, rpcs: ["IssueChatToken"] }, "billing");

    expect([...switchedOff.rpcs]).toEqual(["IssueChatToken"]);
    expect([...switchedOff.roles]).toEqual(["publisher", "subscriber"]);
    expect(checkConferenceRequest(switchedOff, { roomId: "lobby", role: "publisher", minutes: 60 })?.rule).toBe("policy.rpc");
  });

  it.each([
    ["maxConferenceMinutes", 1],
    ["maxConferenceMinutes", 43_200],
    ["maxChatMinutes", 1],
    ["maxChatMinutes", 43_200],
  ])("accepts %s of %d", (field, minutes) => {
    const parsed = parseCallerPolicy({ ...BOTH_RPCS, [field]: minutes }, "billing");

    expect(parsed[field as "maxConferenceMinutes" | "maxChatMinutes"]).toBe(minutes);
  });

  /** Policy JSON, the field path and the exact message of the error it gets. */
  const INVALID: [string, unknown, string, string][] = [
    ["not an object", ["IssueChatToken"], "", 'policy of caller "billing" must be a JSON object with the fields rpcs, roles, maxConferenceMinutes, maxChatMinutes, rooms, channels, chatPermissions; got a list.'],
    ["null", null, "", 'policy of caller "billing" must be a JSON object with the fields rpcs, roles, maxConferenceMinutes, maxChatMinutes, rooms, channels, chatPermissions; got null.'],
    ["a string", "IssueChatToken", "", 'policy of caller "billing" must be a JSON object with the fields rpcs, roles, maxConferenceMinutes, maxChatMinutes, rooms, channels, chatPermissions; got "IssueChatToken".'],
    ["an unknown field", { ...BOTH_RPCS, room: ["lobby"] }, "room", 'policy of caller "billing": room is not a known field. The fields are rpcs, roles, maxConferenceMinutes, maxChatMinutes, rooms, channels, chatPermissions.'],
    ["an unknown field with odd characters", { ...BOTH_RPCS, "max minutes\n": 5 }, '"max minutes\\n"', 'policy of caller "billing": "max minutes\\n" is not a known field. The fields are rpcs, roles, maxConferenceMinutes, maxChatMinutes, rooms, channels, chatPermissions.'],
    ["missing rpcs", { rooms: ["lobby"] }, "rpcs", 'policy of caller "billing": rpcs is missing. List the RPCs this caller may call: IssueConferenceToken, IssueChatToken or both.'],
    ["rpcs not a list", { ...BOTH_RPCS, rpcs: "IssueChatToken" }, "rpcs", 'policy of caller "billing": rpcs must be a list; got "IssueChatToken".'],
    ["empty rpcs", { ...BOTH_RPCS, rpcs: [] }, "rpcs", 'policy of caller "billing": rpcs is empty. List at least one of IssueConferenceToken, IssueChatToken.'],
    ["an unknown rpc", { ...BOTH_RPCS, rpcs: ["IssueChatToken", "issueConferenceToken"] }, "rpcs[1]", 'policy of caller "billing": rpcs[1] must be one of IssueConferenceToken, IssueChatToken; got "issueConferenceToken".'],
    ["a repeated rpc", { ...BOTH_RPCS, rpcs: ["IssueChatToken", "IssueChatToken"] }, "rpcs[1]", 'policy of caller "billing": rpcs[1] repeats IssueChatToken. List each one once.'],
    ["missing roles", { ...CONFERENCE_ONLY, roles: undefined }, "roles", 'policy of caller "billing": roles is missing. IssueConferenceToken needs the roles this caller may issue: admin, publisher, subscriber or several.'],
    ["empty roles", { ...CONFERENCE_ONLY, roles: [] }, "roles", 'policy of caller "billing": roles is empty. List at least one of admin, publisher, subscriber.'],
    ["an unknown role", { ...CONFERENCE_ONLY, roles: ["owner"] }, "roles[0]", 'policy of caller "billing": roles[0] must be one of admin, publisher, subscriber; got "owner".'],
    ["a proto role name", { ...CONFERENCE_ONLY, roles: ["ROLE_ADMIN"] }, "roles[0]", 'policy of caller "billing": roles[0] must be one of admin, publisher, subscriber; got "ROLE_ADMIN".'],
    ["a role that is not a string", { ...CONFERENCE_ONLY, roles: [1] }, "roles[0]", 'policy of caller "billing": roles[0] must be one of admin, publisher, subscriber; got 1.'],
    ["a repeated role", { ...CONFERENCE_ONLY, roles: ["admin", "admin"] }, "roles[1]", 'policy of caller "billing": roles[1] repeats admin. List each one once.'],
    ["bad roles with conference off", { ...CHAT_ONLY, roles: ["owner"] }, "roles[0]", 'policy of caller "billing": roles[0] must be one of admin, publisher, subscriber; got "owner".'],
    ["missing rooms", { ...CONFERENCE_ONLY, rooms: undefined }, "rooms", 'policy of caller "billing": rooms is missing. IssueConferenceToken needs the room ids this caller may issue, such as ["lobby", "webinar-*"].'],
    ["empty rooms", { ...CONFERENCE_ONLY, rooms: [] }, "rooms", 'policy of caller "billing": rooms is empty. List at least one room id pattern.'],
    ["rooms not a list", { ...CONFERENCE_ONLY, rooms: "lobby" }, "rooms", 'policy of caller "billing": rooms must be a list; got "lobby".'],
    ["a room that is not a string", { ...CONFERENCE_ONLY, rooms: ["lobby", { id: "x" }] }, "rooms[1]", 'policy of caller "billing": rooms[1] must be a string such as "lobby" or "webinar-*"; got an object.'],
    ["a repeated room", { ...CONFERENCE_ONLY, rooms: ["lobby", "webinar-*", "lobby"] }, "rooms[2]", 'policy of caller "billing": rooms[2] repeats "lobby". List each pattern once.'],
    ["an invalid room pattern", { ...CONFERENCE_ONLY, rooms: ["lobby", "webinar-**"] }, "rooms[1]", 'policy of caller "billing": rooms[1] is invalid: id pattern "webinar-**" contains "**". Use one "*", which matches one or more characters.'],
    ["a room pattern of only *", { ...CONFERENCE_ONLY, rooms: ["*"] }, "rooms[0]", 'policy of caller "billing": rooms[0] is invalid: id pattern "*" contains only wildcards, so it matches ids with any name. Add at least one literal character, as in webinar-*.'],
    ["missing channels", { ...CHAT_ONLY, channels: undefined }, "channels", 'policy of caller "billing": channels is missing. IssueChatToken needs the channel ids this caller may issue, such as ["support-*"].'],
    ["empty channels", { ...CHAT_ONLY, channels: [] }, "channels", 'policy of caller "billing": channels is empty. List at least one channel id pattern.'],
    ["an invalid channel pattern", { ...CHAT_ONLY, channels: ["support.*"] }, "channels[0]", 'policy of caller "billing": channels[0] is invalid: id pattern "support.*" contains "." (U+002E), which no room or channel id contains. Remove it.'],
    ["an invalid channel with chat off", { ...CONFERENCE_ONLY, channels: [""] }, "channels[0]", 'policy of caller "billing": channels[0] is invalid: id pattern "" is empty. Write an id such as lobby, a prefix such as webinar-*, or a glob such as team-*-chat.'],
    ["missing chatPermissions", { ...CHAT_ONLY, chatPermissions: undefined }, "chatPermissions", 'policy of caller "billing": chatPermissions is missing. IssueChatToken needs the most a chat token may grant, such as {"read": true, "write": false}.'],
    ["chatPermissions not an object", { ...CHAT_ONLY, chatPermissions: "read" }, "chatPermissions", 'policy of caller "billing": chatPermissions must be a JSON object with the fields read, write; got "read".'],
    ["chatPermissions with an unknown field", { ...CHAT_ONLY, chatPermissions: { read: true, write: true, publish: true } }, "chatPermissions.publish", 'policy of caller "billing": chatPermissions.publish is not a known field. The fields are read, write.'],
    ["chatPermissions without read", { ...CHAT_ONLY, chatPermissions: { write: true } }, "chatPermissions.read", 'policy of caller "billing": chatPermissions.read is missing. Set it to true or false.'],
    ["chatPermissions write not a boolean", { ...CHAT_ONLY, chatPermissions: { read: true, write: "false" } }, "chatPermissions.write", 'policy of caller "billing": chatPermissions.write must be true or false; got "false".'],
    ["chatPermissions granting nothing", { ...CHAT_ONLY, chatPermissions: { read: false, write: false } }, "chatPermissions", 'policy of caller "billing": chatPermissions allows neither read nor write. Set read, write or both to true, or remove IssueChatToken from rpcs.'],
    ["maxConferenceMinutes of 0", { ...CONFERENCE_ONLY, maxConferenceMinutes: 0 }, "maxConferenceMinutes", 'policy of caller "billing": maxConferenceMinutes must be a whole number of minutes from 1 to 43200; got 0.'],
    ["maxConferenceMinutes of 43201", { ...CONFERENCE_ONLY, maxConferenceMinutes: 43_201 }, "maxConferenceMinutes", 'policy of caller "billing": maxConferenceMinutes must be a whole number of minutes from 1 to 43200; got 43201.'],
    ["maxChatMinutes of 1.5", { ...CHAT_ONLY, maxChatMinutes: 1.5 }, "maxChatMinutes", 'policy of caller "billing": maxChatMinutes must be a whole number of minutes from 1 to 43200; got 1.5.'],
    ["maxChatMinutes as text", { ...CHAT_ONLY, maxChatMinutes: "60" }, "maxChatMinutes", 'policy of caller "billing": maxChatMinutes must be a whole number of minutes from 1 to 43200; got "60".'],
    ["maxChatMinutes of null", { ...CHAT_ONLY, maxChatMinutes: null }, "maxChatMinutes", 'policy of caller "billing": maxChatMinutes must be a whole number of minutes from 1 to 43200; got null.'],
  ];

  it.each(INVALID)("rejects %s", (_case, json, path, message) => {
    const error = policyErrorOf(() => parseCallerPolicy(json, "billing"));

    expect(error.caller).toBe("billing");
    expect(error.path).toBe(path);
    expect(error.message).toBe(message);
  });

  it("quotes the caller name in messages", () => {
    const error = policyErrorOf(() => parseCallerPolicy({}, 'team "a"\n'));

    expect(error.caller).toBe('team "a"\n');
    expect(error.message).toBe('policy of caller "team \\"a\\"\\n": rpcs is missing. List the RPCs this caller may call: IssueConferenceToken, IssueChatToken or both.');
  });

  it("cuts long values in messages", () => {
    const error = policyErrorOf(() => parseCallerPolicy({ ...CHAT_ONLY, maxChatMinutes: "x".repeat(100) }, "billing"));

    expect(error.message).toBe(`policy of caller "billing": maxChatMinutes must be a whole number of minutes from 1 to 43200; got "${"x".repeat(32)}…".`);
  });

  it("parses JSON text round trip", () => {
    const parsed = parseCallerPolicy(JSON.parse(JSON.stringify(BOTH_RPCS)), "billing");

    expect(checkConferenceRequest(parsed, { roomId: "webinar-1", role: "subscriber", minutes: 120 })).toBeUndefined();
  });
});

describe("checkConferenceRequest", () => {
  const allowed: ConferenceRequest = { roomId: "webinar-1", role: "publisher", minutes: 60 };

  /** Request changes, and the denial they get; undefined when allowed. */
  const CASES: [string, Partial<ConferenceRequest>, PolicyDenial | undefined][] = [
    ["an allowed request", {}, undefined],
    ["an exact room", { roomId: "lobby" }, undefined],
    ["another allowed role", { role: "subscriber" }, undefined],
    ["a role not allowed", { role: "admin" }, { rule: "policy.role", message: "role admin is not allowed for this caller" }],
    ["a room not allowed", { roomId: "lobby-2" }, { rule: "policy.room", message: 'room "lobby-2" is not allowed for this caller' }],
    ["a bare prefix room", { roomId: "webinar-" }, { rule: "policy.room", message: 'room "webinar-" is not allowed for this caller' }],
    ["a room allowed only for chat", { roomId: "support-1" }, { rule: "policy.room", message: 'room "support-1" is not allowed for this caller' }],
    ["1 minute", { minutes: 1 }, undefined],
    ["the maximum minutes", { minutes: 120 }, undefined],
    ["one minute over the maximum", { minutes: 121 }, { rule: "policy.max_minutes", message: "a lifetime of 121 minutes is longer than this caller may request" }],
    ["the role before the room", { role: "admin", roomId: "lobby-2" }, { rule: "policy.role", message: "role admin is not allowed for this caller" }],
    ["the room before the minutes", { roomId: "lobby-2", minutes: 121 }, { rule: "policy.room", message: 'room "lobby-2" is not allowed for this caller' }],
  ];

  it.each(CASES)("checks %s", (_case, change, denial) => {
    expect(checkConferenceRequest(policy, { ...allowed, ...change })).toEqual(denial);
  });

  it("denies a caller without the RPC", () => {
    const chatOnly = parseCallerPolicy(CHAT_ONLY, "support-app");

    expect(checkConferenceRequest(chatOnly, allowed)).toEqual({ rule: "policy.rpc", message: "IssueConferenceToken is not allowed for this caller" });
  });

  it("reveals no policy contents in messages", () => {
    const denials = [
      checkConferenceRequest(policy, { ...allowed, role: "admin" }),
      checkConferenceRequest(policy, { ...allowed, roomId: "secret-room" }),
      checkConferenceRequest(policy, { ...allowed, minutes: 43_200 }),
    ];

    for (const denial of denials) {
      expect(denial).toBeDefined();
      for (const hidden of ["publisher", "subscriber", "lobby", "webinar", "120"]) {
        expect(denial?.message).not.toContain(hidden);
      }
    }
  });
});

describe("checkChatRequest", () => {
  const allowed: ChatRequest = { channelId: "support-7", read: true, write: false, minutes: 30 };

  /** Request changes, and the denial they get; undefined when allowed. */
  const CASES: [string, Partial<ChatRequest>, PolicyDenial | undefined][] = [
    ["an allowed request", {}, undefined],
    ["a channel not allowed", { channelId: "lobby" }, { rule: "policy.channel", message: 'channel "lobby" is not allowed for this caller' }],
    ["a bare prefix channel", { channelId: "support-" }, { rule: "policy.channel", message: 'channel "support-" is not allowed for this caller' }],
    ["write when only read is allowed", { write: true }, { rule: "policy.chat_permission", message: "write permission is not allowed for this caller" }],
    ["write alone when only read is allowed", { read: false, write: true }, { rule: "policy.chat_permission", message: "write permission is not allowed for this caller" }],
    ["1 minute", { minutes: 1 }, undefined],
    ["the maximum minutes", { minutes: 30 }, undefined],
    ["one minute over the maximum", { minutes: 31 }, { rule: "policy.max_minutes", message: "a lifetime of 31 minutes is longer than this caller may request" }],
    ["the service default over the maximum", { minutes: 60 }, { rule: "policy.max_minutes", message: "a lifetime of 60 minutes is longer than this caller may request" }],
    ["the channel before the permission", { channelId: "lobby", write: true }, { rule: "policy.channel", message: 'channel "lobby" is not allowed for this caller' }],
    ["the permission before the minutes", { write: true, minutes: 31 }, { rule: "policy.chat_permission", message: "write permission is not allowed for this caller" }],
  ];

  it.each(CASES)("checks %s", (_case, change, denial) => {
    expect(checkChatRequest(policy, { ...allowed, ...change })).toEqual(denial);
  });

  it("denies a caller without the RPC", () => {
    const conferenceOnly = parseCallerPolicy(CONFERENCE_ONLY, "rooms-app");

    expect(checkChatRequest(conferenceOnly, allowed)).toEqual({ rule: "policy.rpc", message: "IssueChatToken is not allowed for this caller" });
  });

  it("names read when only write is allowed", () => {
    const writeOnly = parseCallerPolicy({ ...CHAT_ONLY, chatPermissions: { read: false, write: true } }, "bot");

    expect(checkChatRequest(writeOnly, { ...allowed, read: false, write: true })).toBeUndefined();
    expect(checkChatRequest(writeOnly, { ...allowed, read: true, write: true })).toEqual({
      rule: "policy.chat_permission",
      message: "read permission is not allowed for this caller",
    });
  });

  it("names both permissions when neither is allowed", () => {
    const noChat: CallerPolicy = { ...policy, chatPermissions: { read: false, write: false } };

    expect(checkChatRequest(noChat, { ...allowed, read: true, write: true })).toEqual({
      rule: "policy.chat_permission",
      message: "read and write permissions are not allowed for this caller",
    });
  });
});

describe("role chat permissions", () => {
  it("grants read and write to every role by default", () => {
    expect(chatPermissionsForRole(DEFAULT_ROLE_CHAT_PERMISSIONS, "admin")).toEqual({ read: true, write: true });
    expect(chatPermissionsForRole(DEFAULT_ROLE_CHAT_PERMISSIONS, "publisher")).toEqual({ read: true, write: true });
    expect(chatPermissionsForRole(DEFAULT_ROLE_CHAT_PERMISSIONS, "subscriber")).toEqual({ read: true, write: true });
  });

  it("grants subscribers read only under least privilege", () => {
    expect(chatPermissionsForRole(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS, "admin")).toEqual({ read: true, write: true });
    expect(chatPermissionsForRole(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS, "publisher")).toEqual({ read: true, write: true });
    expect(chatPermissionsForRole(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS, "subscriber")).toEqual({ read: true, write: false });
  });

  it("keeps the built-in maps frozen", () => {
    expect(Object.isFrozen(DEFAULT_ROLE_CHAT_PERMISSIONS)).toBe(true);
    expect(Object.isFrozen(DEFAULT_ROLE_CHAT_PERMISSIONS.subscriber)).toBe(true);
    expect(Object.isFrozen(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS)).toBe(true);
    expect(Object.isFrozen(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS.subscriber)).toBe(true);
  });

  it("parses a map", () => {
    const map = parseRoleChatPermissions({
      admin: { read: true, write: true },
      publisher: { read: false, write: true },
      subscriber: { read: true, write: false },
    });

    expect(map).toEqual({
      admin: { read: true, write: true },
      publisher: { read: false, write: true },
      subscriber: { read: true, write: false },
    });
    expect(chatPermissionsForRole(map, "publisher")).toEqual({ read: false, write: true });
  });

  it("parses the least-privilege map", () => {
    expect(parseRoleChatPermissions(JSON.parse(JSON.stringify(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS)))).toEqual(LEAST_PRIVILEGE_ROLE_CHAT_PERMISSIONS);
  });

  const rw = { read: true, write: true };

  /** Map JSON, the field path and the exact message of the error it gets. */
  const INVALID: [string, unknown, string, string][] = [
    ["not an object", [], "", "role chat permissions must be a JSON object with the fields admin, publisher, subscriber; got a list."],
    ["an unknown role", { admin: rw, publisher: rw, subscriber: rw, owner: rw }, "owner", "role chat permissions: owner is not a known field. The fields are admin, publisher, subscriber."],
    ["a missing role", { admin: rw, publisher: rw }, "subscriber", 'role chat permissions: subscriber is missing. Set it to an object such as {"read": true, "write": false}.'],
    ["a role that is not an object", { admin: rw, publisher: rw, subscriber: true }, "subscriber", "role chat permissions: subscriber must be a JSON object with the fields read, write; got true."],
    ["an unknown permission", { admin: rw, publisher: { ...rw, presence: true }, subscriber: rw }, "publisher.presence", "role chat permissions: publisher.presence is not a known field. The fields are read, write."],
    ["a missing permission", { admin: { read: true }, publisher: rw, subscriber: rw }, "admin.write", "role chat permissions: admin.write is missing. Set it to true or false."],
    ["a permission that is not a boolean", { admin: rw, publisher: rw, subscriber: { read: true, write: "no" } }, "subscriber.write", 'role chat permissions: subscriber.write must be true or false; got "no".'],
    ["a role granting nothing", { admin: rw, publisher: rw, subscriber: { read: false, write: false } }, "subscriber", "role chat permissions: subscriber allows neither read nor write. Set read, write or both to true, because every conference token embeds a chat token."],
  ];

  it.each(INVALID)("rejects %s", (_case, json, path, message) => {
    const error = policyErrorOf(() => parseRoleChatPermissions(json));

    expect(error.caller).toBeUndefined();
    expect(error.path).toBe(path);
    expect(error.message).toBe(message);
  });
});
