import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenServiceClient } from "../src/client/index.js";
import type { PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { startTestEmulator, TEST_MASTER_KEY, TEST_MASTER_SECRET } from "./support/harness.js";
import { REPO_ROOT, run, startService, type ServiceProcess } from "./support/process.js";

const CHAT_PROCEDURE = "red5.token.v1.TokenService/IssueChatToken";

/** Waits until the process has written `count` records with this message after the first `after`. */
async function records(service: ServiceProcess, message: string, count: number, after = 0): Promise<Record<string, unknown>[]> {
  for (let waited = 0; waited < 30_000; waited += 20) {
    const found = service.records().slice(after).filter((record) => record.msg === message);
    if (found.length >= count) {
      return found;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`fewer than ${count} "${message}" records; stdout: ${service.stdout().slice(-3000)}; stderr: ${service.stderr().slice(-2000)}`);
}

/** Returns the "worker started" records of the workers that have not exited since. */
function liveWorkers(service: ServiceProcess): Record<string, unknown>[] {
  const exited = new Set(service.records().filter((record) => record.msg === "worker exited unexpectedly; starting a replacement").map((record) => record.worker));
  return service.records().filter((record) => record.msg === "worker started" && !exited.has(record.worker));
}

/**
 * Kills a worker with SIGKILL and waits until the primary logs its exit. Returns the number of
 * records before the kill. The primary forks the replacement 1 s after that record.
 */
async function killWorker(service: ServiceProcess, worker: Record<string, unknown> | undefined): Promise<number> {
  const before = service.records().length;
  process.kill(Number(worker?.pid), "SIGKILL");
  await records(service, "worker exited unexpectedly; starting a replacement", 1, before);
  return before;
}

async function metricValue(service: ServiceProcess, prefix: string): Promise<number> {
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** Issues chat tokens, each over a client of its own so that connections spread over workers. */
async function issueOnNewConnections(service: ServiceProcess, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, () => new TokenServiceClient({ baseUrl: service.url }).getChatToken("user-1", "room-1", true, false)),
  );
}

describe("worker-per-core mode", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    service = await startService("node", ["--import", "tsx", "src/main.ts"], {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RED5_MASTER_KEY: TEST_MASTER_KEY,
      RED5_MASTER_SECRET: TEST_MASTER_SECRET,
      PUBNUB_ORIGIN: emulator.origin,
      PORT: "0",
      ADMIN_PORT: "0",
      WORKERS: "2",
      SHUTDOWN_DRAIN_MS: "2000",
    });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  it("serves calls from every worker on one port", async () => {
    const started = await records(service, "worker started", 2);

    await issueOnNewConnections(service, 40);
    const served = new Set(service.records().filter((record) => record.msg === "call finished" && record.procedure === CHAT_PROCEDURE).map((record) => record.worker));

    expect(started.map((record) => record.url)).toEqual([service.url, service.url]);
    expect(served.size).toBe(2);
  });

  it("sums metrics over the workers on the admin port", async () => {
    const before = await metricValue(service, 'token_service_tokens_issued_total{kind="chat"');

    await issueOnNewConnections(service, 10);

    expect(await metricValue(service, 'token_service_tokens_issued_total{kind="chat"')).toBe(before + 10);
    expect((await fetch(`${service.adminUrl}/readyz`)).status).toBe(200);
  });

  it("forwards SIGHUP to every worker", async () => {
    const before = service.records().length;

    service.child.kill("SIGHUP");

    expect(await records(service, "configuration reloaded", 2, before)).toHaveLength(2);
  });

  it("replaces a dead worker, keeping its counts", async () => {
    const before = service.records().length;
    const [victim] = await records(service, "worker started", 1);
    const issued = await metricValue(service, 'token_service_tokens_issued_total{kind="chat"');
    const timed = await metricValue(service, `token_service_call_duration_seconds_count{procedure="${CHAT_PROCEDURE}"`);
    process.kill(Number(victim?.pid), "SIGKILL");

    const [exited] = await records(service, "worker exited unexpectedly; starting a replacement", 1, before);
    const [replacement] = await records(service, "worker started", 1, before);
    const afterExit = await metricValue(service, 'token_service_tokens_issued_total{kind="chat"');
    await issueOnNewConnections(service, 10);

    expect(exited).toMatchObject({ worker: victim?.worker, signal: "SIGKILL" });
    expect(replacement?.pid).not.toBe(victim?.pid);
    expect(afterExit).toBe(issued);
    expect(await metricValue(service, 'token_service_tokens_issued_total{kind="chat"')).toBe(issued + 10);
    expect(await metricValue(service, `token_service_call_duration_seconds_count{procedure="${CHAT_PROCEDURE}"`)).toBe(timed + 10);
  });

  it("keeps serving metrics while a worker dies", async () => {
    const [victim] = liveWorkers(service);
    const scrapes = Array.from({ length: 40 }, () => fetch(`${service.adminUrl}/metrics`).then((response) => response.status));
    process.kill(Number(victim?.pid), "SIGKILL");
    const statuses = await Promise.all(scrapes);
    const before = service.records().length;
    await records(service, "worker started", 1, before);

    expect(statuses.every((status) => status === 200 || status === 503)).toBe(true);
    expect((await fetch(`${service.adminUrl}/metrics`)).status).toBe(200);
    expect(await new TokenServiceClient({ baseUrl: service.url }).getChatToken("user-1", "room-1", true, false)).not.toBe("");
  });

  it("reloads a worker that gets SIGHUP while it starts", async () => {
    const before = await killWorker(service, liveWorkers(service)[0]);
    // The replacement is forked after 1 s and takes longer than that to start.
    await sleep(1100);
    service.child.kill("SIGHUP");

    const [replacement] = await records(service, "worker started", 1, before);
    const reloads = await records(service, "configuration reloaded", 2, before);

    expect(service.records().slice(before).filter((record) => record.signal === "SIGHUP")).toEqual([]);
    expect(reloads.map((record) => record.worker)).toContain(replacement?.worker);
  });

  it("keeps its port when every worker is replaced", async () => {
    const workers = liveWorkers(service);
    const before = await killWorker(service, workers[0]);
    // The first replacement is starting when the other worker dies.
    await sleep(1050);
    process.kill(Number(workers[1]?.pid), "SIGKILL");

    const replacements = await records(service, "worker started", 2, before);
    const token = await new TokenServiceClient({ baseUrl: service.url }).getChatToken("user-1", "room-1", true, false);

    expect(workers).toHaveLength(2);
    expect(replacements.map((record) => record.url)).toEqual([service.url, service.url]);
    expect(token.length).toBeGreaterThan(20);
  });

  it("drains on SIGTERM and exits 0 while a worker starts", async () => {
    const before = await killWorker(service, liveWorkers(service)[0]);
    // The replacement is forked after 1 s and is still loading its modules when SIGTERM comes.
    await sleep(1050);

    const code = await service.stop();
    const stopped = service.records().slice(before).filter((record) => record.msg === "server stopped");

    expect(code).toBe(0);
    expect(stopped.filter((record) => record.worker === undefined)).toEqual([expect.objectContaining({ clean: true })]);
    expect(stopped.filter((record) => record.worker !== undefined)).toHaveLength(1);
  });
});

describe("worker-per-core mode start-up", () => {
  let emulator: PubNubEmulator;

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it("replaces a worker that dies before the primary has started", async () => {
    const child = spawn("node", ["--import", "tsx", "src/main.ts"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RED5_MASTER_KEY: TEST_MASTER_KEY, RED5_MASTER_SECRET: TEST_MASTER_SECRET, PUBNUB_ORIGIN: emulator.origin, PORT: "0", ADMIN_PORT: "0", WORKERS: "3" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((resolve) => child.once("close", resolve));
    const seen: Record<string, unknown>[] = [];
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines.filter((candidate) => candidate.startsWith("{"))) {
        const record = JSON.parse(line) as Record<string, unknown>;
        seen.push(record);
        // The first worker to listen dies while the others are still starting.
        if (record.msg === "worker started" && seen.filter((earlier) => earlier.msg === "worker started").length === 1) {
          process.kill(Number(record.pid), "SIGKILL");
        }
      }
    });

    try {
      for (let waited = 0; waited < 30_000 && seen.filter((record) => record.msg === "worker started").length < 4; waited += 50) {
        await sleep(50);
      }
      const started = seen.filter((record) => record.msg === "worker started");
      const primaryStarted = seen.findIndex((record) => record.msg === "server started" && record.workers === 3);

      expect(primaryStarted).toBeGreaterThan(seen.indexOf(started[0] as Record<string, unknown>));
      expect(seen.filter((record) => record.msg === "worker exited unexpectedly; starting a replacement")).toHaveLength(1);
      expect(started).toHaveLength(4);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  }, 60_000);
});

describe("worker-per-core mode with broken files", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;
  let dir: string;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "red5-workers-"));
    writeFileSync(join(dir, "master-key"), TEST_MASTER_KEY);
    writeFileSync(join(dir, "master-secret"), TEST_MASTER_SECRET);
    service = await startService("node", ["--import", "tsx", "src/main.ts"], {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RED5_MASTER_KEY_FILE: join(dir, "master-key"),
      RED5_MASTER_SECRET_FILE: join(dir, "master-secret"),
      PUBNUB_ORIGIN: emulator.origin,
      PORT: "0",
      ADMIN_PORT: "0",
      WORKERS: "2",
      CONFIG_WATCH_INTERVAL_MS: "0",
    });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  it("reports not ready while no worker can start, and recovers", async () => {
    const workers = await records(service, "worker started", 2);
    writeFileSync(join(dir, "master-secret"), "bm90LWEtbWFzdGVyLXNlY3JldA==");
    for (const worker of workers) {
      process.kill(Number(worker.pid), "SIGKILL");
    }
    let status = 200;
    for (let polls = 0; polls < 300 && status === 200; polls++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await fetch(`${service.adminUrl}/readyz`)).status;
    }

    const before = service.records().length;
    writeFileSync(join(dir, "master-secret"), TEST_MASTER_SECRET);
    await records(service, "worker started", 1, before);
    const token = await new TokenServiceClient({ baseUrl: service.url }).getChatToken("user-1", "room-1", true, false);

    expect(status).toBe(503);
    expect((await fetch(`${service.adminUrl}/readyz`)).status).toBe(200);
    expect(token.length).toBeGreaterThan(20);
    expect(service.stdout()).not.toContain("bm90LWEtbWFzdGVyLXNlY3JldA==");
  });
});

describe("worker-per-core mode on a port in use", () => {
  it("exits 2 and names the address", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as net.AddressInfo;

    const result = await run("node", ["--import", "tsx", "src/main.ts"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RED5_MASTER_KEY: TEST_MASTER_KEY, RED5_MASTER_SECRET: TEST_MASTER_SECRET, PORT: String(port), ADMIN_PORT: "0", WORKERS: "2" },
    });
    blocker.close();

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    expect(result.stderr).not.toContain("    at ");
  });
});
