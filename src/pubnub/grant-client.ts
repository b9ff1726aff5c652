import { createSecretKey, randomUUID, type KeyObject } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import type { CircuitBreaker } from "./circuit-breaker.js";
import { encodeQueryValue, signSortedRequest } from "./signature.js";

/** A grant: one authorized user and a set of channels, each with a permission bitmask. */
export interface GrantRequest {
  /** PubNub user id that alone may use the token ("authorized_uuid"). */
  readonly authorizedUuid: string;
  /** Token lifetime in minutes, 1 to 43200. */
  readonly ttlMinutes: number;
  /** Channel name to permission bitmask (read 1, write 2). */
  readonly channels: Readonly<Record<string, number>>;
}

/** Settings of a grant client. Defaults are stated on each field. */
export interface GrantClientOptions {
  /** Base URL of PubNub's REST API, such as "https://ps.pndsn.com". */
  readonly origin: string;
  readonly subscribeKey: string;
  readonly publishKey: string;
  readonly secretKey: string;
  /** The service's own PubNub user id, sent as the "uuid" query parameter of every request. */
  readonly serverUuid: string;
  /** Value of the "pnsdk" query parameter. */
  readonly sdkName: string;
  /** Wall clock in Unix milliseconds, for the signed "timestamp". Default: Date.now. */
  readonly now?: () => number;
  /** Attempts per grant, first try included. Default 3. */
  readonly maxAttempts?: number;
  /** Time limit of one attempt in milliseconds, further bounded by the caller's deadline. Default 5000. */
  readonly attemptTimeoutMs?: number;
  /** Upper bound of the first retry delay in milliseconds; it doubles per retry. Default 50. */
  readonly retryBaseDelayMs?: number;
  /** Cap on any retry delay in milliseconds. Default 1000. */
  readonly retryMaxDelayMs?: number;
  /** Kept-alive connections to the origin. Default 64. */
  readonly connections?: number;
  /** Random source in [0, 1) for retry jitter. Default: Math.random. */
  readonly random?: () => number;
  /** Circuit breaker that rejects grants at once while PubNub keeps failing. Default: none. */
  readonly breaker?: CircuitBreaker;
  /** Receives each attempt, retry and failure, for metrics. Default: none. */
  readonly observer?: GrantObserver;
}

/** Callbacks for metrics about grants. */
export interface GrantObserver {
  /** One HTTP attempt ended: "ok", "http_<status>" or "error" (network error or timeout). */
  attempt(outcome: string, seconds: number): void;
  retry(): void;
  failure(kind: GrantFailureKind): void;
}

/** Cause of a failed grant, for mapping to a status a caller can act on. */
export type GrantFailureKind =
  /** PubNub kept failing with 5xx, 429, network errors or attempt timeouts. Worth retrying later. */
  | "unavailable"
  /** The caller's deadline passed before PubNub responded. */
  | "deadline-exceeded"
  /** PubNub rejected the service's credentials, signature or clock (403 and other 4xx). */
  | "rejected"
  /** PubNub found the grant itself invalid (400), such as a channel name it does not accept. */
  | "invalid"
  /** The caller cancelled the call. */
  | "cancelled";

/**
 * A failed grant. The message and fields carry PubNub's status and reason, never a key, a
 * signature or a token, so they are safe to log.
 */
export class GrantError extends Error {
  override readonly name = "GrantError";
  /** HTTP status of the last response, when there was one. */
  readonly status: number | undefined;
  /** Attempts made, first try included. */
  readonly attempts: number;
  /** PubNub's own error text, without request data; safe to show the caller of an "invalid" grant. */
  readonly upstreamMessage: string | undefined;
  /** When the circuit breaker rejected the call: the time until it lets a call through, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** Attempts that failed at PubNub (5xx, 429, network error, attempt timeout) before the grant ended. */
  readonly failedAttempts: number;

  constructor(readonly kind: GrantFailureKind, message: string, details: GrantErrorDetails) {
    super(message);
    this.status = details.status;
    this.attempts = details.attempts;
    this.upstreamMessage = details.upstreamMessage;
    this.retryAfterMs = details.retryAfterMs;
    this.failedAttempts = details.failedAttempts ?? 0;
  }
}

/** Facts about a failed grant, for GrantError. */
export interface GrantErrorDetails {
  readonly status?: number | undefined;
  readonly attempts: number;
  readonly upstreamMessage?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  readonly failedAttempts?: number | undefined;
}

/** Result of one HTTP exchange with PubNub. */
type AttemptResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly transient: boolean; readonly status?: number; readonly reason: string; readonly upstreamMessage?: string };

const MAX_RESPONSE_BYTES = 64 * 1024;

/** Longest PubNub error text kept; PubNub's own messages are far shorter. */
const MAX_UPSTREAM_MESSAGE_LENGTH = 300;

/**
 * Shape of an Access Manager v3 token: base64 with the URL-safe alphabet and "=" padding. Real
 * tokens are a few hundred characters; 8 KiB leaves room for large grants.
 */
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{8,8192}={0,2}$/;

/**
 * Client for PubNub Access Manager v3 grants: POST /v3/pam/{subscribeKey}/grant, signed with
 * signature v2.
 *
 * Unlike the official SDK, it keeps connections alive in a pool and bounds every attempt by the
 * caller's deadline. It retries transient failures (5xx, 429, network errors, attempt timeouts) a
 * bounded number of times with full jitter, and signs each attempt anew with a fresh timestamp and
 * request id.
 */
export class PubNubGrantClient {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly maxAttempts: number;
  private readonly attemptTimeoutMs: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly secretKey: KeyObject;
  private readonly query: GrantQuery;

  constructor(private readonly options: GrantClientOptions) {
    this.pool = new Pool(options.origin, {
      connections: options.connections ?? 64,
      pipelining: 1,
      keepAliveTimeout: 30_000,
    });
    this.path = `/v3/pam/${encodeURIComponent(options.subscribeKey)}/grant`;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 5000;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 50;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 1000;
    this.secretKey = createSecretKey(Buffer.from(options.secretKey, "utf8"));
    this.query = grantQuery(options.serverUuid, options.sdkName);
  }

  /**
   * Asks PubNub for a token and returns it as PubNub sent it. Gives up when timeoutMs has passed
   * or signal aborts. Throws GrantError.
   */
  async grantToken(request: GrantRequest, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    try {
      return await this.grantThroughBreaker(request, timeoutMs, signal);
    } catch (error) {
      if (error instanceof GrantError) {
        this.options.observer?.failure(error.kind);
      }
      throw error;
    }
  }

  private async grantThroughBreaker(request: GrantRequest, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const breaker = this.options.breaker;
    if (breaker === undefined) {
      return this.grantWithRetries(request, timeoutMs, signal);
    }

    const decision = breaker.check();
    if (!decision.allowed) {
      throw new GrantError("unavailable", "PubNub circuit is open after repeated failures", { attempts: 0, retryAfterMs: decision.retryAfterMs });
    }
    try {
      const token = await this.grantWithRetries(request, timeoutMs, signal);
      breaker.recordSuccess();
      return token;
    } catch (error) {
      recordOutcome(breaker, error);
      throw error;
    }
  }

  /**
   * Runs the attempts. A grant that the caller's deadline or cancellation ends after PubNub failed
   * an attempt carries the count of failed attempts, so that the breaker counts it.
   */
  private async grantWithRetries(request: GrantRequest, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const failures = { count: 0 };
    try {
      return await this.runAttempts(request, timeoutMs, signal, failures);
    } catch (error) {
      if (error instanceof GrantError && failures.count > 0 && (error.kind === "deadline-exceeded" || error.kind === "cancelled")) {
        throw new GrantError(error.kind, error.message, { status: error.status, attempts: error.attempts, failedAttempts: failures.count });
      }
      throw error;
    }
  }

  /** Makes attempts until one succeeds, PubNub rejects the grant, or the attempts or the time run out. */
  private async runAttempts(request: GrantRequest, timeoutMs: number, signal: AbortSignal | undefined, failures: { count: number }): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    const body = grantBody(request);

    for (let attempt = 1; ; attempt++) {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) {
        throw new GrantError("deadline-exceeded", "deadline exceeded before PubNub responded", { attempts: attempt - 1 });
      }

      const attemptMs = Math.min(this.attemptTimeoutMs, remainingMs);
      const startedAt = performance.now();
      const result = await this.attempt(body, attemptMs, attemptMs === remainingMs, signal, attempt);
      this.options.observer?.attempt(attemptOutcome(result), (performance.now() - startedAt) / 1000);
      if (result.ok) {
        return result.token;
      }
      if (!result.transient) {
        const kind = result.status === 400 ? "invalid" : "rejected";
        throw new GrantError(kind, `PubNub rejected the grant: ${result.reason}`, {
          status: result.status,
          attempts: attempt,
          upstreamMessage: result.upstreamMessage,
        });
      }
      failures.count++;
      if (attempt >= this.maxAttempts) {
        throw new GrantError("unavailable", `PubNub failed ${attempt} times, last: ${result.reason}`, { status: result.status, attempts: attempt });
      }

      const delayMs = this.retryDelayMs(attempt);
      if (performance.now() + delayMs >= deadline) {
        throw new GrantError("unavailable", `PubNub failed and no time is left to retry, last: ${result.reason}`, {
          status: result.status,
          attempts: attempt,
        });
      }
      this.options.observer?.retry();
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private async attempt(
    body: string,
    timeoutMs: number,
    boundByDeadline: boolean,
    callerSignal: AbortSignal | undefined,
    attempt: number,
  ): Promise<AttemptResult> {
    throwIfCancelled(callerSignal, attempt);
    const exchange = new ResponseCollector();
    // One timer and one listener, both released when the attempt ends. AbortSignal.timeout and
    // AbortSignal.any would keep every attempt's signals alive until the timeout passed.
    let timedOut = false;
    // When the caller's deadline bounds the attempt, the caller's signal aborts at that deadline
    // too. This timer then waits a little longer, so that the signal, not a race between two
    // timers, decides how a passed deadline is reported.
    const graceMs = boundByDeadline && callerSignal !== undefined ? DEADLINE_GRACE_MS : 0;
    const timer = setTimeout(() => {
      timedOut = true;
      exchange.abort(new undiciErrors.RequestAbortedError("attempt timed out"));
    }, Math.max(1, Math.ceil(timeoutMs)) + graceMs);
    const onCallerAbort = () => exchange.abort(new undiciErrors.RequestAbortedError("call cancelled"));
    callerSignal?.addEventListener("abort", onCallerAbort);

    try {
      this.pool.dispatch(
        { method: "POST", path: this.signedPath(body), headers: { "content-type": "application/json" }, body },
        exchange,
      );
      const response = await exchange.response;
      return interpretResponse(response.status, response.text);
    } catch (error) {
      throwIfCancelled(callerSignal, attempt);
      if (timedOut) {
        if (boundByDeadline) {
          throw new GrantError("deadline-exceeded", "deadline exceeded while waiting for PubNub", { attempts: attempt });
        }
        return { ok: false, transient: true, reason: `no answer within ${Math.round(timeoutMs)} ms` };
      }
      return { ok: false, transient: true, reason: describeNetworkError(error) };
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onCallerAbort);
    }
  }

  /** Builds the path and query of one attempt: a fresh request id and timestamp, and their signature. */
  private signedPath(body: string): string {
    const requestId = randomUUID();
    const timestamp = String(Math.floor(this.now() / 1000));
    const sortedQuery = `${this.query.signedStart}${requestId}&timestamp=${timestamp}${this.query.signedEnd}`;
    const signature = signSortedRequest({ method: "POST", path: this.path, sortedQuery, body }, this.options.publishKey, this.secretKey);
    return `${this.path}?${this.query.sentStart}${requestId}${this.query.sentMiddle}${timestamp}&signature=${signature}`;
  }

  /** Full jitter: a random delay up to base * 2^(attempt - 1), capped. */
  private retryDelayMs(attempt: number): number {
    const ceiling = Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.random() * ceiling);
  }
}

/**
 * The fixed parts of a grant's query, encoded once: the text around the request id and timestamp
 * as signed (keys sorted, encoded by encodeQueryValue) and as sent (URLSearchParams encoding, in
 * the order uuid, requestid, pnsdk, timestamp, signature). A request id from randomUUID, a
 * timestamp of digits and a "v2." base64url signature read the same under both encodings, so
 * they are inserted as they are.
 */
interface GrantQuery {
  readonly signedStart: string;
  readonly signedEnd: string;
  readonly sentStart: string;
  readonly sentMiddle: string;
}

function grantQuery(serverUuid: string, sdkName: string): GrantQuery {
  const sent = (name: string, value: string) => new URLSearchParams({ [name]: value }).toString();
  return {
    signedStart: `pnsdk=${encodeQueryValue(sdkName)}&requestid=`,
    signedEnd: `&uuid=${encodeQueryValue(serverUuid)}`,
    sentStart: `${sent("uuid", serverUuid)}&requestid=`,
    sentMiddle: `&${sent("pnsdk", sdkName)}&timestamp=`,
  };
}

/** Labels an attempt for metrics: "ok", "http_<status>", or "error" for a network error or timeout. */
function attemptOutcome(result: AttemptResult): string {
  if (result.ok) {
    return "ok";
  }
  return result.status === undefined ? "error" : `http_${result.status}`;
}

/**
 * Time, in milliseconds, an attempt's own timer waits past the caller's deadline. It covers the
 * millisecond rounding between the caller's deadline and this client's clock.
 */
const DEADLINE_GRACE_MS = 5;

/**
 * Tells the breaker how a grant ended. Any response from PubNub, even a rejection, counts as a
 * success, because only a missing response means that PubNub is unavailable. A grant the caller's
 * deadline or cancellation ended counts as a failure only if PubNub had failed an attempt
 * first, because a short deadline alone is no sign of PubNub's health.
 */
function recordOutcome(breaker: CircuitBreaker, error: unknown): void {
  const endedByCaller = error instanceof GrantError && (error.kind === "cancelled" || error.kind === "deadline-exceeded");
  if (!(error instanceof GrantError) || (endedByCaller && error.failedAttempts === 0)) {
    breaker.recordAbandoned();
  } else if (error.kind === "unavailable" || endedByCaller) {
    breaker.recordFailure();
  } else {
    breaker.recordSuccess();
  }
}

/**
 * Builds the grant body exactly as PubNub's SDK lays it out, unused resource kinds included:
 * JSON.stringify of {ttl, permissions: {uuid, resources: {channels, groups, uuids, users,
 * spaces}, patterns: {...}, meta}}, written out around the three values it contains.
 */
export function grantBody(request: GrantRequest): string {
  return (
    `{"ttl":${JSON.stringify(request.ttlMinutes)},"permissions":{"uuid":${JSON.stringify(request.authorizedUuid)},` +
    `"resources":{"channels":${JSON.stringify(request.channels)},"groups":{},"uuids":{},"users":{},"spaces":{}},` +
    `"patterns":{"channels":{},"groups":{},"uuids":{},"users":{},"spaces":{}},"meta":{}}}`
  );
}

// NOTE: the caller's deadline reaches this client through the signal too, so a grant ended by it
// counts with cause "cancelled" in token_service_pubnub_grant_failures_total.
function throwIfCancelled(signal: AbortSignal | undefined, attempt: number): void {
  if (signal?.aborted) {
    throw new GrantError("cancelled", "the call was cancelled", { attempts: attempt });
  }
}

/** Status and body text of one HTTP response. */
interface HttpResponse {
  readonly status: number;
  readonly text: string;
}

/**
 * Receives one response from Pool.dispatch, without the stream that Pool.request wraps around
 * each body. A body over MAX_RESPONSE_BYTES is abandoned, which closes the connection, and read
 * as empty. abort() ends the exchange at once when it is under way. An exchange still waiting in
 * the pool's queue ends when the pool starts it, as Pool.request's would.
 */
class ResponseCollector implements Dispatcher.DispatchHandler {
  /** Settles when the response is complete or the exchange fails. */
  readonly response: Promise<HttpResponse>;
  private resolve!: (response: HttpResponse) => void;
  private reject!: (error: Error) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private status = 0;
  private size = 0;
  private tooLarge = false;
  private readonly chunks: Buffer[] = [];

  constructor() {
    this.response = new Promise<HttpResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  abort(reason: Error): void {
    this.abortReason ??= reason;
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) {
      controller.abort(this.abortReason);
    }
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > MAX_RESPONSE_BYTES) {
      this.tooLarge = true;
      controller.abort(new undiciErrors.ResponseExceededMaxSizeError(`response body over ${MAX_RESPONSE_BYTES} bytes`));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.resolve({ status: this.status, text: Buffer.concat(this.chunks).toString("utf8") });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.tooLarge) {
      this.resolve({ status: this.status, text: "" });
    } else {
      this.reject(error);
    }
  }
}

interface PubNubResponseBody {
  status?: unknown;
  message?: unknown;
  error?: unknown;
  data?: { token?: unknown };
}

/**
 * Interprets PubNub's response. A body whose "status" is 400 or more is an error even under HTTP 200.
 * 5xx and 429 are transient; other 4xx mean PubNub rejected the request.
 */
function interpretResponse(httpStatus: number, text: string): AttemptResult {
  let parsed: PubNubResponseBody | undefined;
  try {
    parsed = JSON.parse(text) as PubNubResponseBody;
  } catch {
    parsed = undefined;
  }

  const bodyStatus = typeof parsed?.status === "number" ? parsed.status : undefined;
  const status = httpStatus >= 400 ? httpStatus : (bodyStatus ?? httpStatus);
  if (status < 400) {
    const token = parsed?.data?.token;
    if (typeof token === "string" && TOKEN_FORMAT.test(token)) {
      return { ok: true, token };
    }
    return { ok: false, transient: true, status, reason: `HTTP ${httpStatus} without a well-formed token in the body` };
  }

  const transient = status >= 500 || status === 429;
  const upstreamMessage = upstreamReason(parsed).slice(0, MAX_UPSTREAM_MESSAGE_LENGTH);
  return { ok: false, transient, status, reason: `HTTP ${status} ${upstreamMessage}`.trim(), upstreamMessage };
}

/** Extracts PubNub's own error text: message and detail messages, never request data. */
function upstreamReason(body: PubNubResponseBody | undefined): string {
  if (body === undefined) {
    return "(unreadable body)";
  }
  const error = body.error;
  if (typeof error === "object" && error !== null) {
    const { message, details } = error as { message?: unknown; details?: unknown };
    const detailText = Array.isArray(details)
      ? details
          .map((detail: { message?: unknown; location?: unknown }) =>
            typeof detail?.message === "string" ? `${String(detail.location ?? "")}: ${detail.message}` : "",
          )
          .filter((line) => line !== "")
          .join("; ")
      : "";
    return [typeof message === "string" ? message : "", detailText].filter((part) => part !== "").join(" - ");
  }
  return typeof body.message === "string" ? body.message : "";
}

function describeNetworkError(error: unknown): string {
  if (error instanceof undiciErrors.UndiciError) {
    return `network error ${error.code}`;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? `network error ${code}` : "network error";
}
