import { signRequest } from "../pubnub/signature.js";
import {
  grantSuccess,
  invalidSignature,
  invalidValue,
  revokeSuccess,
  type PamResponse,
} from "./responses.js";
import { decodePathSegment, signaturesEqual, type Route } from "./request.js";
import { checkRequiredQuery, checkTimestamp, parseGrantBody } from "./rules.js";
import { InvalidTokenError, mintToken, verifyTokenSignature } from "./token.js";

/** The keyset and clock settings that every Access Manager check needs. */
export interface Keyset {
  subscribeKey: string;
  publishKey: string;
  secretKey: string;
  timestampWindowSeconds: number;
}

/** A signed request that reached a known endpoint. */
export interface AccessManagerRequest {
  route: Route;
  /** Raw path, still percent-encoded, without the query. */
  path: string;
  query: Record<string, string>;
  body: string;
  /** Emulator clock when the request arrived, in Unix milliseconds. */
  receivedAtMs: number;
}

/**
 * The response to a request and its result: `granted` or `revoked` on success, `badSignature` on a
 * signature mismatch, `rejected` on any other failed check. `token` is the token granted or
 * revoked.
 */
export interface AccessManagerOutcome {
  response: PamResponse;
  result: "granted" | "revoked" | "badSignature" | "rejected";
  token?: string;
}

function rejected(response: PamResponse): AccessManagerOutcome {
  return { response, result: "rejected" };
}

function grant(body: string, receivedAtMs: number, secretKey: string): AccessManagerOutcome {
  const parsed = parseGrantBody(body);
  if (!parsed.ok) {
    return rejected(parsed.response);
  }
  const token = mintToken({ issuedAt: Math.floor(receivedAtMs / 1000), ...parsed.value }, secretKey);
  return { response: grantSuccess(token), result: "granted", token };
}

function isOwnToken(token: string, secretKey: string): boolean {
  try {
    return verifyTokenSignature(token, secretKey);
  } catch (error) {
    if (error instanceof InvalidTokenError) {
      return false;
    }
    throw error;
  }
}

// NOTE: PubNub serves revoke only on keysets with token revocation enabled. The emulator behaves as
// such a keyset. Its error for a foreign or malformed token uses the emulator's own wording.
function revoke(encodedToken: string, secretKey: string): AccessManagerOutcome {
  const token = decodePathSegment(encodedToken) ?? "";
  if (!isOwnToken(token, secretKey)) {
    return rejected(
      invalidValue("Invalid token", "revoke", "The token in the path was not issued by this keyset.", "token", "path"),
    );
  }
  return { response: revokeSuccess(), result: "revoked", token };
}

/**
 * Serves a grant or revoke request after PubNub's checks, in this order: subscribe key in the path,
 * required query parameters, signature v2, timestamp window, then the body or token.
 */
export function serveAccessManager(request: AccessManagerRequest, keyset: Keyset): AccessManagerOutcome {
  const { route, path, query, body, receivedAtMs } = request;
  const source = route.kind;

  if (decodePathSegment(route.subscribeKey) !== keyset.subscribeKey) {
    return rejected(
      invalidValue(
        "Invalid subscribe key",
        source,
        "The subscribe key in the path does not belong to this keyset.",
        "subscribeKey",
        "path",
      ),
    );
  }
  const missing = checkRequiredQuery(query, source);
  if (missing !== undefined) {
    return rejected(missing);
  }

  const method = route.kind === "grant" ? "POST" : "DELETE";
  const expected = signRequest({ method, path, query, body }, keyset.publishKey, keyset.secretKey);
  if (!signaturesEqual(query.signature ?? "", expected)) {
    return { response: invalidSignature(source), result: "badSignature" };
  }

  const timestampProblem = checkTimestamp(query.timestamp ?? "", receivedAtMs, keyset.timestampWindowSeconds, source);
  if (timestampProblem !== undefined) {
    return rejected(timestampProblem);
  }

  return route.kind === "grant"
    ? grant(body, receivedAtMs, keyset.secretKey)
    : revoke(route.token, keyset.secretKey);
}
