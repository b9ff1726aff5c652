import { pino, type DestinationStream, type Logger } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger, createRedactingLogger } from "../src/server/logger.js";

/** A pino destination that keeps each write. */
class CapturedWrites implements DestinationStream {
  readonly writes: string[] = [];

  write(chunk: string): void {
    this.writes.push(chunk);
  }
}

/** The call log's paths, as src/server/logger.ts lists them. */
const CALL_LOG_PATHS = [
  "token",
  "pubnubToken",
  "secret",
  "secretKey",
  "masterKey",
  "masterSecret",
  "conferenceSecret",
  "signature",
  "authorization",
].flatMap((name) => [name, `*.${name}`]);

/** Three levels deep, as the audit log redacts. */
const THREE_LEVEL_PATHS = ["token", "key", "secret", "authorization"].flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);

/** Creates an error with extra enumerable fields, as some libraries throw. */
function errorWith(fields: Record<string, unknown>): Error {
  return Object.assign(new Error("upstream failed"), fields);
}

/** Log calls to compare, each as the arguments of logger.info. */
const CALLS: [string, unknown[]][] = [
  ["a call record", [{ procedure: "red5.token.v1.TokenService/IssueChatToken", protocol: "application/grpc", userId: "user-1", code: "ok", latencyMs: 1.25 }, "call finished"]],
  ["a message alone", ["server started"]],
  ["format arguments", ["%s started on %d", "server", 8080]],
  ["a top-level token", [{ token: "t-1", userId: "user-1" }, "leak"]],
  ["a top-level authorization object", [{ authorization: { scheme: "Bearer" } }, "leak"]],
  ["a nested token", [{ upstream: { kind: "rejected", token: "t-2", status: 403 } }, "leak"]],
  ["a nested object without secrets", [{ upstream: { kind: "unavailable", status: 503, attempts: 3, reason: "HTTP 503" } }, "call failed at PubNub"]],
  ["a token two levels down", [{ request: { headers: { authorization: "Bearer a-1" } } }, "deep"]],
  ["an unpaired surrogate at the top", [{ userId: "user\ud800x" }, "call finished"]],
  ["an unpaired surrogate nested", [{ caller: { name: "caller\udc00" } }, "call finished"]],
  ["an unpaired surrogate in the message", [{ userId: "user-1" }, "message \ud800"]],
  ["control and separator characters", [{ roomId: 'room\n"\u2028\u0085\\' }, "call finished"]],
  ["a long string", [{ userId: "u".repeat(150) }, "call finished"]],
  ["a Date at the top", [{ at: new Date(0) }, "dated"]],
  ["a Date nested", [{ window: { from: new Date(0) } }, "dated"]],
  ["a Map nested", [{ window: { seen: new Map([["a", 1]]) } }, "mapped"]],
  ["an array", [{ ids: ["a", "b"], grants: [{ token: "t-3" }] }, "listed"]],
  ["null and undefined fields", [{ grpcStatus: undefined, reason: null, ok: true, count: Number.NaN }, "call rejected"]],
  ["an error", [{ err: new Error("boom"), code: "Internal" }, "call failed unexpectedly"]],
  ["an error with a secret field", [{ err: errorWith({ secret: "s-1", status: 500 }) }, "call failed unexpectedly"]],
  ["an error as the first argument", [new Error("boom")]],
  ["an error under another key", [{ cause: new Error("boom") }, "wrapped"]],
  ["a null first argument", [null, "nothing"]],
  ["a null-prototype object", [Object.assign(Object.create(null) as object, { userId: "user-1" }), "bare"]],
  ["a class instance", [{ value: new (class Box { token = "t-4"; })() }, "boxed"]],
];

/** Writes the calls through a logger and returns the lines, with pino's clock frozen. */
function logAll(create: (destination: DestinationStream) => Logger, use: (logger: Logger) => Logger = (logger) => logger): string[] {
  const destination = new CapturedWrites();
  const logger = use(create(destination));
  for (const [, args] of CALLS) {
    (logger.info as (...values: unknown[]) => void)(...args);
  }
  return destination.writes;
}

describe("createRedactingLogger", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 15, 12), toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const options = { level: "info" as const, base: { service: "red5-token-service" } };
  const cases = [
    ["one level", CALL_LOG_PATHS],
    ["three levels", THREE_LEVEL_PATHS],
  ] as const;

  it.each(cases)("writes what pino's redaction writes, %s", (_name, paths) => {
    const expected = logAll((destination) => pino({ ...options, redact: { paths: [...paths], censor: "[redacted]" } }, destination));

    const actual = logAll((destination) => createRedactingLogger(options, paths, destination));

    expect(actual).toHaveLength(CALLS.length);
    CALLS.forEach(([name], index) => {
      expect(actual[index], name).toBe(expected[index]);
    });
  });

  it.each(cases)("writes what pino's redaction writes through children, %s", (_name, paths) => {
    const children = (logger: Logger) => logger.child({ worker: 2 }).child({ region: "eu\ud800" }).child({ shard: 1 });
    const expected = logAll((destination) => pino({ ...options, redact: { paths: [...paths], censor: "[redacted]" } }, destination), children);

    const actual = logAll((destination) => createRedactingLogger(options, paths, destination), children);

    CALLS.forEach(([name], index) => {
      expect(actual[index], name).toBe(expected[index]);
    });
  });

  it("redacts child bindings", () => {
    const destination = new CapturedWrites();

    createLogger("info", destination).child({ secret: "s-1" }).info({ userId: "user-1" }, "bound");

    expect(destination.writes.join("")).not.toContain("s-1");
    expect(JSON.parse(destination.writes[0] ?? "{}")).toMatchObject({ secret: "[redacted]", userId: "user-1" });
  });

  it("follows level changes", () => {
    const destination = new CapturedWrites();
    const logger = createLogger("warn", destination);

    logger.info({ userId: "user-1" }, "dropped");
    logger.level = "debug";
    logger.debug({ userId: "user-1" }, "kept");

    expect(destination.writes).toHaveLength(1);
    expect(destination.writes[0]).toContain('"msg":"kept"');
  });

  it("rejects a path with a named parent", () => {
    expect(() => createRedactingLogger(options, ["request.token"])).toThrow(TypeError);
  });
});
