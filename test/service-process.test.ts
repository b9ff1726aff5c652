import { fromBinary } from "@bufbuild/protobuf";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { generateApiKey } from "../src/auth/api-keys.js";
import type { PubNubEmulator } from "../src/emulator/pubnub-emulator.js";
import { startTestEmulator, TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET } from "./support/harness.js";
import { createTestPki } from "./support/pki.js";
import { run, startService, type ServiceProcess } from "./support/process.js";
import { parseWithSdk, readWrite } from "./support/pubnub-sdk.js";

/** Returns the environment without any of the service's settings, plus the given ones. */
function serviceEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", ADMIN_PORT: "0", LOG_LEVEL: "info", ...settings };
  for (const name of ["RED5_MASTER_KEY", "RED5_MASTER_SECRET", "PUBNUB_ORIGIN", "HOST", "TLS_CERT_FILE", "TLS_KEY_FILE"]) {
    if (!(name in settings)) {
      delete env[name];
    }
  }
  return env;
}

const BUF = "node_modules/.bin/buf";
const CONFERENCE_BODY = '{"userId":"user-1","roomId":"room-1","role":"ROLE_PUBLISHER","expirationMinutes":30}';
const CHAT_BODY = '{"userId":"user-1","channelId":"room-1","read":true}';

describe("npm start in development mode", () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    // The same steps as npm start, which runs the build and then node; run apart so that SIGTERM
    // reaches the service itself rather than npm.
    const build = await run("npm", ["run", "build", "--silent"], { timeoutMs: 120_000 });
    expect(build.code, build.stdout + build.stderr).toBe(0);
    service = await startService("node", ["dist/src/main.js"], serviceEnv({}));
  }, 180_000);

  afterAll(async () => {
    await service?.stop();
  });

  it("warns that its tokens are for local use only", () => {
    expect(service.stderr()).toContain("WARNING: development mode.");
    expect(service.stderr()).toContain("Its tokens work with");
  });

  it("exports the built client as red5-token-service/client", async () => {
    const result = await run("node", ["--input-type=module", "-e", 'const m = await import("red5-token-service/client"); console.log(typeof m.TokenServiceClient, typeof m.TokenServiceError);']);

    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("function function");
  });

  it("listens on loopback only", () => {
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("prints buf curl commands that work as printed", async () => {
    const tryIt = service.stderr().split("Try it:\n")[1]?.split("\n\n")[0] ?? "";
    const commands = tryIt.split(/\n(?=  npx buf curl)/).map((command) => command.trim());
    expect(commands).toHaveLength(2);

    for (const command of commands) {
      const result = await run("bash", ["-c", command]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout).token).toMatch(/./);
    }
  });

  it.each(["grpc", "connect", "grpcweb"])("issues both tokens through reflection with buf curl --protocol %s", async (protocol) => {
    const http2 = protocol === "grpc" ? ["--http2-prior-knowledge"] : [];
    const conference = await run(BUF, ["curl", ...http2, "--protocol", protocol, "--data", CONFERENCE_BODY, `${service.url}/red5.token.v1.TokenService/IssueConferenceToken`]);
    const chat = await run(BUF, ["curl", ...http2, "--protocol", protocol, "--data", CHAT_BODY, `${service.url}/red5.token.v1.TokenService/IssueChatToken`]);

    expect(conference.stderr).toBe("");
    expect(chat.stderr).toBe("");
    const conferenceResponse = JSON.parse(conference.stdout);
    expect(conferenceResponse.role).toBe("ROLE_PUBLISHER");
    expect(Date.parse(conferenceResponse.expireTime) - Date.parse(conferenceResponse.issueTime)).toBe(30 * 60_000);
    const chatToken = parseWithSdk(JSON.parse(chat.stdout).token);
    expect(chatToken.authorized_uuid).toBe("user-1");
    expect(chatToken.resources?.channels).toEqual({ "room-1": readWrite(true, false), "room-1-pnpres": readWrite(true, false) });
  });

  it("returns INVALID_ARGUMENT with field violations to buf curl", async () => {
    const result = await run(BUF, [
      "curl",
      "--http2-prior-knowledge",
      "--protocol",
      "grpc",
      "--data",
      '{"userId":"user-1","roomId":"room 1"}',
      `${service.url}/red5.token.v1.TokenService/IssueConferenceToken`,
    ]);

    expect(result.code).not.toBe(0);
    const error = JSON.parse(result.stderr);
    expect(error.code).toBe("invalid_argument");
    expect(error.details[0].type).toBe("google.rpc.BadRequest");
    const badRequest = fromBinary(BadRequestSchema, Buffer.from(error.details[0].value, "base64"));
    expect(badRequest.fieldViolations.map((violation) => violation.field)).toEqual(["room_id", "role"]);
  });

  it("logs one record per call without tokens", () => {
    const records = service
      .stdout()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const calls = records.filter((record) => record.procedure === "red5.token.v1.TokenService/IssueChatToken" && record.code === "ok");

    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const call of calls) {
      expect(call).toMatchObject({ msg: "call finished", userId: "user-1", channelId: "room-1" });
      expect(typeof call.latencyMs).toBe("number");
      expect(call).not.toHaveProperty("token");
    }
  });

  it("exits 0 on SIGTERM", async () => {
    expect(await service.stop()).toBe(0);
  });
});

describe("service with configured credentials", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    service = await startService(
      "node",
      ["--import", "tsx", "src/main.ts"],
      serviceEnv({ RED5_MASTER_KEY: TEST_MASTER_KEY, RED5_MASTER_SECRET: TEST_MASTER_SECRET, PUBNUB_ORIGIN: emulator.origin }),
    );
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  it("signs with the decoded conference secret and prints no warning", async () => {
    const result = await run(BUF, ["curl", "--protocol", "connect", "--data", CONFERENCE_BODY, `${service.url}/red5.token.v1.TokenService/IssueConferenceToken`]);

    const { payload } = await jwtVerify(JSON.parse(result.stdout).token, new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret));
    expect(payload.pubnubSubscribeKey).toBe(TEST_CREDENTIALS.pubnubSubscribeKey);
    expect(emulator.counters().grantsIssued).toBe(1);
    expect(service.stderr()).not.toContain("WARNING");
  });
});

describe("service with a callers file", () => {
  let emulator: PubNubEmulator;
  let service: ServiceProcess;
  const apiKey = generateApiKey();

  beforeAll(async () => {
    const directory = mkdtempSync(join(tmpdir(), "callers-"));
    const callersFile = join(directory, "callers.json");
    const example = JSON.parse(readFileSync("config/callers.example.json", "utf8")) as { callers: { name: string; apiKeys: unknown[] }[] };
    const webinar = example.callers.find((caller) => caller.name === "webinar-service");
    if (webinar === undefined) {
      throw new Error("config/callers.example.json has no webinar-service");
    }
    webinar.apiKeys = [{ keyId: apiKey.keyId, hash: apiKey.hash }];
    writeFileSync(callersFile, JSON.stringify(example));

    emulator = await startTestEmulator();
    service = await startService(
      "node",
      ["--import", "tsx", "src/main.ts"],
      serviceEnv({
        RED5_MASTER_KEY: TEST_MASTER_KEY,
        RED5_MASTER_SECRET: TEST_MASTER_SECRET,
        PUBNUB_ORIGIN: emulator.origin,
        CALLERS_FILE: callersFile,
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await emulator?.close();
  });

  const body = '{"userId":"user-1","roomId":"webinar-1","role":"ROLE_SUBSCRIBER","expirationMinutes":30}';
  const url = () => `${service.url}/red5.token.v1.TokenService/IssueConferenceToken`;

  it("issues a token to a caller with a valid key", async () => {
    const result = await run(BUF, ["curl", "--protocol", "connect", "-H", `authorization: Bearer ${apiKey.key}`, "--data", body, url()]);

    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout).role).toBe("ROLE_SUBSCRIBER");
  });

  it("rejects a call without a key", async () => {
    const result = await run(BUF, ["curl", "--protocol", "connect", "--data", body, url()]);

    expect(JSON.parse(result.stderr)).toMatchObject({ code: "unauthenticated", message: "missing or invalid credentials" });
  });

  it("applies the caller's policy", async () => {
    const result = await run(BUF, ["curl", "--protocol", "connect", "-H", `authorization: Bearer ${apiKey.key}`, "--data", body.replace("ROLE_SUBSCRIBER", "ROLE_ADMIN"), url()]);

    expect(JSON.parse(result.stderr)).toMatchObject({ code: "permission_denied" });
  });

  it("writes audit records without the key", () => {
    const audit = service
      .stdout()
      .split("\n")
      .filter((line) => line.includes('"log":"audit"'));

    expect(audit.length).toBeGreaterThanOrEqual(3);
    expect(service.stdout()).not.toContain(apiKey.key);
    expect(service.stdout()).not.toContain(apiKey.key.split("_").at(-1));
  });
});

describe("start-up with invalid settings", () => {
  const cases: { name: string; settings: Record<string, string>; message: string }[] = [
    { name: "key without secret", settings: { RED5_MASTER_KEY: TEST_MASTER_KEY }, message: "RED5_MASTER_SECRET is not set but RED5_MASTER_KEY is." },
    { name: "undecryptable secret", settings: { RED5_MASTER_KEY: "x".repeat(32), RED5_MASTER_SECRET: TEST_MASTER_SECRET }, message: "RED5_MASTER_SECRET" },
    { name: "non-numeric port", settings: { PORT: "eighty" }, message: 'PORT must be a whole number from 0 to 65535; got "eighty".' },
    { name: "plain http origin", settings: { RED5_MASTER_KEY: TEST_MASTER_KEY, RED5_MASTER_SECRET: TEST_MASTER_SECRET, PUBNUB_ORIGIN: "http://ps.pndsn.com" }, message: "PUBNUB_ORIGIN must use https" },
    { name: "address not on this machine", settings: { HOST: "192.0.2.1" }, message: "" },
    { name: "callers file that is not JSON", settings: { CALLERS_FILE: "README.md" }, message: "CALLERS_FILE is not valid JSON" },
    { name: "callers file with a pasted key as key id", settings: { CALLERS_FILE: "test/fixtures/callers-key-as-id.json" }, message: "CALLERS_FILE is invalid" },
    {
      name: "real credentials on all interfaces without callers",
      settings: { RED5_MASTER_KEY: TEST_MASTER_KEY, RED5_MASTER_SECRET: TEST_MASTER_SECRET, HOST: "0.0.0.0" },
      message: "CALLERS_FILE is not set and HOST 0.0.0.0 is not a loopback address",
    },
    { name: "certificate that is not PEM", settings: { TLS_CERT_FILE: "package.json", TLS_KEY_FILE: "package.json" }, message: "TLS_CERT_FILE and TLS_KEY_FILE are not a PEM certificate chain and its matching private key" },
    { name: "unreadable certificate", settings: { TLS_CERT_FILE: "/nonexistent/cert.pem", TLS_KEY_FILE: "/nonexistent/key.pem" }, message: "TLS_CERT_FILE names a file that cannot be read (ENOENT)" },
  ];

  it("exits 2 for a client CA file without a certificate", async () => {
    const pki = createTestPki();
    const settings = { TLS_CERT_FILE: pki.server.certFile, TLS_KEY_FILE: pki.server.keyFile, TLS_CLIENT_CA_FILE: pki.ca.keyFile };

    const result = await run("node", ["--import", "tsx", "src/main.ts"], { env: serviceEnv(settings) });
    pki.remove();

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("invalid configuration: TLS_CLIENT_CA_FILE holds no PEM certificate.");
    expect(result.stderr).not.toContain("PRIVATE KEY");
  });

  it.each(cases)("exits 2 for $name", async ({ settings, message }) => {
    const result = await run("node", ["--import", "tsx", "src/main.ts"], { env: serviceEnv(settings) });

    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain("    at ");
    if (message === "") {
      expect(result.stderr).toMatch(/cannot listen on 192\.0\.2\.1(:8080)? \(EADDRNOTAVAIL\)/);
    } else {
      expect(result.stderr).toContain(`invalid configuration: ${message}`);
    }
    const pastedKey = "r5ts_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (const secret of [TEST_MASTER_SECRET, TEST_MASTER_KEY, TEST_CREDENTIALS.conferenceSecret, TEST_CREDENTIALS.pubnubSecretKey, pastedKey]) {
      expect(result.stderr + result.stdout).not.toContain(secret);
    }
  });
});
