import { Code } from "@connectrpc/connect";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect as connectTls } from "node:tls";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey, type GeneratedApiKey } from "../src/auth/api-keys.js";
import { TokenServiceClient, TokenServiceError } from "../src/client/index.js";
import { encodeMasterCredentials } from "../src/credentials/master-credentials.js";
import type { PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { startTestEmulator, TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET } from "./support/harness.js";
import { createTestPki, type TestPki } from "./support/pki.js";
import { startService, type ServiceProcess } from "./support/process.js";

/** Credentials after a rotation: a new master key and conference secret, the same PubNub keyset. */
const ROTATED_MASTER_KEY = "rotated-master-key-0c4d9a7e62b1f835";
const ROTATED_CONFERENCE_SECRET = "rotated-conference-secret-4e8a2c6d";
const ROTATED_MASTER_SECRET = encodeMasterCredentials(ROTATED_MASTER_KEY, { ...TEST_CREDENTIALS, conferenceSecret: ROTATED_CONFERENCE_SECRET });

const OLD_SECRET = new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret);
const NEW_SECRET = new TextEncoder().encode(ROTATED_CONFERENCE_SECRET);

/** Replaces a file in one step, as Kubernetes does for mounted Secrets, so a reader never sees half of it. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.next`, content);
  renameSync(`${path}.next`, path);
}

/** A policy that allows every request the tests make. */
const POLICY = {
  rpcs: ["IssueConferenceToken", "IssueChatToken"],
  roles: ["admin", "publisher", "subscriber"],
  rooms: ["room-*"],
  channels: ["room-*"],
  chatPermissions: { read: true, write: true },
  maxConferenceMinutes: 60,
  maxChatMinutes: 60,
};

function callersFile(key: GeneratedApiKey): string {
  return JSON.stringify({
    callers: [{ name: "meeting-service", apiKeys: [{ keyId: key.keyId, hash: key.hash }], policy: POLICY }],
  });
}

/** Builds the environment of a service process: no inherited settings, every file under dir. */
function serviceEnv(dir: string, emulator: PubNubEmulator, watchIntervalMs: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, CONFIG_FILE: join(dir, "config.yaml") };
  writeFileSync(
    join(dir, "config.yaml"),
    [
      "port: 0",
      "adminPort: 0",
      `pubnubOrigin: ${emulator.origin}`,
      `red5MasterKeyFile: ${join(dir, "master-key")}`,
      `red5MasterSecretFile: ${join(dir, "master-secret")}`,
      `callersFile: ${join(dir, "callers.json")}`,
      `configWatchIntervalMs: ${watchIntervalMs}`,
      "",
    ].join("\n"),
  );
  return env;
}

/** Waits until the process has written a record with this message after the first `after` records. */
async function nextRecord(service: ServiceProcess, message: string, after: number): Promise<Record<string, unknown>> {
  for (let waited = 0; waited < 20_000; waited += 20) {
    const record = service.records().slice(after).find((candidate) => candidate.msg === message);
    if (record !== undefined) {
      return record;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no "${message}" record; stdout: ${service.stdout().slice(-2000)}; exit: ${service.child.exitCode} ${service.child.signalCode}; stderr: ${service.stderr().slice(-2000)}`);
}

async function secretOf(token: string): Promise<"old" | "new"> {
  try {
    await jwtVerify(token, OLD_SECRET, { currentDate: new Date(0) });
    return "old";
  } catch {
    await jwtVerify(token, NEW_SECRET, { currentDate: new Date(0) });
    return "new";
  }
}

async function metric(service: ServiceProcess, line: string): Promise<string | undefined> {
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  return text.split("\n").find((candidate) => candidate.startsWith(line));
}

describe("reload on SIGHUP", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;
  let dir: string;
  let key: GeneratedApiKey;
  let client: TokenServiceClient;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "red5-reload-"));
    key = generateApiKey();
    writeFileSync(join(dir, "master-key"), `${TEST_MASTER_KEY}\n`);
    writeFileSync(join(dir, "master-secret"), `${TEST_MASTER_SECRET}\n`);
    writeFileSync(join(dir, "callers.json"), callersFile(key));
    service = await startService("node", ["--import", "tsx", "src/main.ts"], serviceEnv(dir, emulator, 0));
    client = new TokenServiceClient({ baseUrl: service.url, credential: key.key });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  it("switches the signing secret under load without a failed call", async () => {
    const outcomes: { startedAfterReload: boolean; token?: string; error?: unknown }[] = [];
    let reloaded = false;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const startedAfterReload = reloaded;
        try {
          outcomes.push({ startedAfterReload, token: await client.getConferenceToken("user-1", "room-1", "publisher", 30) });
        } catch (error) {
          outcomes.push({ startedAfterReload, error });
        }
      }
    };
    const workers = Array.from({ length: 4 }, () => worker());

    while (outcomes.length < 100) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const before = service.records().length;
    replaceFile(join(dir, "master-key"), ROTATED_MASTER_KEY);
    replaceFile(join(dir, "master-secret"), ROTATED_MASTER_SECRET);
    service.child.kill("SIGHUP");
    const record = await nextRecord(service, "configuration reloaded", before);
    reloaded = true;
    const atReload = outcomes.length;
    while (outcomes.length < atReload + 100) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    stop = true;
    await Promise.all(workers);

    expect(outcomes.filter((outcome) => outcome.error !== undefined).map((outcome) => String(outcome.error))).toEqual([]);
    const secrets = await Promise.all(outcomes.map(async (outcome) => ({ after: outcome.startedAfterReload, secret: await secretOf(outcome.token ?? "") })));
    expect(secrets.filter((entry) => entry.after).every((entry) => entry.secret === "new")).toBe(true);
    expect(secrets.some((entry) => !entry.after && entry.secret === "old")).toBe(true);
    expect(record).toMatchObject({ reason: "SIGHUP", credentialsChanged: true, callers: 1, restartNeeded: [] });
    expect(service.stdout()).not.toContain(ROTATED_MASTER_SECRET);
  });

  it("rejects a broken master secret and keeps the one in force", async () => {
    const before = service.records().length;
    const broken = "bm90LWEtbWFzdGVyLXNlY3JldA==";
    replaceFile(join(dir, "master-secret"), broken);
    service.child.kill("SIGHUP");
    const record = await nextRecord(service, "configuration reload rejected; the previous configuration stays in force", before);

    const token = await client.getConferenceToken("user-1", "room-1", "subscriber", 30);

    expect(record.reason).toBe("SIGHUP");
    expect(String(record.problem)).toMatch(/^RED5_MASTER_SECRET_FILE \(.*master-secret\): /);
    expect(service.stdout()).not.toContain(broken);
    expect(await secretOf(token)).toBe("new");
    expect(await metric(service, 'token_service_config_reloads_total{outcome="rejected"}')).toBe('token_service_config_reloads_total{outcome="rejected"} 1');
  });

  it("applies the fixed file on the next SIGHUP", async () => {
    const before = service.records().length;
    replaceFile(join(dir, "master-secret"), TEST_MASTER_SECRET);
    replaceFile(join(dir, "master-key"), TEST_MASTER_KEY);
    service.child.kill("SIGHUP");
    await nextRecord(service, "configuration reloaded", before);

    const token = await client.getConferenceToken("user-1", "room-1", "subscriber", 30);

    expect(await secretOf(token)).toBe("old");
    expect(await metric(service, 'token_service_config_reloads_total{outcome="applied"}')).toBe('token_service_config_reloads_total{outcome="applied"} 2');
  });
});

describe("reload on file change", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;
  let dir: string;
  let oldKey: GeneratedApiKey;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "red5-watch-"));
    oldKey = generateApiKey();
    writeFileSync(join(dir, "master-key"), TEST_MASTER_KEY);
    writeFileSync(join(dir, "master-secret"), TEST_MASTER_SECRET);
    writeFileSync(join(dir, "callers.json"), callersFile(oldKey));
    service = await startService("node", ["--import", "tsx", "src/main.ts"], serviceEnv(dir, emulator, 100));
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  it("switches API keys when the callers file changes", async () => {
    const newKey = generateApiKey();
    const before = service.records().length;
    replaceFile(join(dir, "callers.json"), callersFile(newKey));
    const record = await nextRecord(service, "configuration reloaded", before);

    const rejected = await new TokenServiceClient({ baseUrl: service.url, credential: oldKey.key }).getChatToken("user-1", "room-1", true, false).catch((error: unknown) => error);
    const token = await new TokenServiceClient({ baseUrl: service.url, credential: newKey.key }).getChatToken("user-1", "room-1", true, false);

    expect(record).toMatchObject({ reason: "file change", credentialsChanged: false, callers: 1 });
    expect(rejected).toBeInstanceOf(TokenServiceError);
    expect((rejected as TokenServiceError).code).toBe(Code.Unauthenticated);
    expect(token.length).toBeGreaterThan(20);
  });

  it("names settings that need a restart and keeps serving on the old port", async () => {
    const before = service.records().length;
    const config = join(dir, "config.yaml");
    replaceFile(config, readFileSync(config, "utf8").replace("port: 0\n", "port: 1\n").replace("adminPort: 0", "adminPort: 0\nshutdownDrainMs: 1000"));
    const record = await nextRecord(service, "configuration reloaded; the settings in restartNeeded take effect after a restart", before);

    const response = await fetch(`${service.adminUrl}/readyz`);

    expect(record.restartNeeded).toEqual(["PORT", "SHUTDOWN_DRAIN_MS"]);
    expect(response.status).toBe(200);
  });

  it("rejects a configuration file that breaks and reloads once it is fixed", async () => {
    const config = join(dir, "config.yaml");
    const good = readFileSync(config, "utf8");
    let before = service.records().length;
    replaceFile(config, `${good}pubnubMaxAttempts: eleven\n`);
    const rejected = await nextRecord(service, "configuration reload rejected; the previous configuration stays in force", before);

    before = service.records().length;
    replaceFile(config, good);
    const applied = await nextRecord(service, "configuration reloaded; the settings in restartNeeded take effect after a restart", before);

    expect(rejected).toMatchObject({ reason: "file change", problem: `pubnubMaxAttempts in ${config} must be a whole number from 1 to 10; got "eleven".` });
    expect(applied.reason).toBe("file change");
  });
});

/** Fingerprint of the certificate a new TLS connection to the service presents. */
async function presentedCertificate(url: string): Promise<string> {
  const { port } = new URL(url);
  const socket = connectTls({ host: "127.0.0.1", port: Number(port), rejectUnauthorized: false, ALPNProtocols: ["h2"] });
  await once(socket, "secureConnect");
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

function fingerprintOf(cert: Buffer): string {
  return new X509Certificate(cert).fingerprint256;
}

describe("reload of TLS files", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;
  let dir: string;
  let pki: TestPki;

  beforeAll(async () => {
    pki = createTestPki();
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "red5-tls-reload-"));
    writeFileSync(join(dir, "master-key"), TEST_MASTER_KEY);
    writeFileSync(join(dir, "master-secret"), TEST_MASTER_SECRET);
    writeFileSync(join(dir, "callers.json"), callersFile(generateApiKey()));
    writeFileSync(join(dir, "cert.pem"), pki.server.cert);
    writeFileSync(join(dir, "key.pem"), pki.server.key);
    const env = serviceEnv(dir, emulator, 0);
    env.TLS_CERT_FILE = join(dir, "cert.pem");
    env.TLS_KEY_FILE = join(dir, "key.pem");
    service = await startService("node", ["--import", "tsx", "src/main.ts"], env);
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
    pki?.remove();
  });

  it("presents a rotated certificate to new connections", async () => {
    const before = service.records().length;
    replaceFile(join(dir, "key.pem"), pki.otherCa.key.toString("utf8"));
    replaceFile(join(dir, "cert.pem"), pki.otherCa.cert.toString("utf8"));
    service.child.kill("SIGHUP");
    await nextRecord(service, "configuration reloaded", before);

    expect(await presentedCertificate(service.url)).toBe(fingerprintOf(pki.otherCa.cert));
  });

  it("rejects a mismatched certificate and key", async () => {
    const before = service.records().length;
    replaceFile(join(dir, "cert.pem"), pki.server.cert.toString("utf8"));
    service.child.kill("SIGHUP");
    const record = await nextRecord(service, "configuration reload rejected; the previous configuration stays in force", before);

    expect(String(record.problem)).toMatch(/^TLS_CERT_FILE and TLS_KEY_FILE are not a PEM certificate chain and its matching private key/);
    expect(await presentedCertificate(service.url)).toBe(fingerprintOf(pki.otherCa.cert));
  });
});

describe("reload of caller authentication", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;
  let dir: string;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "red5-auth-reload-"));
    writeFileSync(join(dir, "master-key"), TEST_MASTER_KEY);
    writeFileSync(join(dir, "master-secret"), TEST_MASTER_SECRET);
    writeFileSync(join(dir, "callers.json"), callersFile(generateApiKey()));
    const env = serviceEnv(dir, emulator, 0);
    // Listens on every interface, so that the service requires callers; the test calls 127.0.0.1 only.
    writeFileSync(join(dir, "config.yaml"), `${readFileSync(join(dir, "config.yaml"), "utf8")}host: 0.0.0.0\n`);
    service = await startService("node", ["--import", "tsx", "src/main.ts"], env);
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  it("rejects dropping callers while the listener is not on loopback", async () => {
    const before = service.records().length;
    const config = join(dir, "config.yaml");
    replaceFile(config, readFileSync(config, "utf8").replace(/^callersFile: .*\n/m, "").replace("host: 0.0.0.0", "host: 127.0.0.1"));
    service.child.kill("SIGHUP");
    const record = await nextRecord(service, "configuration reload rejected; the previous configuration stays in force", before);

    const url = service.url.replace("0.0.0.0", "127.0.0.1");
    const anonymous = await new TokenServiceClient({ baseUrl: url }).getChatToken("user-1", "room-1", true, false).catch((error: unknown) => error);

    expect(String(record.problem)).toMatch(/^CALLERS_FILE is not set and HOST 0\.0\.0\.0 is not a loopback address/);
    expect((anonymous as TokenServiceError).code).toBe(Code.Unauthenticated);
  });
});
