/** Content type of every Access Manager response, as PubNub's servers send it. */
export const PAM_CONTENT_TYPE = "text/javascript; charset=UTF-8";

/** An HTTP status and the JSON text to send with it. */
export interface PamResponse {
  status: number;
  body: string;
}

/** Part of the request that contains a rejected value, as named in PubNub's error `details`. */
export type PamLocationType = "body" | "query" | "path" | "header";

/** One entry of the `details` list in a PubNub Access Manager error body. */
export interface PamErrorDetail {
  message: string;
  location: string;
  locationType: PamLocationType;
}

/** Error text that PubNub's servers send for a TTL out of range, recorded from their responses. */
export const INVALID_TTL_MESSAGE = "Invalid ttl";
export const INVALID_TTL_DETAIL = "Range should be 1 to 43200 minute(s).";

/** Error text for a signature mismatch, with the detail location PubNub documents. */
export const INVALID_SIGNATURE_MESSAGE = "Invalid signature";

/**
 * Builds an error in the Access Manager shape
 * `{"error":{"message","source","details"},"service":"Access Manager","status"}`.
 */
export function pamError(
  status: number,
  message: string,
  source: string,
  details: PamErrorDetail[],
): PamResponse {
  const body = { error: { message, source, details }, service: "Access Manager", status };
  return { status, body: JSON.stringify(body) };
}

/** Builds the 200 response to a successful grant. */
export function grantSuccess(token: string): PamResponse {
  const body = { data: { message: "Success", token }, service: "Access Manager", status: 200 };
  return { status: 200, body: JSON.stringify(body) };
}

/** Builds the 200 response to a successful revoke. */
export function revokeSuccess(): PamResponse {
  const body = { data: { message: "Success" }, service: "Access Manager", status: 200 };
  return { status: 200, body: JSON.stringify(body) };
}

/** Builds PubNub's 400 response for a TTL that is missing, not an integer, or out of range. */
export function invalidTtl(): PamResponse {
  return pamError(400, INVALID_TTL_MESSAGE, "grant", [
    { message: INVALID_TTL_DETAIL, location: "ttl", locationType: "body" },
  ]);
}

/** Builds the 403 response to a request whose v2 signature does not match. */
export function invalidSignature(source: string): PamResponse {
  // The detail sentence is the emulator's wording. The message, status and location are the ones
  // PubNub documents.
  return pamError(403, INVALID_SIGNATURE_MESSAGE, source, [
    {
      message: "The signature does not match the request. Sign it with this keyset's publish and secret keys.",
      location: "signature",
      locationType: "query",
    },
  ]);
}

/** Builds a 400 response that rejects one value of the request. */
export function invalidValue(
  message: string,
  source: string,
  detail: string,
  location: string,
  locationType: PamLocationType,
): PamResponse {
  return pamError(400, message, source, [{ message: detail, location, locationType }]);
}

/** Builds the 404 response for a method and path that the emulator does not serve. */
export function notFound(method: string, path: string): PamResponse {
  return pamError(404, "Not found", "router", [
    {
      message: `No Access Manager endpoint serves ${method} ${path}.`,
      location: "path",
      locationType: "path",
    },
  ]);
}

/** Builds the 429 response that PubNub documents for rate limiting. */
export function tooManyRequests(): PamResponse {
  return { status: 429, body: JSON.stringify({ status: 429, error: true, message: "Too many requests." }) };
}

/**
 * Builds a generic error body in the flat shape of PubNub's 429 body, for statuses (such as 500 or
 * 503) whose real body was never recorded.
 */
export function serviceError(status: number, message: string): PamResponse {
  const body = { status, error: true, message, service: "Access Manager" };
  return { status, body: JSON.stringify(body) };
}
