import { existsSync } from "node:fs";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServingStatus } from "../src/server/health.js";
import { startHarness, TEST_CREDENTIALS, type Harness } from "./support/harness.js";
import { REPO_ROOT, run } from "./support/process.js";
import { parseWithSdk, readWrite } from "./support/pubnub-sdk.js";

const GRPCURL = `${REPO_ROOT}.tools/bin/grpcurl`;
const HEALTH_PROBE = `${REPO_ROOT}.tools/bin/grpc-health-probe`;

let harness: Harness;

beforeAll(async () => {
  for (const tool of [GRPCURL, HEALTH_PROBE]) {
    expect(existsSync(tool), `${tool} is missing; run scripts/install-tools.sh`).toBe(true);
  }
  harness = await startHarness({ now: Date.now, emulatorNow: Date.now });
});

afterAll(async () => {
  await harness.close();
});

describe("grpcurl through reflection", () => {
  it("lists the services", async () => {
    const result = await run(GRPCURL, ["-plaintext", harness.address, "list"]);

    expect(result.code).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "red5.token.v1.TokenService",
    ]);
  });

  it("issues a conference token", async () => {
    const result = await run(GRPCURL, [
      "-plaintext",
      "-d",
      '{"userId":"user-1","roomId":"room-1","role":"ROLE_ADMIN","expirationMinutes":10}',
      harness.address,
      "red5.token.v1.TokenService/IssueConferenceToken",
    ]);

    expect(result.stderr).toBe("");
    const response = JSON.parse(result.stdout);
    const { payload } = await jwtVerify(response.token, new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret));
    expect(payload.role).toBe("admin");
    expect(payload.exp).toBe((payload.iat as number) + 600);
    expect(response.chatGrants).toEqual([
      { channel: "room-1", read: true, write: true },
      { channel: "room-1-pnpres", read: true, write: true },
    ]);
  });

  it("issues a chat token", async () => {
    const result = await run(GRPCURL, [
      "-plaintext",
      "-d",
      '{"userId":"user-1","channelId":"lobby","read":true}',
      harness.address,
      "red5.token.v1.TokenService/IssueChatToken",
    ]);

    expect(result.stderr).toBe("");
    const parsed = parseWithSdk(JSON.parse(result.stdout).token);
    expect(parsed.resources?.channels).toEqual({ lobby: readWrite(true, false), "lobby-pnpres": readWrite(true, false) });
  });

  it("shows the field violations of invalid input", async () => {
    const result = await run(GRPCURL, [
      "-plaintext",
      "-d",
      '{"userId":"user-1","roomId":"a b"}',
      harness.address,
      "red5.token.v1.TokenService/IssueConferenceToken",
    ]);

    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("Code: InvalidArgument");
    expect(result.stderr).toContain('"@type": "type.googleapis.com/google.rpc.BadRequest"');
    expect(result.stderr).toContain('"reason": "channel.no_reserved_characters"');
    expect(result.stderr).toContain('"field": "role"');
  });
});

describe("grpc_health_probe", () => {
  it("reports the server and the token service serving", async () => {
    const server = await run(HEALTH_PROBE, [`-addr=${harness.address}`]);
    const service = await run(HEALTH_PROBE, [`-addr=${harness.address}`, "-service=red5.token.v1.TokenService"]);

    expect(server.code).toBe(0);
    expect(server.stdout + server.stderr).toContain("status: SERVING");
    expect(service.code).toBe(0);
  });

  it("fails for an unknown service", async () => {
    const result = await run(HEALTH_PROBE, [`-addr=${harness.address}`, "-service=red5.unknown.v1.Nothing"]);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain("code = NotFound");
  });

  it("fails when the service is not serving", async () => {
    harness.server.health.set("red5.token.v1.TokenService", ServingStatus.NOT_SERVING);

    const result = await run(HEALTH_PROBE, [`-addr=${harness.address}`, "-service=red5.token.v1.TokenService"]);

    expect(result.code).toBe(4);
    expect(result.stderr).toContain("NOT_SERVING");
    harness.server.health.set("red5.token.v1.TokenService", ServingStatus.SERVING);
  });
});
