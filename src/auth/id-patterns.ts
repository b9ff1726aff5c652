/**
 * Id patterns: which room or channel ids a caller may use.
 *
 * A pattern is a room or channel id in which two characters are wildcards:
 *
 * - `*` matches one or more characters, never zero. `webinar-*` matches `webinar-1` but not
 *   `webinar-`, and `team-*-chat` matches `team-a-chat` but not `team--chat`.
 * - `?` matches exactly one character. `room-??` matches `room-12` but not `room-1` or `room-123`.
 * - Every other character matches itself only.
 *
 * Characters are Unicode code points, so `?` matches one emoji written as a surrogate pair.
 * Matching is case-sensitive and compares code points without Unicode normalization, so a
 * precomposed `é` (U+00E9) and `e` followed by a combining accent (U+0301) differ.
 *
 * An id is never read as a pattern: its characters are compared literally, so a caller cannot
 * widen a pattern through the id it sends. Valid ids cannot contain `*` because PubNub reserves it
 * in channel names, and an id that contains `*` or another character that no valid id contains
 * matches no pattern at all, even `webinar-*` against the id `webinar-*`.
 *
 * NOTE: `?` is allowed in ids, and a pattern cannot escape it. The pattern `room?` therefore
 * matches the id `room?` and also `room1`, and no pattern matches `room?` alone.
 */

/** Maximum length of a room or channel id in characters, so that the presence channel (id + "-pnpres") fits PubNub's 92. */
const MAX_ID_LENGTH = 85;

/** Suffix of the presence channel that PubNub pairs with every channel. */
const PRESENCE_SUFFIX = "-pnpres";

/** Characters that no room or channel id contains: PubNub's reserved characters and control characters. */
const IMPOSSIBLE_ID_CHARACTER = /[,:*/\\. \p{Cc}]/u;

/** Characters that no pattern contains: the above except the wildcard `*`, plus unpaired surrogates. */
const IMPOSSIBLE_PATTERN_CHARACTER = /[,:/\\. \p{Cc}\p{Cs}]/u;

const SURROUNDING_WHITESPACE = /^[\s\p{Z}]|[\s\p{Z}]$/u;

/** The set of ids a list of patterns allows. */
export interface IdMatcher {
  /** Returns whether any pattern matches the id. */
  matches(id: string): boolean;
}

/** An id pattern that is invalid. The message names the pattern, the problem and the fix. */
export class IdPatternError extends Error {
  override readonly name = "IdPatternError";

  constructor(
    /** The invalid pattern. */
    readonly pattern: string,
    /** Position of the pattern in the list given to compileIdPatterns. */
    readonly index: number,
    problem: string,
  ) {
    super(`id pattern ${quote(pattern)} ${problem}`);
  }
}

/**
 * A pattern with at least one `*`, split at each `*` into segments of single characters, where
 * "?" stands for any one character. Each `*` is stored as a "?" at the end of the segment before
 * it, followed by a gap of zero or more characters between segments. This turns "one or more"
 * into the simpler "zero or more", with the same meaning.
 */
interface Glob {
  readonly segments: readonly (readonly string[])[];
}

/**
 * Checks every pattern and compiles the list into a matcher. Throws IdPatternError for the first
 * invalid pattern. An empty list compiles to a matcher that matches nothing.
 *
 * Matching builds no regular expression from a pattern. Exact patterns are a set lookup, prefix
 * patterns (one trailing `*`) a startsWith, and other patterns a left-to-right scan that never
 * backtracks. That scan makes at most (id length × pattern length) character comparisons per
 * pattern, and patterns are at most 85 characters long.
 */
export function compileIdPatterns(patterns: readonly string[]): IdMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const globs: Glob[] = [];

  patterns.forEach((pattern, index) => {
    checkPattern(pattern, index);
    const stars = countOf(pattern, "*");
    if (stars === 0 && !pattern.includes("?")) {
      exact.add(pattern);
    } else if (stars === 1 && pattern.endsWith("*") && !pattern.includes("?")) {
      prefixes.push(pattern.slice(0, -1));
    } else {
      globs.push(toGlob(pattern));
    }
  });

  return {
    matches(id: string): boolean {
      if (IMPOSSIBLE_ID_CHARACTER.test(id)) {
        return false;
      }
      if (exact.has(id)) {
        return true;
      }
      // Patterns contain whole code points, so one more code unit after a prefix means at least
      // one more character.
      if (prefixes.some((prefix) => id.length > prefix.length && id.startsWith(prefix))) {
        return true;
      }
      if (globs.length === 0) {
        return false;
      }
      const characters = Array.from(id);
      return globs.some((glob) => matchesGlob(glob, characters));
    },
  };
}

/** Throws IdPatternError if the pattern is malformed or could never match a valid id. */
function checkPattern(pattern: string, index: number): void {
  const fail = (problem: string): never => {
    throw new IdPatternError(pattern, index, problem);
  };

  if (pattern === "") {
    fail("is empty. Write an id such as lobby, a prefix such as webinar-*, or a glob such as team-*-chat.");
  }
  const impossible = IMPOSSIBLE_PATTERN_CHARACTER.exec(pattern);
  if (impossible !== null) {
    fail(`contains ${describeCharacter(impossible[0])}, which no room or channel id contains. Remove it.`);
  }
  if (pattern.includes("**")) {
    fail('contains "**". Use one "*", which matches one or more characters.');
  }
  if (/^[*?]+$/.test(pattern)) {
    fail("contains only wildcards, so it matches ids with any name. Add at least one literal character, as in webinar-*.");
  }
  if (SURROUNDING_WHITESPACE.test(pattern)) {
    fail("starts or ends with whitespace, which no id does. Remove it.");
  }
  if (pattern.endsWith(PRESENCE_SUFFIX)) {
    fail(`ends with ${PRESENCE_SUFFIX}, which names a presence channel. Write the base channel, because its presence channel is granted with it.`);
  }
  if (Array.from(pattern).length > MAX_ID_LENGTH) {
    // Every character of a pattern, wildcards included, matches at least one character of the id.
    fail(`is longer than ${MAX_ID_LENGTH} characters, the maximum length of an id, so it matches no id. Shorten it.`);
  }
}

function toGlob(pattern: string): Glob {
  const parts = pattern.split("*").map((part) => Array.from(part));
  const segments = parts.map((part, index) => (index < parts.length - 1 ? [...part, "?"] : part));
  return { segments };
}

/**
 * Matches the first segment at the start of the id, the last at the end, and each middle segment
 * at its leftmost position after the one before. Leftmost is never worse, because the gaps
 * between segments match any characters, so no earlier choice needs revisiting.
 */
function matchesGlob(glob: Glob, characters: readonly string[]): boolean {
  const { segments } = glob;
  const first = segments[0] ?? [];
  const last = segments[segments.length - 1] ?? [];
  if (segments.length === 1) {
    return characters.length === first.length && segmentMatchesAt(first, characters, 0);
  }

  const end = characters.length - last.length;
  if (first.length > end || !segmentMatchesAt(first, characters, 0) || !segmentMatchesAt(last, characters, end)) {
    return false;
  }

  let position = first.length;
  for (const middle of segments.slice(1, -1)) {
    const found = findSegment(middle, characters, position, end);
    if (found === -1) {
      return false;
    }
    position = found + middle.length;
  }
  return true;
}

/** Returns the first index from `from` where the segment matches and ends by `end`, or -1. */
function findSegment(segment: readonly string[], characters: readonly string[], from: number, end: number): number {
  for (let start = from; start + segment.length <= end; start++) {
    if (segmentMatchesAt(segment, characters, start)) {
      return start;
    }
  }
  return -1;
}

function segmentMatchesAt(segment: readonly string[], characters: readonly string[], start: number): boolean {
  return segment.every((atom, offset) => atom === "?" || atom === characters[start + offset]);
}

function countOf(text: string, character: string): number {
  return text.split(character).length - 1;
}

/** Describes a character for an error message, with its code point so that invisible ones show. */
function describeCharacter(character: string): string {
  const codePoint = (character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
  return `${JSON.stringify(character)} (U+${codePoint})`;
}

/** Quotes a pattern for a message, cut to 100 code units so that a long one stays readable. */
function quote(pattern: string): string {
  return JSON.stringify(pattern.length > 100 ? `${pattern.slice(0, 100)}…` : pattern);
}
