/**
 * Measures the CPU time of one call-log record and one audit record, written to a destination
 * that discards them, for a compiled build of the service.
 *
 *   npx tsx bench/profile/log-cpu.ts [--build dist] [--records 100000]
 *
 * The build is `npm run build`'s dist by default, or a folder from bench/profile/build-snapshot.sh
 * such as dist/profile/base/dist.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { build: { type: "string", default: "dist" }, records: { type: "string", default: "100000" } } });
const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.resolve(values.build, file)).href)) as T;
const { createAuditLog } = await load<typeof import("../../src/auth/audit.js")>("src/auth/audit.js");
const { createLogger } = await load<typeof import("../../src/server/logger.js")>("src/server/logger.js");

const discard = { write: () => undefined };
const auditLog = createAuditLog(discard);
const callLog = createLogger("info", discard);

/** Runs write once per record, after a fifth as many warm-up records, and prints CPU µs per record. */
function measure(name: string, write: () => void): void {
  const records = Number(values.records);
  for (let i = 0; i < records / 5; i++) {
    write();
  }
  const before = process.cpuUsage();
  for (let i = 0; i < records; i++) {
    write();
  }
  const cpu = process.cpuUsage(before);
  process.stdout.write(`${values.build} ${name}: ${((cpu.user + cpu.system) / records).toFixed(2)} µs CPU per record\n`);
}

measure("call-log record", () =>
  callLog.info(
    { procedure: "red5.token.v1.TokenService/IssueChatToken", protocol: "application/grpc", userId: "user-1", channelId: "room-1", code: "ok", latencyMs: 1.234 },
    "call finished",
  ),
);
measure("audit record", () =>
  auditLog.record({
    time: new Date(),
    requestId: "0b5e2c6a-1c2f-4a5e-9b1d-3f2c1a0e9d8c",
    caller: undefined,
    rpc: "IssueChatToken",
    userId: "user-1",
    channelId: "room-1",
    permissions: { read: true, write: true },
    minutes: 60,
    expiresAt: new Date(),
    tokenFingerprint: "0123456789ab",
    code: "OK",
    latencyMs: 1.2,
  }),
);
