import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { createValidator, type Violation } from "@bufbuild/protovalidate";
import { RE2JS } from "@bufbuild/re2";

/** Maximum token lifetime PubNub grants, in minutes (30 days). */
export const PUBNUB_MAX_TTL_MINUTES = 43_200;

/** Token lifetime when a request leaves it unset, in minutes. */
export const DEFAULT_TOKEN_MINUTES = 60;

/** One broken input rule, in the shape of a google.rpc.BadRequest field violation. */
export interface FieldViolation {
  /** Proto field name, such as "room_id"; "" for a rule on the whole message. */
  readonly field: string;
  /** Description of the problem and its fix. */
  readonly description: string;
  /** Stable rule id, such as "string.max_len". */
  readonly reason: string;
}

/**
 * JavaScript equivalents of the RE2 patterns in this service's protovalidate rules, by pattern.
 * protovalidate matches `matches()` with RE2, whose JavaScript engine allocates about 1 kB per
 * match (sampled under load), and each token request runs five of them. Every entry must match
 * exactly the strings its RE2 pattern matches, which a test checks over every code point. RE2's
 * \s is only tab, line feed, form feed, carriage return and space, so it is spelled out.
 */
export const NATIVE_PATTERNS: ReadonlyMap<string, RegExp> = new Map([
  ["\\p{Cc}", /\p{Cc}/u],
  ["^[\\s\\p{Z}]|[\\s\\p{Z}]$", /^[\t\n\f\r \p{Z}]|[\t\n\f\r \p{Z}]$/u],
  ["[,:*/\\\\. ]", /[,:*/\\. ]/u],
]);

/** Compiled RE2 patterns that have no native equivalent, by pattern. */
const re2Patterns = new Map<string, RE2JS>();

/** Size at which re2Patterns is emptied, as protovalidate bounds its own cache. */
const MAX_COMPILED_PATTERNS = 1024;

/** Matches a protovalidate pattern: natively when NATIVE_PATTERNS has it, otherwise with RE2. */
export function matchRulePattern(pattern: string, text: string): boolean {
  const native = NATIVE_PATTERNS.get(pattern);
  if (native !== undefined) {
    return native.test(text);
  }
  let compiled = re2Patterns.get(pattern);
  if (compiled === undefined) {
    if (re2Patterns.size >= MAX_COMPILED_PATTERNS) {
      re2Patterns.clear();
    }
    compiled = RE2JS.compile(pattern);
    re2Patterns.set(pattern, compiled);
  }
  return compiled.test(text);
}

const validator = createValidator({ regexMatch: matchRulePattern });

/**
 * Checks a request against the protovalidate rules declared in its proto and returns the broken
 * ones, or an empty list.
 */
export function checkDeclaredRules<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): FieldViolation[] {
  const result = validator.validate(schema, message);
  if (result.kind === "valid") {
    return [];
  }
  if (result.kind === "error") {
    // A rule that fails to compile or evaluate is a defect of the schema, not of the request.
    throw result.error;
  }
  return result.violations.map(toFieldViolation);
}

/**
 * Checks a lifetime, or the default that an unset one gets, against the deployment's maximum,
 * which may be below PubNub's. Values outside 1 to 43200 are left to the declared rules.
 */
export function checkMaxMinutes(field: string, minutes: number | undefined, maxMinutes: number): FieldViolation[] {
  const effective = minutes ?? DEFAULT_TOKEN_MINUTES;
  if (effective > PUBNUB_MAX_TTL_MINUTES || effective <= maxMinutes) {
    return [];
  }
  const description =
    minutes === undefined
      ? `is unset, so it defaults to ${DEFAULT_TOKEN_MINUTES} minutes, more than this server's maximum of ${maxMinutes}; set it to at most ${maxMinutes}`
      : `must be at most ${maxMinutes} minutes on this server; request a shorter lifetime`;
  return [{ field, description, reason: "server.max_minutes" }];
}

function toFieldViolation(violation: Violation): FieldViolation {
  const field = violation.field
    .map((element) => ("name" in element && typeof element.name === "string" ? element.name : ""))
    .filter((name) => name !== "")
    .join(".");
  return { field, description: violation.message, reason: violation.ruleId };
}
