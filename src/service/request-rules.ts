import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { createValidator, type Violation } from "@bufbuild/protovalidate";

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

const validator = createValidator();

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
