/**
 * The in-process alternative to the token service that a backend would write itself: the official
 * PubNub SDK's grantToken for the chat token, and for a conference token also jsonwebtoken signing
 * Red5's claims with the conference secret. It runs a load loop against the emulator with a fixed
 * number of calls in flight. The benchmark starts it (bench/lib/alternative.ts) and measures its
 * CPU time from /proc, as it does the service's.
 *
 * It talks to the parent over IPC and runs until the parent stops it. After the warm-up calls it sends "warm" and waits for "go".
 * After the measured calls it sends "done" at once, and sends its results only on a "report"
 * request, so that reporting costs no CPU inside the measured window.
 *
 * @module
 */
import { parseArgs } from "node:util";
import jwt from "jsonwebtoken";
import PubNub from "pubnub";
import { BENCH_CREDENTIALS } from "./credentials.js";

/** Tokens the alternative mints per call: a chat token alone, or a conference token embedding one. */
export type AlternativeMode = "chat" | "conference";

/** A message from the parent. */
export type AlternativeCommand = { readonly type: "go" } | { readonly type: "report" };

/** A message to the parent. */
export type AlternativeMessage =
  | { readonly type: "warm" }
  | { readonly type: "done" }
  | {
      readonly type: "report";
      readonly succeeded: number;
      readonly failed: number;
      readonly seconds: number;
      /** Latency of each successful call in microseconds, unsorted. */
      readonly latenciesUs: number[];
      readonly firstError: string | undefined;
    };

const USER_ID = "bench-user-1";
const ROOM_ID = "bench-room-1";
const TOKEN_MINUTES = 60;

/** Outcome of a batch of calls. */
interface Batch {
  succeeded: number;
  failed: number;
  latenciesUs: number[];
  firstError: string | undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      origin: { type: "string" },
      mode: { type: "string", default: "chat" },
      calls: { type: "string", default: "10000" },
      warmup: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "256" },
    },
  });
  if (values.origin === undefined || (values.mode !== "chat" && values.mode !== "conference")) {
    throw new Error("usage: sdk-alternative.ts --origin 127.0.0.1:PORT [--mode chat|conference] [--calls N] [--warmup N] [--concurrency N]");
  }
  const mode: AlternativeMode = values.mode;
  const pubnub = new PubNub({
    origin: values.origin,
    ssl: false,
    subscribeKey: BENCH_CREDENTIALS.pubnubSubscribeKey,
    publishKey: BENCH_CREDENTIALS.pubnubPublishKey,
    secretKey: BENCH_CREDENTIALS.pubnubSecretKey,
    userId: "red5-token-service",
    // A server-side user would keep connections alive; the SDK's default (false) opens one per request.
    keepAlive: true,
  });
  const mint = mode === "chat" ? () => mintChatToken(pubnub) : () => mintConferenceToken(pubnub);
  const concurrency = Number(values.concurrency);

  const warmup = await runCalls(mint, Number(values.warmup), concurrency);
  if (warmup.failed > 0) {
    throw new Error(`${warmup.failed} warm-up calls failed, first: ${warmup.firstError}`);
  }
  send({ type: "warm" });
  await nextCommand("go");

  const startedAt = performance.now();
  const measured = await runCalls(mint, Number(values.calls), concurrency);
  const seconds = (performance.now() - startedAt) / 1000;
  send({ type: "done" });
  await nextCommand("report");
  // The parent stops this process once it has the report. Exiting here could let the parent see
  // the exit before the message.
  send({ type: "report", seconds, ...measured });
}

function mintChatToken(pubnub: PubNub): Promise<string> {
  return pubnub.grantToken({
    ttl: TOKEN_MINUTES,
    authorized_uuid: USER_ID,
    resources: {
      channels: {
        [ROOM_ID]: { read: true, write: true },
        [`${ROOM_ID}-pnpres`]: { read: true, write: true },
      },
    },
  });
}

/** Mints the chat token, then signs Red5's conference claims around it, as Red5's backend SDK does. */
async function mintConferenceToken(pubnub: PubNub): Promise<string> {
  const pubnubToken = await mintChatToken(pubnub);
  const issuedAt = Math.floor(Date.now() / 1000);
  const claims = {
    uid: USER_ID,
    roomId: ROOM_ID,
    role: "publisher",
    pubnubSubscribeKey: BENCH_CREDENTIALS.pubnubSubscribeKey,
    pubnubPublishKey: BENCH_CREDENTIALS.pubnubPublishKey,
    pubnubToken,
    iat: issuedAt,
    exp: issuedAt + TOKEN_MINUTES * 60,
  };
  return jwt.sign(claims, BENCH_CREDENTIALS.conferenceSecret, { algorithm: "HS256" });
}

/** Makes `calls` calls with `concurrency` of them in flight at a time. */
async function runCalls(mint: () => Promise<string>, calls: number, concurrency: number): Promise<Batch> {
  const batch: Batch = { succeeded: 0, failed: 0, latenciesUs: [], firstError: undefined };
  let started = 0;
  const worker = async () => {
    while (started < calls) {
      started += 1;
      const callStartedAt = performance.now();
      try {
        const token = await mint();
        if (token.length === 0) {
          throw new Error("empty token");
        }
        batch.latenciesUs.push((performance.now() - callStartedAt) * 1000);
        batch.succeeded += 1;
      } catch (error) {
        batch.failed += 1;
        batch.firstError ??= describeError(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
  return batch;
}

function describeError(error: unknown): string {
  const status = (error as { status?: { statusCode?: number; errorData?: unknown } }).status;
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `${message} (HTTP ${status.statusCode}: ${JSON.stringify(status.errorData)})`;
}

function send(message: AlternativeMessage): void {
  if (process.send === undefined) {
    throw new Error("sdk-alternative.ts runs only as a child of the benchmark, with an IPC channel");
  }
  process.send(message);
}

function nextCommand(type: AlternativeCommand["type"]): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (command: AlternativeCommand) => {
      if (command.type === type) {
        process.off("message", onMessage);
        resolve();
      }
    };
    process.on("message", onMessage);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`sdk-alternative: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
