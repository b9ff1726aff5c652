import { createHmac, type KeyObject } from "node:crypto";

/** Query parameters of a PubNub REST request, before the signature is added. */
export type QueryParams = Readonly<Record<string, string>>;

/** The parts of a PubNub REST request that signature v2 covers. */
export interface SignedRequestParts {
  /** HTTP method in upper case, such as "POST". */
  readonly method: string;
  /** Request path exactly as sent, still percent-encoded, without the query. */
  readonly path: string;
  /** Query parameters; a "signature" entry, if present, is left out of the signed text. */
  readonly query: QueryParams;
  /** Request body; only POST and PATCH bodies are signed. */
  readonly body?: string;
}

/**
 * Percent-encodes a query value the way PubNub signs it: like encodeURIComponent, and then also
 * ! ' ( ) * ~, so that only A-Z a-z 0-9 - _ . stay unencoded.
 */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*~]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** Sorts query parameters by key in UTF-16 code-unit order, leaving out "signature". */
export function sortedQueryString(query: QueryParams): string {
  return Object.keys(query)
    .filter((key) => key !== "signature")
    .sort()
    .map((key) => `${key}=${encodeQueryValue(query[key] ?? "")}`)
    .join("&");
}

/**
 * Computes a PubNub v2 request signature: "v2." followed by the unpadded base64url HMAC-SHA256 of
 * METHOD, publish key, path, sorted query and (for POST and PATCH) body, joined by newlines.
 */
export function signRequest(parts: SignedRequestParts, publishKey: string, secretKey: string | KeyObject): string {
  return signSortedRequest({ ...parts, sortedQuery: sortedQueryString(parts.query) }, publishKey, secretKey);
}

/** The parts of a request that signature v2 covers, with the query already sorted and encoded. */
export interface SortedRequestParts {
  readonly method: string;
  readonly path: string;
  /** The query as sortedQueryString returns it. */
  readonly sortedQuery: string;
  readonly body?: string;
}

/**
 * Computes the signature that signRequest computes, from a query that sortedQueryString has
 * already laid out. Callers that sign many requests pass the secret key as a KeyObject, imported
 * once with createSecretKey.
 */
export function signSortedRequest(parts: SortedRequestParts, publishKey: string, secretKey: string | KeyObject): string {
  const signsBody = parts.method === "POST" || parts.method === "PATCH";
  const text = `${parts.method}\n${publishKey}\n${parts.path}\n${parts.sortedQuery}\n` + (signsBody ? (parts.body ?? "") : "");
  const digest = createHmac("sha256", secretKey).update(text, "utf8").digest("base64url");
  return `v2.${digest}`;
}
