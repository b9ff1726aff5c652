/**
 * Measures the CPU time one PubNub grant costs the grant client alone: signing, undici, and
 * reading the response, without gRPC in front of it.
 *
 *   npx tsx bench/profile/grant-cpu.ts [--build dist/profile/base] [--grants 20000] [--concurrency 64]
 *
 * It starts the emulator (bench/profile/emulator.ts) pinned to core 1 and pins itself to core 0.
 * It loads PubNubGrantClient from the compiled build given: dist by default, which
 * `npm run build` writes, or a folder from bench/profile/build-snapshot.sh. After a warm-up of a
 * quarter as many grants, it reports this process's user + system CPU per measured grant.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { TEST_CREDENTIALS } from "../../test/support/harness.js";

const { values } = parseArgs({
  options: {
    build: { type: "string", default: "dist" },
    grants: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
  },
});

spawn("taskset", ["-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
const emulator = spawn("taskset", ["-c", "1", process.execPath, "--import", "tsx", "bench/profile/emulator.ts"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const origin = await new Promise<string>((resolve) => emulator.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8").trim())));

const modulePath = pathToFileURL(path.resolve(values.build, "src/pubnub/grant-client.js")).href;
const { PubNubGrantClient } = (await import(modulePath)) as typeof import("../../src/pubnub/grant-client.js");
const client = new PubNubGrantClient({
  origin,
  subscribeKey: TEST_CREDENTIALS.pubnubSubscribeKey,
  publishKey: TEST_CREDENTIALS.pubnubPublishKey,
  secretKey: TEST_CREDENTIALS.pubnubSecretKey,
  serverUuid: "red5-token-service",
  sdkName: "red5-token-service/0.1.0",
  connections: Number(values.concurrency),
});

const request = { authorizedUuid: "user-1", ttlMinutes: 60, channels: { "room-1": 3, "room-1-pnpres": 3 } };

async function runGrants(count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await client.grantToken(request, 10_000);
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
}

const grants = Number(values.grants);
await runGrants(Math.ceil(grants / 4));
const before = process.cpuUsage();
const startedAt = performance.now();
await runGrants(grants);
const cpu = process.cpuUsage(before);
const seconds = (performance.now() - startedAt) / 1000;
process.stdout.write(
  `${values.build}: ${grants} grants, ${((cpu.user + cpu.system) / grants).toFixed(1)} µs CPU per grant, ${Math.round(grants / seconds)} grants/s\n`,
);

await client.close();
emulator.kill("SIGTERM");
