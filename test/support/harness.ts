import { Writable } from "node:stream";
import { decodeMasterCredentials, encodeMasterCredentials, type MasterCredentials } from "../../src/credentials/master-credentials.js";
import { startPubNubEmulator, type PubNubEmulator } from "../../src/emulator/pubnub-emulator.js";
import { createLogger } from "../../src/server/logger.js";
import { startTokenServer, type TokenServer, type TokenServerOptions } from "../../src/server/token-server.js";

/** The frozen wall clock of every test: 2026-01-15T12:00:00Z. */
export const FROZEN_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
export const FROZEN_SECONDS = FROZEN_MS / 1000;

/** Master key of the tests' own credentials; the canary tests look for it in every output. */
export const TEST_MASTER_KEY = "canary-master-key-7f3a9c1e5b2d8f40";

/** Credentials packed into the tests' master secret; each value is a canary too. */
export const TEST_CREDENTIALS: MasterCredentials = {
  conferenceSecret: "canary-conference-secret-91c2e7a4",
  pubnubSecretKey: "sec-c-canary-pubnub-secret-5d8e3b1f",
  pubnubPublishKey: "pub-c-test-publish-key",
  pubnubSubscribeKey: "sub-c-test-subscribe-key",
  streamManagerHost: "sm.test.invalid",
};

/** The master secret built with Red5's scheme from TEST_CREDENTIALS. */
export const TEST_MASTER_SECRET = encodeMasterCredentials(TEST_MASTER_KEY, TEST_CREDENTIALS);

/** Collects every log line the server writes. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString("utf8").split("\n").filter((line) => line !== ""));
    callback();
  }

  /** Parsed records, oldest first. */
  records(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** A token server and the PubNub emulator it talks to, both on loopback with a frozen clock. */
export interface Harness {
  readonly server: TokenServer;
  readonly emulator: PubNubEmulator;
  readonly logs: LogCapture;
  /** host:port for grpc-js. */
  readonly address: string;
  close(): Promise<void>;
}

/** Server settings a test may change. */
export type HarnessOverrides = Partial<Omit<TokenServerOptions, "logger">> & {
  /** Clock of the emulator, when it must differ from the server's. */
  readonly emulatorNow?: () => number;
  /** PubNub secret key the emulator verifies signatures with, when it must differ. */
  readonly emulatorSecretKey?: string;
};

/** Starts the emulator and a token server that decodes the tests' master secret. */
export async function startHarness(overrides: HarnessOverrides = {}): Promise<Harness> {
  const credentials = decodeMasterCredentials(TEST_MASTER_KEY, TEST_MASTER_SECRET);
  const emulator = await startPubNubEmulator({
    subscribeKey: credentials.pubnubSubscribeKey,
    publishKey: credentials.pubnubPublishKey,
    secretKey: overrides.emulatorSecretKey ?? credentials.pubnubSecretKey,
    now: overrides.emulatorNow ?? (() => FROZEN_MS),
  });
  const logs = new LogCapture();
  const server = await startTokenServer({
    host: "127.0.0.1",
    port: 0,
    credentials,
    pubnubOrigin: emulator.origin,
    pubnubServerUuid: "red5-token-service",
    pubnubMaxAttempts: 3,
    pubnubAttemptTimeoutMs: 2000,
    pubnubConnections: 8,
    pubnubBreakerFailures: 1000,
    pubnubBreakerOpenMs: 5000,
    tokenMaxMinutes: 43_200,
    callBudgetMs: 5000,
    maxRequestBytes: 16_384,
    http2MaxConcurrentStreams: 256,
    now: () => FROZEN_MS,
    retry: { retryBaseDelayMs: 5, retryMaxDelayMs: 20 },
    ...overrides,
    logger: createLogger("info", logs),
  });

  return {
    server,
    emulator,
    logs,
    address: `127.0.0.1:${server.port}`,
    close: async () => {
      await server.close(100);
      await emulator.close();
    },
  };
}

/** Starts a PubNub emulator on the real clock for the keyset in TEST_CREDENTIALS, for service processes. */
export function startTestEmulator(): Promise<PubNubEmulator> {
  return startPubNubEmulator({
    subscribeKey: TEST_CREDENTIALS.pubnubSubscribeKey,
    publishKey: TEST_CREDENTIALS.pubnubPublishKey,
    secretKey: TEST_CREDENTIALS.pubnubSecretKey,
  });
}
