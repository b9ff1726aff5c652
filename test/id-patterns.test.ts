import { describe, expect, it } from "vitest";
import { compileIdPatterns, IdPatternError } from "../src/auth/id-patterns.js";

/** Pattern, id, and whether the pattern matches the id. */
const MATCH_CASES: [string, string, boolean][] = [
  // Exact names.
  ["lobby", "lobby", true],
  ["lobby", "lobby-1", false],
  ["lobby", "lobb", false],
  ["lobby", "Lobby", false],
  ["lobby", "LOBBY", false],

  // Prefixes: "*" needs at least one character after the prefix.
  ["webinar-*", "webinar-1", true],
  ["webinar-*", "webinar-", false],
  ["webinar-*", "webinar", false],
  ["webinar-*", "webinar-long-name", true],
  ["webinar-*", "Webinar-1", false],
  ["webinar-*", "my-webinar-1", false],
  ["w*", "w", false],
  ["w*", "wx", true],

  // Suffixes and inner stars.
  ["*-chat", "team-chat", true],
  ["*-chat", "-chat", false],
  ["*-chat", "team-chat-2", false],
  ["team-*-chat", "team-a-chat", true],
  ["team-*-chat", "team-red-blue-chat", true],
  ["team-*-chat", "team--chat", false],
  ["team-*-chat", "team---chat", true],
  ["team-*-chat", "team-chat", false],
  ["team-*-chat", "team-a-chat-", false],
  ["team-*-chat", "xteam-a-chat", false],
  ["a*b*c", "abc", false],
  ["a*b*c", "axbxc", true],
  ["a*b*c", "axbc", false],
  ["a*b*c", "axbbbxc", true],
  ["a*b*c", "axxbxxbxxc", true],
  ["*a*", "a", false],
  ["*a*", "xay", true],
  ["*a*", "xa", false],
  ["x*x", "xx", false],
  ["x*x", "xyx", true],
  ["x*x", "xxx", true],

  // "?" matches exactly one character.
  ["room-?", "room-1", true],
  ["room-?", "room-", false],
  ["room-?", "room-12", false],
  ["room-??", "room-12", true],
  ["room-??", "room-1", false],
  ["room-??", "room-123", false],
  ["?-room", "a-room", true],
  ["?-room", "-room", false],
  ["a?c", "a?c", true],
  ["team-?*", "team-a", false],
  ["team-?*", "team-ab", true],
  ["team-*?", "team-ab", true],
  ["*?-x", "ab-x", true],
  ["*?-x", "a-x", false],

  // Characters are code points: "?" matches one emoji written as a surrogate pair.
  ["room-?", "room-😀", true],
  ["room-??", "room-😀", false],
  ["zoë-*", "zoë-1", true],
  ["zoë-*", "zoe-1", false],
  ["zoë", "zoe\u0308", false],
  ["山-?", "山-川", true],
  ["*-😀", "a-😀", true],
  ["*-😀", "-😀", false],
  ["Straße", "STRASSE", false],

  // Whitespace other than space may appear inside an id.
  ["lobby\u3000*", "lobby\u3000x", true],
];

describe("compileIdPatterns", () => {
  it.each(MATCH_CASES)("pattern %j against id %j is %s", (pattern, id, expected) => {
    expect(compileIdPatterns([pattern]).matches(id)).toBe(expected);
  });

  it("matches when any pattern matches", () => {
    const matcher = compileIdPatterns(["lobby", "webinar-*", "team-*-chat", "room-?"]);

    expect(matcher.matches("lobby")).toBe(true);
    expect(matcher.matches("webinar-7")).toBe(true);
    expect(matcher.matches("team-x-chat")).toBe(true);
    expect(matcher.matches("room-9")).toBe(true);
    expect(matcher.matches("lobby-2")).toBe(false);
    expect(matcher.matches("team-x")).toBe(false);
    expect(matcher.matches("room-10")).toBe(false);
  });

  it("matches nothing for an empty list", () => {
    const matcher = compileIdPatterns([]);

    expect(matcher.matches("lobby")).toBe(false);
    expect(matcher.matches("a")).toBe(false);
  });

  it("reads id characters literally", () => {
    // "?" is valid in ids. In an id it is only the character "?", never a wildcard.
    expect(compileIdPatterns(["room-1"]).matches("room-?")).toBe(false);
    expect(compileIdPatterns(["lobby"]).matches("?????")).toBe(false);
    expect(compileIdPatterns(["room-?"]).matches("room-?")).toBe(true);
  });

  it.each([
    ["webinar-*", "webinar-*"],
    ["webinar-*", "webinar-**"],
    ["webinar-*", "webinar-a*"],
    ["team-*-chat", "team-*-chat"],
    ["lobby", "*"],
    ["lobby", "lobb*"],
    ["room-?", "room-*"],
  ])("rejects id with * against %j: %j", (pattern, id) => {
    expect(compileIdPatterns([pattern]).matches(id)).toBe(false);
  });

  it.each([
    ["webinar-*", "webinar-a.b"],
    ["webinar-*", "webinar-a b"],
    ["webinar-*", "webinar-a,b"],
    ["webinar-*", "webinar-a:b"],
    ["webinar-*", "webinar-a/b"],
    ["webinar-*", "webinar-a\\b"],
    ["webinar-*", "webinar-a\nb"],
    ["webinar-*", "webinar-\u0085"],
    ["team-*-chat", "team-a\u0000-chat"],
  ])("rejects impossible id against %j: %j", (pattern, id) => {
    expect(compileIdPatterns([pattern]).matches(id)).toBe(false);
  });

  it("matches ids at the length limit", () => {
    const longest = "a".repeat(85);

    expect(compileIdPatterns([longest]).matches(longest)).toBe(true);
    expect(compileIdPatterns(["a*"]).matches(longest)).toBe(true);
    expect(compileIdPatterns(["?".repeat(84) + "a"]).matches(longest)).toBe(true);
    expect(compileIdPatterns(["?".repeat(84) + "a"]).matches("a".repeat(84))).toBe(false);
  });

  it("scans a worst-case glob quickly", () => {
    // A backtracking matcher, such as the regular expression ^x.+a.+a.+a.+a.+a.+b.+y$, tries
    // every way to split the id among the stars before it fails. Its time grows roughly with the
    // sixth power of the id length, so it would not finish on this id.
    const pattern = "x*a*a*a*a*a*b*y";
    const id = "x" + "a".repeat(10_000) + "y";
    const matcher = compileIdPatterns([pattern]);

    const startedAt = performance.now();
    expect(matcher.matches(id)).toBe(false);
    expect(performance.now() - startedAt).toBeLessThan(500);
  });
});

/** Pattern and the exact error message it gets. */
const INVALID_CASES: [string, string][] = [
  ["", 'id pattern "" is empty. Write an id such as lobby, a prefix such as webinar-*, or a glob such as team-*-chat.'],
  ["*", 'id pattern "*" contains only wildcards, so it matches ids with any name. Add at least one literal character, as in webinar-*.'],
  ["?", 'id pattern "?" contains only wildcards, so it matches ids with any name. Add at least one literal character, as in webinar-*.'],
  ["*?", 'id pattern "*?" contains only wildcards, so it matches ids with any name. Add at least one literal character, as in webinar-*.'],
  ["**", 'id pattern "**" contains "**". Use one "*", which matches one or more characters.'],
  ["webinar-**", 'id pattern "webinar-**" contains "**". Use one "*", which matches one or more characters.'],
  ["team-**-chat", 'id pattern "team-**-chat" contains "**". Use one "*", which matches one or more characters.'],
  ["a b", 'id pattern "a b" contains " " (U+0020), which no room or channel id contains. Remove it.'],
  ["a,b", 'id pattern "a,b" contains "," (U+002C), which no room or channel id contains. Remove it.'],
  ["a:b", 'id pattern "a:b" contains ":" (U+003A), which no room or channel id contains. Remove it.'],
  ["a/b", 'id pattern "a/b" contains "/" (U+002F), which no room or channel id contains. Remove it.'],
  ["a\\*", 'id pattern "a\\\\*" contains "\\\\" (U+005C), which no room or channel id contains. Remove it.'],
  ["a.b", 'id pattern "a.b" contains "." (U+002E), which no room or channel id contains. Remove it.'],
  ["a\nb", 'id pattern "a\\nb" contains "\\n" (U+000A), which no room or channel id contains. Remove it.'],
  ["a\u0085", 'id pattern "a\u0085" contains "\u0085" (U+0085), which no room or channel id contains. Remove it.'],
  ["a\ud800", 'id pattern "a\\ud800" contains "\\ud800" (U+D800), which no room or channel id contains. Remove it.'],
  ["\u00a0lobby", 'id pattern "\u00a0lobby" starts or ends with whitespace, which no id does. Remove it.'],
  ["*\u3000", 'id pattern "*\u3000" starts or ends with whitespace, which no id does. Remove it.'],
  ["lobby\u3000", 'id pattern "lobby\u3000" starts or ends with whitespace, which no id does. Remove it.'],
  ["room-pnpres", 'id pattern "room-pnpres" ends with -pnpres, which names a presence channel. Write the base channel, because its presence channel is granted with it.'],
  ["*-pnpres", 'id pattern "*-pnpres" ends with -pnpres, which names a presence channel. Write the base channel, because its presence channel is granted with it.'],
  ["a".repeat(86), `id pattern "${"a".repeat(86)}" is longer than 85 characters, the maximum length of an id, so it matches no id. Shorten it.`],
  ["a*" + "?".repeat(84), `id pattern "a*${"?".repeat(84)}" is longer than 85 characters, the maximum length of an id, so it matches no id. Shorten it.`],
];

describe("compileIdPatterns errors", () => {
  it.each(INVALID_CASES)("rejects pattern %j", (pattern, message) => {
    let caught: unknown;
    try {
      compileIdPatterns(["lobby", pattern]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IdPatternError);
    expect((caught as IdPatternError).pattern).toBe(pattern);
    expect((caught as IdPatternError).index).toBe(1);
    expect((caught as Error).message).toBe(message);
  });

  it("accepts patterns at the length limit", () => {
    expect(() => compileIdPatterns(["a".repeat(85), "a*" + "?".repeat(83), "😀".repeat(85)])).not.toThrow();
  });

  it("cuts a long pattern in its message", () => {
    const pattern = "a".repeat(150) + " ";

    expect(() => compileIdPatterns([pattern])).toThrow(`id pattern "${"a".repeat(100)}…" contains " " (U+0020)`);
  });
});
