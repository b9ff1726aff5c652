import { create } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { RE2JS } from "@bufbuild/re2";
import { describe, expect, it } from "vitest";
import { IssueChatTokenRequestSchema, IssueConferenceTokenRequestSchema, Role } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { matchRulePattern, NATIVE_PATTERNS } from "../src/service/request-rules.js";

/** Characters placed around a tested one, so that anchors at either end are exercised. */
const NEIGHBOURS = ["", "a", " ", "\u3000", "\u0001"];

/** Yields every code point as a one-character string, each surrogate as a lone code unit. */
function* everyCharacter(): Generator<string> {
  for (let codePoint = 0; codePoint <= 0x10ffff; codePoint++) {
    yield codePoint >= 0xd800 && codePoint <= 0xdfff ? String.fromCharCode(codePoint) : String.fromCodePoint(codePoint);
  }
}

describe("rule patterns", () => {
  it.each([...NATIVE_PATTERNS.keys()])("matches %s as RE2 does, for every character", (pattern) => {
    const re2 = RE2JS.compile(pattern);
    const native = NATIVE_PATTERNS.get(pattern) as RegExp;
    const differences: string[] = [];
    const matchedByRe2: string[] = [];

    for (const character of everyCharacter()) {
      const expected = re2.test(character);
      if (native.test(character) !== expected) {
        differences.push(character);
      }
      if (expected) {
        matchedByRe2.push(character);
      }
    }
    // The anchors make position matter, so the characters RE2 matches, and some that JavaScript
    // classes differently, are also tried at the start, middle and end of longer strings.
    const positions = [...matchedByRe2, "a", "b", "\u00a0", "\ufeff", "\u000b", "\u0085", "\u2028", "\ud800", "\u{1f600}"];
    for (const character of positions) {
      for (const before of NEIGHBOURS) {
        for (const after of NEIGHBOURS) {
          const text = `${before}${character}${after}`;
          if (native.test(text) !== re2.test(text)) {
            differences.push(text);
          }
        }
      }
    }

    expect(differences.map((text) => [...text].map((character) => `U+${(character.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`).join(" "))).toEqual([]);
    expect(matchedByRe2.length).toBeGreaterThan(0);
  }, 60_000);

  it("covers every pattern the token rules use", () => {
    const used = new Set<string>();
    const recording = createValidator({
      regexMatch: (pattern, text) => {
        used.add(pattern);
        return matchRulePattern(pattern, text);
      },
    });

    recording.validate(IssueConferenceTokenRequestSchema, create(IssueConferenceTokenRequestSchema, { userId: "user-1", roomId: "room-1", role: Role.ADMIN, expirationMinutes: 60 }));
    recording.validate(IssueChatTokenRequestSchema, create(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "room-1", read: true, ttlMinutes: 60 }));

    expect([...used].sort()).toEqual([...NATIVE_PATTERNS.keys()].sort());
  });

  it("falls back to RE2 for other patterns", () => {
    expect(matchRulePattern("^a+b$", "aaab")).toBe(true);
    expect(matchRulePattern("^a+b$", "aaa")).toBe(false);
    expect(() => matchRulePattern("a(?=b)", "ab")).toThrow();
  });
});
