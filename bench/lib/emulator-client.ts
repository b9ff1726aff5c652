/**
 * Starts bench/emulator-process.ts as a child process and talks to it over IPC.
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EmulatorCounters } from "../../src/emulator/pubnub-emulator.js";
import type { EmulatorCommand, EmulatorReply } from "../emulator-process.js";
import { LOAD_CORE, spawnPinned, stopChild } from "./children.js";

const SCRIPT = fileURLToPath(new URL("../emulator-process.ts", import.meta.url));

/** Time the emulator gets to start listening, or to reply to a command, in milliseconds. */
const REPLY_TIMEOUT_MS = 30_000;

/** The emulator running in a process of its own on the load generator's core. */
export class EmulatorProcess {
  private constructor(
    private readonly child: ChildProcess,
    /** Base URL, such as http://127.0.0.1:41234. */
    readonly origin: string,
  ) {}

  /** Starts the emulator with the benchmark's PubNub keys and resolves once it listens. */
  static async start(): Promise<EmulatorProcess> {
    const child = spawnPinned(LOAD_CORE, process.execPath, ["--import", "tsx", SCRIPT], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const reply = await nextReply(child);
    if (reply.type !== "listening") {
      await stopChild(child);
      throw new Error(`the emulator process did not start: ${JSON.stringify(reply)}`);
    }
    return new EmulatorProcess(child, reply.origin);
  }

  /** Process id, for CPU accounting. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Sets the delay added before every response, in milliseconds. */
  async setLatency(ms: number): Promise<void> {
    const reply = await this.request({ type: "setLatency", ms });
    if (reply.type !== "latency" || reply.ms !== ms) {
      throw new Error(`the emulator did not set its latency to ${ms} ms: ${JSON.stringify(reply)}`);
    }
  }

  /** Returns the emulator's request counters. */
  async counters(): Promise<EmulatorCounters> {
    const reply = await this.request({ type: "counters" });
    if (reply.type !== "counters") {
      throw new Error(`the emulator did not return its counters: ${JSON.stringify(reply)}`);
    }
    return reply.counters;
  }

  /** Stops the emulator process. */
  async stop(): Promise<void> {
    await stopChild(this.child);
  }

  private request(command: EmulatorCommand): Promise<EmulatorReply> {
    const reply = nextReply(this.child);
    this.child.send(command);
    return reply;
  }
}

function nextReply(child: ChildProcess): Promise<EmulatorReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: EmulatorReply) => {
      cleanUp();
      resolve(message);
    };
    const onExit = (code: number | null) => {
      cleanUp();
      reject(new Error(`the emulator process exited with code ${code}`));
    };
    const timer = setTimeout(() => {
      cleanUp();
      reject(new Error(`the emulator process did not reply within ${REPLY_TIMEOUT_MS} ms`));
    }, REPLY_TIMEOUT_MS);
    const cleanUp = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}
