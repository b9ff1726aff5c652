import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";

/** Maximum request body in bytes. Larger bodies get a 413, while a grant for one room is about 200 bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

const GRANT_PATH = /^\/v3\/pam\/([^/]+)\/grant$/;
const REVOKE_PATH = /^\/v3\/pam\/([^/]+)\/grant\/([^/]+)$/;

/** An Access Manager endpoint with the raw (still percent-encoded) path segments it carries. */
export type Route =
  | { kind: "grant"; subscribeKey: string }
  | { kind: "revoke"; subscribeKey: string; token: string };

/** The path and query of a request target, split as received. */
export interface RequestTarget {
  /** Raw path, still percent-encoded, without the query. */
  path: string;
  /** Query parameters decoded with URLSearchParams; a repeated name keeps its last value. */
  query: Record<string, string>;
}

/** Splits a raw request target such as `/v3/pam/sub/grant?uuid=a` into its path and query. */
export function splitTarget(rawUrl: string): RequestTarget {
  const queryStart = rawUrl.indexOf("?");
  const path = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? "" : rawUrl.slice(queryStart + 1);
  return { path, query: Object.fromEntries(new URLSearchParams(rawQuery)) };
}

/** Finds the endpoint for a method and raw path: POST grant or DELETE revoke. */
export function matchRoute(method: string, path: string): Route | undefined {
  const grant = method === "POST" ? GRANT_PATH.exec(path) : null;
  if (grant) {
    return { kind: "grant", subscribeKey: grant[1] ?? "" };
  }
  const revoke = method === "DELETE" ? REVOKE_PATH.exec(path) : null;
  if (revoke) {
    return { kind: "revoke", subscribeKey: revoke[1] ?? "", token: revoke[2] ?? "" };
  }
  return undefined;
}

/** Percent-decodes one path segment, or returns undefined when its escapes are malformed. */
export function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Compares two signatures in constant time for equal lengths. */
export function signaturesEqual(received: string, expected: string): boolean {
  const a = Buffer.from(received, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Reads the whole body as UTF-8, or returns undefined when it exceeds MAX_BODY_BYTES. The rest of
 * an oversized body is read and discarded, so the connection can still carry the response.
 */
export async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk);
    }
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8");
}
