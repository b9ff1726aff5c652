/**
 * Runs the PubNub emulator as its own process for load runs, with the tests' credentials.
 *
 * Settings: EMULATOR_PORT (default 0, a free port), EMULATOR_LATENCY_MS (delay before every
 * response, default 0). Prints the origin, such as http://127.0.0.1:41234, as its only line on
 * standard output, and the counters as JSON on standard error when it gets SIGTERM.
 */
import { startPubNubEmulator } from "../../src/emulator/pubnub-emulator.js";
import { TEST_CREDENTIALS } from "../../test/support/harness.js";

const emulator = await startPubNubEmulator({
  subscribeKey: TEST_CREDENTIALS.pubnubSubscribeKey,
  publishKey: TEST_CREDENTIALS.pubnubPublishKey,
  secretKey: TEST_CREDENTIALS.pubnubSecretKey,
  port: Number(process.env.EMULATOR_PORT ?? "0"),
  historySize: 1,
});
emulator.latencyMs = Number(process.env.EMULATOR_LATENCY_MS ?? "0");
process.stdout.write(`${emulator.origin}\n`);

process.on("SIGTERM", () => {
  process.stderr.write(`${JSON.stringify(emulator.counters())}\n`);
  void emulator.close().then(() => process.exit(0));
});
