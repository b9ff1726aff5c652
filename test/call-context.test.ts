import { getEventListeners } from "node:events";
import { Code, ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { createCallContext } from "../src/server/call-context.js";

/** A context as either implementation makes it: the fields and the abort under comparison. */
interface Context {
  readonly signal: AbortSignal;
  timeoutMs(): number | undefined;
  readonly requestHeader: Headers;
  readonly responseHeader: Headers;
  readonly responseTrailer: Headers;
  readonly url: string;
  readonly protocolName: string;
  readonly requestMethod: string;
  readonly values: unknown;
  abort(reason?: unknown): void;
}

type Create = (timeoutMs: number | undefined, shutdownSignal: AbortSignal | undefined) => Context;

const values = createContextValues();

const COMMON = {
  service: TokenService,
  method: TokenService.method.issueChatToken,
  protocolName: "grpc",
  requestMethod: "POST",
  url: "http://127.0.0.1:8080/red5.token.v1.TokenService/IssueChatToken",
  requestHeader: { "content-type": "application/grpc", authorization: "Bearer key" },
  responseHeader: { "content-type": "application/grpc+proto" },
  responseTrailer: { "grpc-status": "0" },
  contextValues: values,
};

const IMPLEMENTATIONS: ReadonlyArray<readonly [string, Create]> = [
  ["connect's createHandlerContext", (timeoutMs, shutdownSignal) => createHandlerContext({ ...COMMON, timeoutMs, shutdownSignal })],
  ["createCallContext", (timeoutMs, shutdownSignal) => createCallContext({ ...COMMON, timeoutMs, shutdownSignal })],
];

/** Describes a signal for comparison: whether it aborted, and its reason. */
function observe(signal: AbortSignal): unknown {
  if (!signal.aborted) {
    return "not aborted";
  }
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) {
    return { connectError: Code[reason.code], message: reason.rawMessage };
  }
  if (reason instanceof Error) {
    return { error: reason.name, message: reason.message };
  }
  return { reason };
}

/** Runs a scenario on both implementations and returns what each showed. */
function onBoth(scenario: (create: Create) => unknown): unknown[] {
  return IMPLEMENTATIONS.map(([, create]) => scenario(create));
}

describe("call context", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date("2026-12-05T10:00:00Z") });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("carries the same fields", () => {
    const [connect, own] = onBoth((create) => {
      const context = create(undefined, undefined);
      return {
        url: context.url,
        protocolName: context.protocolName,
        requestMethod: context.requestMethod,
        requestHeader: [...context.requestHeader],
        responseHeader: [...context.responseHeader],
        responseTrailer: [...context.responseTrailer],
        timeoutMs: context.timeoutMs(),
        signal: observe(context.signal),
        sameValues: context.values === values,
      };
    });

    expect(own).toEqual(connect);
    expect(own).toMatchObject({ sameValues: true, timeoutMs: undefined, signal: "not aborted" });
    expect((own as { requestHeader: unknown[] }).requestHeader).toHaveLength(2);
  });

  it("aborts when the deadline passes", () => {
    const [connect, own] = onBoth((create) => {
      const context = create(50, undefined);
      vi.advanceTimersByTime(20);
      const early = { signal: observe(context.signal), remaining: context.timeoutMs() };
      vi.advanceTimersByTime(30);
      return { early, late: observe(context.signal), remaining: context.timeoutMs() };
    });

    expect(own).toEqual(connect);
    expect(own).toMatchObject({ early: { signal: "not aborted", remaining: 30 }, late: { connectError: "DeadlineExceeded" } });
  });

  it.each([0, -5])("aborts at once with a deadline of %i ms", (timeoutMs) => {
    const [connect, own] = onBoth((create) => observe(create(timeoutMs, undefined).signal));

    expect(own).toEqual(connect);
    expect(own).toEqual({ connectError: "DeadlineExceeded", message: "the operation timed out" });
  });

  it("keeps the first abort reason and stops the deadline", () => {
    const [connect, own] = onBoth((create) => {
      const context = create(50, undefined);
      context.abort(new ConnectError("stream reset", Code.Canceled));
      context.abort(new ConnectError("second", Code.Internal));
      vi.advanceTimersByTime(100);
      return { signal: observe(context.signal), pendingTimers: vi.getTimerCount() };
    });

    expect(own).toEqual(connect);
    expect(own).toEqual({ signal: { connectError: "Canceled", message: "stream reset" }, pendingTimers: 0 });
  });

  it("aborts with AbortError when abort has no reason", () => {
    const [connect, own] = onBoth((create) => {
      const context = create(undefined, undefined);
      context.abort();
      return observe(context.signal);
    });

    expect(own).toEqual(connect);
    expect(own).toMatchObject({ error: "AbortError" });
  });

  it("follows the shutdown signal and lets go of it", () => {
    const [connect, own] = onBoth((create) => {
      const shutdown = new AbortController();
      const context = create(50, shutdown.signal);
      const listening = getEventListeners(shutdown.signal, "abort").length;
      shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      return { listening, signal: observe(context.signal), left: getEventListeners(shutdown.signal, "abort").length };
    });

    expect(own).toEqual(connect);
    expect(own).toEqual({ listening: 1, signal: { connectError: "Unavailable", message: "server is shutting down" }, left: 0 });
  });

  it("removes its shutdown listener when the call ends", () => {
    const [connect, own] = onBoth((create) => {
      const shutdown = new AbortController();
      create(50, shutdown.signal).abort(new Error("released"));
      return getEventListeners(shutdown.signal, "abort").length;
    });

    expect(own).toEqual(connect);
    expect(own).toBe(0);
  });

  it.each([
    ["a shutdown under way", 50, { connectError: "Unavailable", message: "shutting down" }],
    ["a passed deadline before a shutdown", 0, { connectError: "DeadlineExceeded", message: "the operation timed out" }],
  ])("aborts at once for %s", (_, timeoutMs, expected) => {
    const [connect, own] = onBoth((create) => {
      const shutdown = new AbortController();
      shutdown.abort(new ConnectError("shutting down", Code.Unavailable));
      return observe(create(timeoutMs, shutdown.signal).signal);
    });

    expect(own).toEqual(connect);
    expect(own).toEqual(expected);
  });
});
