import { STATUS_CODES } from "node:http";
import { invalidSignature, serviceError, tooManyRequests, type PamResponse } from "./responses.js";

/**
 * A failure the emulator applies to one grant request in place of, or before, its normal response.
 *
 * - `status`: respond with this HTTP status and PubNub's body for it, or `body` when given.
 * - `errorInBody`: respond with HTTP 200 and a JSON body whose `status` field is this (>= 400) status.
 * - `delay`: wait `ms` milliseconds, then respond normally.
 * - `hang`: never respond, until the client gives up or the emulator closes.
 * - `drop`: destroy the connection without a response.
 */
export type Fault =
  | { kind: "status"; status: number; body?: string }
  | { kind: "errorInBody"; status: number; body?: string }
  | { kind: "delay"; ms: number }
  | { kind: "hang" }
  | { kind: "drop" };

/** Returns why a fault cannot be applied, or undefined when it is valid. */
export function faultProblem(fault: Fault): string | undefined {
  switch (fault.kind) {
    case "status":
      return Number.isInteger(fault.status) && fault.status >= 200 && fault.status <= 599
        ? undefined
        : `A status fault needs an HTTP status from 200 to 599; got ${fault.status}.`;
    case "errorInBody":
      return Number.isInteger(fault.status) && fault.status >= 400 && fault.status <= 599
        ? undefined
        : `An errorInBody fault needs a status from 400 to 599; got ${fault.status}.`;
    case "delay":
      return Number.isFinite(fault.ms) && fault.ms >= 0
        ? undefined
        : `A delay fault needs a non-negative number of milliseconds; got ${fault.ms}.`;
    case "hang":
    case "drop":
      return undefined;
  }
}

/**
 * Builds the body PubNub sends with an error status: the documented bodies for 403 and 429, and
 * for other statuses a body in the flat shape of the 429 body.
 */
export function errorResponseFor(status: number): PamResponse {
  if (status === 403) {
    return invalidSignature("grant");
  }
  if (status === 429) {
    return tooManyRequests();
  }
  return serviceError(status, STATUS_CODES[status] ?? "Error");
}

/** Builds the response for a `status` or `errorInBody` fault. */
export function faultResponse(fault: Extract<Fault, { kind: "status" | "errorInBody" }>): PamResponse {
  const body = fault.body ?? errorResponseFor(fault.status).body;
  const status = fault.kind === "status" ? fault.status : 200;
  return { status, body };
}
