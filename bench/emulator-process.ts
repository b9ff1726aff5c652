/**
 * Runs the PubNub Access Manager emulator as a process of its own, for the benchmark or by hand:
 *
 *   npx tsx bench/emulator-process.ts --port 8081 --latency-ms 40
 *
 * It listens on 127.0.0.1, with the benchmark's PubNub keys unless flags give others, and prints
 * one JSON line with its origin once it listens. It stops on SIGTERM or SIGINT. Started by a
 * parent with an IPC channel (as bench/lib/emulator-client.ts does), it also serves the messages
 * of EmulatorCommand and exits when the parent goes away.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startPubNubEmulator, type EmulatorCounters, type PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { BENCH_CREDENTIALS } from "./credentials.js";

/** A request from the parent process over IPC. */
export type EmulatorCommand = { readonly type: "setLatency"; readonly ms: number } | { readonly type: "counters" };

/** The emulator's reply to an EmulatorCommand, or its first message once it listens. */
export type EmulatorReply =
  | { readonly type: "listening"; readonly origin: string; readonly pid: number }
  | { readonly type: "latency"; readonly ms: number }
  | { readonly type: "counters"; readonly counters: EmulatorCounters }
  | { readonly type: "error"; readonly message: string };

const USAGE = `usage: tsx bench/emulator-process.ts [--port N] [--latency-ms N]
    [--subscribe-key KEY] [--publish-key KEY] [--secret-key KEY]
  --port          TCP port on 127.0.0.1; default 0 (any free port)
  --latency-ms    delay added before every response, in milliseconds; default 0
  --*-key         PubNub keys the emulator accepts; default: the benchmark's (bench/credentials.ts)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      "latency-ms": { type: "string", default: "0" },
      "subscribe-key": { type: "string", default: BENCH_CREDENTIALS.pubnubSubscribeKey },
      "publish-key": { type: "string", default: BENCH_CREDENTIALS.pubnubPublishKey },
      "secret-key": { type: "string", default: BENCH_CREDENTIALS.pubnubSecretKey },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  const emulator = await startPubNubEmulator({
    subscribeKey: values["subscribe-key"],
    publishKey: values["publish-key"],
    secretKey: values["secret-key"],
    port: readWholeNumber("--port", values.port),
    latencyMs: readWholeNumber("--latency-ms", values["latency-ms"]),
  });
  process.stdout.write(`${JSON.stringify({ origin: emulator.origin, latencyMs: emulator.latencyMs })}\n`);

  const stop = () => {
    void emulator.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  if (process.send !== undefined) {
    serveParent(emulator, stop);
  }
}

/** Serves the parent's commands and stops the emulator when the IPC channel closes. */
function serveParent(emulator: PubNubEmulator, stop: () => void): void {
  const reply = (message: EmulatorReply) => process.send?.(message);
  process.on("disconnect", stop);
  process.on("message", (command: EmulatorCommand) => {
    if (command.type === "setLatency") {
      if (!Number.isFinite(command.ms) || command.ms < 0) {
        reply({ type: "error", message: `invalid latency ${command.ms} ms: expected 0 or more` });
        return;
      }
      emulator.latencyMs = command.ms;
      reply({ type: "latency", ms: emulator.latencyMs });
    } else if (command.type === "counters") {
      reply({ type: "counters", counters: emulator.counters() });
    } else {
      reply({ type: "error", message: `unknown command ${JSON.stringify(command)}` });
    }
  });
  reply({ type: "listening", origin: emulator.origin, pid: process.pid });
}

function readWholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) {
    throw new Error(`${flag} must be a whole number, got ${JSON.stringify(text)}.\n${USAGE}`);
  }
  return Number(text);
}

main().catch((error: unknown) => {
  process.stderr.write(`emulator-process: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
