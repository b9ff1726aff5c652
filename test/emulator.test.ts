import { createHmac, randomUUID } from "node:crypto";
import PubNub from "pubnub";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  decodeToken,
  InvalidTokenError,
  mintToken,
  startPubNubEmulator,
  verifyTokenSignature,
  type PubNubEmulator,
  type PubNubEmulatorOptions,
  type TokenGrant,
} from "../src/emulator/pubnub-emulator.js";
import { encodeQueryValue, signRequest, sortedQueryString } from "../src/pubnub/signature.js";
import { encodeCbor } from "../src/emulator/cbor.js";
import { encode as encodeWithCbor2 } from "cbor2";

const SUBSCRIBE_KEY = "sub-c-test";
const PUBLISH_KEY = "pub-c-test";
const SECRET_KEY = "sec-c-test-secret";
const SERVER_UUID = "token-service";

// A clock frozen at a whole second close to real time, so the SDK's own timestamps stay in window.
const FROZEN_MS = Math.floor(Date.now() / 1000) * 1000;
const FROZEN_SECONDS = FROZEN_MS / 1000;

const PAM_CONTENT_TYPE = "text/javascript; charset=UTF-8";

const INVALID_TTL_BODY = {
  error: {
    message: "Invalid ttl",
    source: "grant",
    details: [{ message: "Range should be 1 to 43200 minute(s).", location: "ttl", locationType: "body" }],
  },
  service: "Access Manager",
  status: 400,
};

const READ_WRITE = { read: true, write: true };

const PARSED_READ_WRITE = {
  read: true,
  write: true,
  manage: false,
  delete: false,
  get: false,
  update: false,
  join: false,
};

function emptyResources() {
  return { channels: {}, groups: {}, uuids: {}, users: {}, spaces: {} };
}

function startEmulator(overrides: Partial<PubNubEmulatorOptions> = {}): Promise<PubNubEmulator> {
  return startPubNubEmulator({
    subscribeKey: SUBSCRIBE_KEY,
    publishKey: PUBLISH_KEY,
    secretKey: SECRET_KEY,
    now: () => FROZEN_MS,
    ...overrides,
  });
}

const clients: PubNub[] = [];

function sdkClient(emulator: PubNubEmulator, secretKey = SECRET_KEY): PubNub {
  const client = new PubNub({
    origin: emulator.hostPort,
    ssl: false,
    subscribeKey: SUBSCRIBE_KEY,
    publishKey: PUBLISH_KEY,
    secretKey,
    userId: SERVER_UUID,
    // Since version 11 the SDK retries grant and revoke by default. One request per call keeps the
    // emulator's counters and fault queue predictable.
    retryConfiguration: PubNub.NoneRetryPolicy(),
    transactionalRequestTimeout: 5,
  });
  clients.push(client);
  return client;
}

/** Awaits a promise that must fail and returns its rejection reason. */
async function rejectionOf(promise: Promise<unknown>): Promise<PubNub.PubNubError> {
  try {
    await promise;
  } catch (error) {
    return error as PubNub.PubNubError;
  }
  throw new Error("Expected the call to fail, but it succeeded.");
}

/** Builds a grant body exactly as the official SDK serializes it. */
function grantBody(ttl: unknown, channels: Record<string, unknown>, uuid?: string): string {
  const permissions: Record<string, unknown> = {};
  if (uuid !== undefined) {
    permissions.uuid = uuid;
  }
  permissions.resources = { ...emptyResources(), channels };
  permissions.patterns = emptyResources();
  permissions.meta = {};
  return JSON.stringify({ ttl, permissions });
}

interface SignedCall {
  method?: "POST" | "DELETE";
  path?: string;
  body?: string;
  timestampSeconds?: number;
  secretKey?: string;
  signal?: AbortSignal;
}

interface EmulatorAnswer {
  status: number;
  contentType: string | null;
  json: Record<string, unknown>;
}

function signedUrl(emulator: PubNubEmulator, call: SignedCall): string {
  const method = call.method ?? "POST";
  const path = call.path ?? `/v3/pam/${SUBSCRIBE_KEY}/grant`;
  const query = {
    uuid: SERVER_UUID,
    requestid: randomUUID(),
    pnsdk: "red5-token-service-test/1.0",
    timestamp: String(call.timestampSeconds ?? FROZEN_SECONDS),
  };
  const signature = signRequest({ method, path, query, body: call.body ?? "" }, PUBLISH_KEY, call.secretKey ?? SECRET_KEY);
  return `${emulator.origin}${path}?${sortedQueryString(query)}&signature=${encodeQueryValue(signature)}`;
}

/** Sends a request signed with signRequest, the way the SDK would. */
async function callSigned(emulator: PubNubEmulator, call: SignedCall = {}): Promise<EmulatorAnswer> {
  const method = call.method ?? "POST";
  const body = method === "POST" ? (call.body ?? grantBody(60, { "room-1": 3 })) : undefined;
  const response = await fetch(signedUrl(emulator, { ...call, body }), {
    method,
    headers: method === "POST" ? { "Content-Type": "application/json" } : {},
    ...(body !== undefined ? { body } : {}),
    ...(call.signal ? { signal: call.signal } : {}),
  });
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    json: (await response.json()) as Record<string, unknown>,
  };
}

async function waitUntil(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Condition not met within ${timeoutMs} ms.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let emulator: PubNubEmulator;

beforeEach(async () => {
  emulator = await startEmulator();
});

afterEach(async () => {
  for (const client of clients.splice(0)) {
    client.destroy();
  }
  await emulator.close();
});

describe("grant through the official SDK", () => {
  it("returns a token parseToken decodes", async () => {
    const client = sdkClient(emulator);

    const token = await client.grantToken({
      ttl: 60,
      authorized_uuid: "user-1",
      resources: { channels: { "room-1": READ_WRITE, "room-1-pnpres": READ_WRITE } },
    });

    const parsed = client.parseToken(token);
    expect(parsed).toEqual({
      version: 2,
      timestamp: FROZEN_SECONDS,
      ttl: 60,
      authorized_uuid: "user-1",
      resources: { channels: { "room-1": PARSED_READ_WRITE, "room-1-pnpres": PARSED_READ_WRITE } },
      signature: expect.anything(),
    });
    expect(Buffer.from(parsed?.signature as ArrayBuffer).length).toBe(32);
  });

  it("issues padded URL-safe base64 tokens", async () => {
    const token = await sdkClient(emulator).grantToken({
      ttl: 60,
      authorized_uuid: "user-1",
      resources: { channels: { "room-1": READ_WRITE, "room-1-pnpres": READ_WRITE } },
    });

    expect(token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
    expect(token.length % 4).toBe(0);
    expect(verifyTokenSignature(token, SECRET_KEY)).toBe(true);
    expect(verifyTokenSignature(token, "sec-c-other-secret")).toBe(false);
  });

  it("decodeToken matches the granted permissions", async () => {
    const token = await sdkClient(emulator).grantToken({
      ttl: 60,
      authorized_uuid: "user-1",
      resources: { channels: { "room-1": READ_WRITE, "room-1-pnpres": READ_WRITE } },
    });

    const decoded = decodeToken(token);
    expect(decoded.version).toBe(2);
    expect(decoded.issuedAt).toBe(FROZEN_SECONDS);
    expect(decoded.ttlMinutes).toBe(60);
    expect(decoded.authorizedUuid).toBe("user-1");
    expect(decoded.resources).toEqual({ ...emptyResources(), channels: { "room-1": 3, "room-1-pnpres": 3 } });
    expect(decoded.patterns).toEqual(emptyResources());
    expect(decoded.meta).toEqual({});
  });

  it("receives the SDK body byte for byte", async () => {
    await sdkClient(emulator).grantToken({
      ttl: 60,
      authorized_uuid: "user-1",
      resources: { channels: { "room-1": READ_WRITE, "room-1-pnpres": READ_WRITE } },
    });

    const [received] = emulator.recentRequests();
    expect(received?.method).toBe("POST");
    expect(received?.path).toBe(`/v3/pam/${SUBSCRIBE_KEY}/grant`);
    expect(received?.query.uuid).toBe(SERVER_UUID);
    expect(received?.body).toBe(
      '{"ttl":60,"permissions":{"uuid":"user-1","resources":{"channels":{"room-1":3,"room-1-pnpres":3},' +
        '"groups":{},"uuids":{},"users":{},"spaces":{}},"patterns":{"channels":{},"groups":{},"uuids":{},' +
        '"users":{},"spaces":{}},"meta":{}}}',
    );
  });

  it("omits uuid when none is authorized", async () => {
    const token = await sdkClient(emulator).grantToken({
      ttl: 5,
      resources: { channels: { "room-2": { read: true } } },
    });

    expect(decodeToken(token).authorizedUuid).toBeUndefined();
    expect(sdkClient(emulator).parseToken(token)?.authorized_uuid).toBeUndefined();
  });

  it("rejects a wrong secret key with 403", async () => {
    const error = await rejectionOf(
      sdkClient(emulator, "sec-c-wrong-secret").grantToken({
        ttl: 60,
        resources: { channels: { "room-1": READ_WRITE } },
      }),
    );

    expect(error.status?.statusCode).toBe(403);
    expect(error.status?.errorData).toEqual({
      error: {
        message: "Invalid signature",
        source: "grant",
        details: [
          {
            message: "The signature does not match the request. Sign it with this keyset's publish and secret keys.",
            location: "signature",
            locationType: "query",
          },
        ],
      },
      service: "Access Manager",
      status: 403,
    });
    expect(emulator.counters().signaturesRejected).toBe(1);
    expect(emulator.counters().grantsIssued).toBe(0);
  });

  it("rejects a timestamp outside the window", async () => {
    const skewed = await startEmulator({ now: () => FROZEN_MS - 3600_000 });
    try {
      const error = await rejectionOf(
        sdkClient(skewed).grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } }),
      );

      expect(error.status?.statusCode).toBe(403);
      expect(error.status?.errorData).toMatchObject({
        error: { message: "Request expired", details: [{ location: "timestamp", locationType: "query" }] },
        service: "Access Manager",
        status: 403,
      });
      expect(skewed.counters().grantsIssued).toBe(0);
    } finally {
      await skewed.close();
    }
  });

  it.each([
    { ttl: 1, accepted: true },
    { ttl: 43_200, accepted: true },
    { ttl: 0, accepted: false },
    { ttl: 43_201, accepted: false },
  ])("ttl $ttl accepted: $accepted", async ({ ttl, accepted }) => {
    const grant = sdkClient(emulator).grantToken({ ttl, resources: { channels: { "room-1": READ_WRITE } } });

    if (accepted) {
      expect(decodeToken(await grant).ttlMinutes).toBe(ttl);
    } else {
      const error = await rejectionOf(grant);
      expect(error.status?.statusCode).toBe(400);
      expect(error.status?.errorData).toEqual(INVALID_TTL_BODY);
    }
  });

  it.each([
    { name: "c".repeat(92), accepted: true },
    { name: "c".repeat(93), accepted: false },
    { name: "r".repeat(85) + "-pnpres", accepted: true },
    { name: "r".repeat(86) + "-pnpres", accepted: false },
    { name: "salle-été-🎤", accepted: true },
  ])("channel of $name.length characters accepted: $accepted", async ({ name, accepted }) => {
    const grant = sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { [name]: READ_WRITE } } });

    if (accepted) {
      expect(decodeToken(await grant).resources.channels).toEqual({ [name]: 3 });
    } else {
      const error = await rejectionOf(grant);
      expect(error.status?.statusCode).toBe(400);
      expect(error.status?.errorData).toMatchObject({
        error: {
          message: "Invalid channel name",
          source: "grant",
          details: [{ location: "permissions.resources.channels", locationType: "body" }],
        },
        service: "Access Manager",
        status: 400,
      });
    }
  });

  it.each([",", ":", "*", "/", "\\", " ", ".", "\u0000", "\u001f", "\u007f", "\n"])(
    "channel with %j is rejected",
    async (character) => {
      const error = await rejectionOf(
        sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { [`room${character}1`]: READ_WRITE } } }),
      );

      expect(error.status?.statusCode).toBe(400);
      expect(error.status?.errorData).toMatchObject({ error: { message: "Invalid channel name" }, status: 400 });
    },
  );

  it("accepts pattern names with wildcards", async () => {
    const token = await sdkClient(emulator).grantToken({
      ttl: 60,
      patterns: { channels: { "room-.*": { read: true } } },
    });

    expect(decodeToken(token).patterns.channels).toEqual({ "room-.*": 1 });
  });

  it.each([
    { length: 92, accepted: true },
    { length: 93, accepted: false },
  ])("authorized uuid of $length characters accepted: $accepted", async ({ length, accepted }) => {
    const uuid = "u".repeat(length);
    const grant = sdkClient(emulator).grantToken({
      ttl: 60,
      authorized_uuid: uuid,
      resources: { channels: { "room-1": READ_WRITE } },
    });

    if (accepted) {
      expect(decodeToken(await grant).authorizedUuid).toBe(uuid);
    } else {
      const error = await rejectionOf(grant);
      expect(error.status?.statusCode).toBe(400);
      expect(error.status?.errorData).toMatchObject({ error: { message: "Invalid uuid" }, status: 400 });
    }
  });

  it("revokes a granted token", async () => {
    const client = sdkClient(emulator);
    const token = await client.grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } });

    await expect(client.revokeToken(token)).resolves.toBeDefined();

    expect(emulator.isRevoked(token)).toBe(true);
    expect(emulator.counters().revokesAccepted).toBe(1);
    const revoke = emulator.recentRequests().at(-1);
    expect(revoke?.method).toBe("DELETE");
    expect(revoke?.path).toBe(`/v3/pam/${SUBSCRIBE_KEY}/grant/${encodeQueryValue(token)}`);
  });

  it("revoke success has PubNub's shape", async () => {
    const token = await sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } });

    const answer = await callSigned(emulator, {
      method: "DELETE",
      path: `/v3/pam/${SUBSCRIBE_KEY}/grant/${encodeQueryValue(token)}`,
    });

    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(PAM_CONTENT_TYPE);
    expect(answer.json).toEqual({ data: { message: "Success" }, service: "Access Manager", status: 200 });
    expect(emulator.isRevoked(token)).toBe(true);
  });

  it("rejects revoking a foreign token", async () => {
    const foreign = mintToken(
      { issuedAt: FROZEN_SECONDS, ttlMinutes: 60, resources: emptyResources(), patterns: emptyResources(), meta: {} },
      "sec-c-other-keyset",
    );

    const error = await rejectionOf(sdkClient(emulator).revokeToken(foreign));

    expect(error.status?.statusCode).toBe(400);
    expect(error.status?.errorData).toMatchObject({ error: { message: "Invalid token", source: "revoke" } });
    expect(emulator.isRevoked(foreign)).toBe(false);
  });

  it("rejects a revoke signed with the wrong key", async () => {
    const token = await sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } });

    const error = await rejectionOf(sdkClient(emulator, "sec-c-wrong-secret").revokeToken(token));

    expect(error.status?.statusCode).toBe(403);
    expect(emulator.isRevoked(token)).toBe(false);
  });
});

describe("grant request checks", () => {
  it("grant success has PubNub's shape", async () => {
    const answer = await callSigned(emulator);

    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(PAM_CONTENT_TYPE);
    expect(answer.json).toEqual({
      data: { message: "Success", token: expect.stringMatching(/^[A-Za-z0-9_-]+=*$/) },
      service: "Access Manager",
      status: 200,
    });
  });

  it.each([
    { offset: -60, accepted: true },
    { offset: 60, accepted: true },
    { offset: -61, accepted: false },
    { offset: 61, accepted: false },
  ])("timestamp offset $offset s accepted: $accepted", async ({ offset, accepted }) => {
    const answer = await callSigned(emulator, { timestampSeconds: FROZEN_SECONDS + offset });

    expect(answer.status).toBe(accepted ? 200 : 403);
    if (!accepted) {
      expect(answer.json).toMatchObject({ error: { message: "Request expired" }, status: 403 });
    }
  });

  it("honours a custom timestamp window", async () => {
    const strict = await startEmulator({ timestampWindowSeconds: 5 });
    try {
      expect((await callSigned(strict, { timestampSeconds: FROZEN_SECONDS + 5 })).status).toBe(200);
      expect((await callSigned(strict, { timestampSeconds: FROZEN_SECONDS + 6 })).status).toBe(403);
    } finally {
      await strict.close();
    }
  });

  it.each([
    { ttl: "60", case: "a string" },
    { ttl: 1.5, case: "a fraction" },
    { ttl: null, case: "null" },
    { ttl: undefined, case: "missing" },
  ])("ttl that is $case gets the invalid ttl body", async ({ ttl }) => {
    const answer = await callSigned(emulator, { body: grantBody(ttl, { "room-1": 3 }) });

    expect(answer.status).toBe(400);
    expect(answer.json).toEqual(INVALID_TTL_BODY);
  });

  it.each([
    { bitmask: 0, accepted: true },
    { bitmask: 239, accepted: true },
    { bitmask: 16, accepted: false },
    { bitmask: 256, accepted: false },
    { bitmask: -1, accepted: false },
    { bitmask: 1.5, accepted: false },
    { bitmask: "3", accepted: false },
  ])("bitmask $bitmask accepted: $accepted", async ({ bitmask, accepted }) => {
    const answer = await callSigned(emulator, { body: grantBody(60, { "room-1": bitmask }) });

    expect(answer.status).toBe(accepted ? 200 : 400);
    if (!accepted) {
      expect(answer.json).toMatchObject({ error: { message: "Invalid permissions" }, status: 400 });
    }
  });

  it("rejects a body that is not JSON", async () => {
    const answer = await callSigned(emulator, { body: "{not json" });

    expect(answer.status).toBe(400);
    expect(answer.contentType).toBe(PAM_CONTENT_TYPE);
    expect(answer.json).toMatchObject({
      error: { message: "Invalid request body", source: "grant", details: [{ location: "body", locationType: "body" }] },
      service: "Access Manager",
      status: 400,
    });
  });

  it("rejects an unknown resource type", async () => {
    const body = JSON.stringify({ ttl: 60, permissions: { resources: { rooms: { a: 1 } } } });

    const answer = await callSigned(emulator, { body });

    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: { message: "Invalid resource type" } });
  });

  it("rejects nested meta values", async () => {
    const body = JSON.stringify({ ttl: 60, permissions: { resources: { channels: { a: 1 } }, meta: { a: { b: 1 } } } });

    const answer = await callSigned(emulator, { body });

    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: { message: "Invalid meta" } });
  });

  it("stores scalar meta in the token", async () => {
    const body = JSON.stringify({
      ttl: 60,
      permissions: { resources: { channels: { a: 1 } }, meta: { role: "publisher", score: 7, admin: false } },
    });

    const answer = await callSigned(emulator, { body });

    const token = (answer.json.data as { token: string }).token;
    expect(decodeToken(token).meta).toEqual({ role: "publisher", score: 7, admin: false });
  });

  it("rejects a wrong subscribe key", async () => {
    const answer = await callSigned(emulator, { path: "/v3/pam/sub-c-other/grant" });

    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({
      error: { message: "Invalid subscribe key", details: [{ location: "subscribeKey", locationType: "path" }] },
    });
  });

  it.each(["uuid", "timestamp", "signature"])("rejects a request without %s", async (name) => {
    const url = new URL(signedUrl(emulator, { body: grantBody(60, { "room-1": 3 }) }));
    url.searchParams.delete(name);

    const response = await fetch(url, { method: "POST", body: grantBody(60, { "room-1": 3 }) });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { message: "Missing query parameter", details: [{ location: name, locationType: "query" }] },
    });
  });

  it("rejects a body changed after signing", async () => {
    const url = signedUrl(emulator, { body: grantBody(60, { "room-1": 1 }) });

    const response = await fetch(url, { method: "POST", body: grantBody(60, { "room-1": 3 }) });

    expect(response.status).toBe(403);
    expect(emulator.counters().signaturesRejected).toBe(1);
  });

  it.each([
    { method: "GET", path: "/v3/pam/sub-c-test/grant" },
    { method: "POST", path: "/v2/auth/grant/sub-key/sub-c-test" },
    { method: "GET", path: "/" },
  ])("unknown route $method $path gets 404", async ({ method, path }) => {
    const response = await fetch(`${emulator.origin}${path}`, { method });

    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe(PAM_CONTENT_TYPE);
    expect(await response.json()).toMatchObject({
      error: { message: "Not found" },
      service: "Access Manager",
      status: 404,
    });
  });

  it("oversized body gets 413", async () => {
    const answer = await callSigned(emulator, { body: "x".repeat(65 * 1024) });

    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ error: { message: "Request body too large" }, status: 413 });
  });
});

describe("fault injection", () => {
  it.each([
    { status: 500, body: { status: 500, error: true, message: "Internal Server Error", service: "Access Manager" } },
    { status: 503, body: { status: 503, error: true, message: "Service Unavailable", service: "Access Manager" } },
    { status: 429, body: { status: 429, error: true, message: "Too many requests." } },
  ])("status $status fault applies once", async ({ status, body }) => {
    emulator.injectFaults({ kind: "status", status });

    const faulted = await callSigned(emulator);
    const next = await callSigned(emulator);

    expect(faulted.status).toBe(status);
    expect(faulted.contentType).toBe(PAM_CONTENT_TYPE);
    expect(faulted.json).toEqual(body);
    expect(next.status).toBe(200);
    expect(emulator.counters().faultsApplied).toBe(1);
  });

  it("403 fault rejects a valid signature", async () => {
    emulator.injectFaults({ kind: "status", status: 403 });

    const answer = await callSigned(emulator);

    expect(answer.status).toBe(403);
    expect(answer.json).toMatchObject({
      error: { message: "Invalid signature", details: [{ location: "signature", locationType: "query" }] },
      status: 403,
    });
  });

  it("status fault sends a custom body", async () => {
    emulator.injectFaults({ kind: "status", status: 502, body: "<html>Bad Gateway</html>" });

    const response = await fetch(signedUrl(emulator, { body: grantBody(60, { "room-1": 3 }) }), {
      method: "POST",
      body: grantBody(60, { "room-1": 3 }),
    });

    expect(response.status).toBe(502);
    expect(await response.text()).toBe("<html>Bad Gateway</html>");
  });

  it("errorInBody fault sends 200 with error", async () => {
    emulator.injectFaults({ kind: "errorInBody", status: 500 });

    const answer = await callSigned(emulator);

    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ status: 500, error: true, message: "Internal Server Error", service: "Access Manager" });
  });

  it("SDK treats an error status under 200 as a failure", async () => {
    emulator.injectFaults({ kind: "errorInBody", status: 403 });

    const error = await rejectionOf(
      sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } }),
    );

    expect(error.status?.errorData).toMatchObject({ error: { message: "Invalid signature" }, status: 403 });
    expect(error.status?.statusCode).toBe(200);
  });

  it("SDK takes the status from a flat error body", async () => {
    emulator.injectFaults({ kind: "errorInBody", status: 503 });

    const error = await rejectionOf(
      sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } }),
    );

    expect(error.status?.statusCode).toBe(503);
    expect(error.status?.errorData).toMatchObject({ status: 503, error: true, message: "Service Unavailable" });
  });

  it("delay fault succeeds after the delay", async () => {
    emulator.injectFaults({ kind: "delay", ms: 300 });

    const started = performance.now();
    const answer = await callSigned(emulator);
    const elapsedMs = performance.now() - started;

    expect(answer.status).toBe(200);
    expect(elapsedMs).toBeGreaterThanOrEqual(295);
  });

  it("hang fault never responds", async () => {
    emulator.injectFaults({ kind: "hang" });

    const call = callSigned(emulator, { signal: AbortSignal.timeout(300) });

    await expect(call).rejects.toMatchObject({ name: "TimeoutError" });
    expect(emulator.counters().requestsReceived).toBe(1);
    expect(emulator.counters().grantsIssued).toBe(0);
  });

  it("drop fault closes the connection", async () => {
    emulator.injectFaults({ kind: "drop" });

    await expect(callSigned(emulator)).rejects.toThrow(TypeError);
    expect(emulator.counters().requestsReceived).toBe(1);
    expect((await callSigned(emulator)).status).toBe(200);
  });

  it("applies queued faults in order", async () => {
    emulator.injectFaults({ kind: "status", status: 429 }, { kind: "status", status: 503 });

    expect(emulator.pendingFaults).toBe(2);
    expect((await callSigned(emulator)).status).toBe(429);
    expect((await callSigned(emulator)).status).toBe(503);
    expect((await callSigned(emulator)).status).toBe(200);
    expect(emulator.pendingFaults).toBe(0);
  });

  it("revoke does not consume a fault", async () => {
    const token = await sdkClient(emulator).grantToken({ ttl: 60, resources: { channels: { "room-1": READ_WRITE } } });
    emulator.injectFaults({ kind: "status", status: 500 });

    await sdkClient(emulator).revokeToken(token);

    expect(emulator.pendingFaults).toBe(1);
  });

  it("clearFaults drops pending faults", async () => {
    emulator.injectFaults({ kind: "status", status: 500 });

    emulator.clearFaults();

    expect(emulator.pendingFaults).toBe(0);
    expect((await callSigned(emulator)).status).toBe(200);
  });

  it.each([
    { kind: "status", status: 99 },
    { kind: "status", status: 600 },
    { kind: "errorInBody", status: 200 },
    { kind: "delay", ms: -1 },
    { kind: "delay", ms: Number.NaN },
  ] as const)("rejects invalid fault %j", (fault) => {
    expect(() => emulator.injectFaults(fault)).toThrow(RangeError);
    expect(emulator.pendingFaults).toBe(0);
  });

  it("latency delays every response", async () => {
    emulator.latencyMs = 150;

    const started = performance.now();
    const answer = await callSigned(emulator);
    const elapsedMs = performance.now() - started;

    expect(answer.status).toBe(200);
    expect(elapsedMs).toBeGreaterThanOrEqual(145);
  });

  it("latencyMs option delays every response", async () => {
    const target = await startEmulator({ latencyMs: 150 });
    try {
      const started = performance.now();
      const first = await callSigned(target);
      const second = await callSigned(target);
      const elapsedMs = performance.now() - started;

      expect(target.latencyMs).toBe(150);
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(elapsedMs).toBeGreaterThanOrEqual(2 * 145);
    } finally {
      await target.close();
    }
  });

  it("latencyMs option holds back a served grant", async () => {
    const target = await startEmulator({ latencyMs: 60_000 });
    const call = callSigned(target).then(
      () => "answered",
      (error: unknown) => error,
    );
    await waitUntil(() => target.counters().grantsIssued === 1);

    const state = await Promise.race([call, new Promise((resolve) => setImmediate(() => resolve("pending")))]);
    await target.close();

    expect(state).toBe("pending");
    expect(await call).toBeInstanceOf(TypeError);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])("rejects latencyMs %s", async (latencyMs) => {
    await expect(startEmulator({ latencyMs })).rejects.toThrow(RangeError);
  });
});

describe("emulator lifecycle and records", () => {
  it("close ends a hanging request promptly", async () => {
    const target = await startEmulator();
    target.injectFaults({ kind: "hang" });
    const call = callSigned(target).then(
      () => "answered",
      (error: unknown) => error,
    );
    await waitUntil(() => target.counters().requestsReceived === 1);

    const started = performance.now();
    await target.close();
    const closeMs = performance.now() - started;

    expect(closeMs).toBeLessThan(1000);
    expect(await call).toBeInstanceOf(TypeError);
  });

  it("close ends idle keep-alive connections", async () => {
    const target = await startEmulator();
    expect((await callSigned(target)).status).toBe(200);

    const started = performance.now();
    await target.close();

    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("close cancels a pending delay", async () => {
    const target = await startEmulator();
    target.injectFaults({ kind: "delay", ms: 10_000 });
    const call = callSigned(target).then(
      () => "answered",
      (error: unknown) => error,
    );
    await waitUntil(() => target.counters().requestsReceived === 1);

    const started = performance.now();
    await target.close();

    expect(performance.now() - started).toBeLessThan(1000);
    expect(await call).toBeInstanceOf(TypeError);
  });

  it("keeps the last requests up to historySize", async () => {
    const target = await startEmulator({ historySize: 2 });
    try {
      await callSigned(target, { body: grantBody(1, { a: 1 }) });
      await callSigned(target, { body: grantBody(2, { b: 1 }) });
      await callSigned(target, { body: grantBody(3, { c: 1 }) });

      const bodies = target.recentRequests().map((request) => JSON.parse(request.body).ttl);
      expect(bodies).toEqual([2, 3]);
      expect(target.counters().requestsReceived).toBe(3);
      expect(target.counters().grantsIssued).toBe(3);
      expect(target.counters().internalErrors).toBe(0);
    } finally {
      await target.close();
    }
  });

  it("reports its loopback origin", () => {
    expect(emulator.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator.hostPort).toBe(emulator.origin.slice("http://".length));
  });
});

describe("token layout", () => {
  const grant: TokenGrant = {
    issuedAt: 1_700_000_000,
    ttlMinutes: 60,
    authorizedUuid: "user-1",
    resources: { ...emptyResources(), channels: { "room-1": 3 } },
    patterns: emptyResources(),
    meta: {},
  };

  // The CBOR bytes of the token map without "sig", written out by hand: a map whose keys are byte
  // strings (major type 2) in the order v, t, ttl, res, pat, meta, uuid, with sig appended last.
  const emptyResourceMaps = "446368616ea0" + "43677270a0" + "43757372a0" + "43737063a0" + "4475756964a0";
  const unsignedEntries =
    "4176" + "02" + // "v": 2
    "4174" + "1a6553f100" + // "t": 1700000000
    "4374746c" + "183c" + // "ttl": 60
    "43726573" + "a5" + // "res": map of 5
    "446368616e" + "a1" + "66726f6f6d2d31" + "03" + // "chan": {"room-1": 3}
    "43677270a0" + "43757372a0" + "43737063a0" + "4475756964a0" + // grp, usr, spc, uuid: {}
    "43706174" + "a5" + emptyResourceMaps + // "pat": five empty maps
    "446d657461" + "a0" + // "meta": {}
    "4475756964" + "66757365722d31"; // "uuid": "user-1"

  it("encodes the documented CBOR layout", () => {
    const bytes = Buffer.from(mintToken(grant, SECRET_KEY), "base64url");

    const signature = createHmac("sha256", SECRET_KEY)
      .update(Buffer.from("a7" + unsignedEntries, "hex"))
      .digest("hex");
    expect(bytes.toString("hex")).toBe("a8" + unsignedEntries + "43736967" + "5820" + signature);
  });

  it("starts like PubNub's tokens", () => {
    expect(mintToken(grant, SECRET_KEY)).toMatch(/^qEF2AkF0/);
  });

  it("round-trips through decodeToken", () => {
    const decoded = decodeToken(mintToken(grant, SECRET_KEY));

    expect({ ...decoded, signature: undefined }).toEqual({ ...grant, version: 2, signature: undefined });
  });

  it("decodes tokens without padding", () => {
    const token = mintToken(grant, SECRET_KEY);

    expect(decodeToken(token.replace(/=+$/, ""))).toEqual(decodeToken(token));
  });

  it.each([
    { token: "", case: "empty text" },
    { token: "not base64!", case: "characters outside base64url" },
    { token: "qEF2", case: "truncated CBOR" },
    { token: Buffer.from([0x01]).toString("base64url"), case: "a CBOR integer" },
  ])("decodeToken rejects $case", ({ token }) => {
    expect(() => decodeToken(token)).toThrow(InvalidTokenError);
  });

  it("decodeToken rejects a short signature", () => {
    const bytes = Buffer.from(mintToken(grant, SECRET_KEY), "base64url");
    // Rewrite the trailing 32-byte string header (0x58 0x20) as a 31-byte one and drop a byte.
    const shortened = Buffer.concat([bytes.subarray(0, bytes.length - 33), Buffer.from([0x1f]), bytes.subarray(-32, -1)]);

    expect(() => decodeToken(shortened.toString("base64url"))).toThrow(/"sig" is not a 32-byte string/);
  });
});

describe("CBOR encoding", () => {
  const bytes = (length: number) => Uint8Array.from({ length }, (_, index) => index % 256);

  it.each([
    { case: "small integers", value: [0, 1, 23, 24, 255, 256, 65_535, 65_536] },
    { case: "large integers", value: [4_294_967_295, 4_294_967_296, Number.MAX_SAFE_INTEGER] },
    { case: "negative integers", value: [-1, -24, -25, -256, -257, -65_537, Number.MIN_SAFE_INTEGER] },
    { case: "floats and -0", value: [1.5, -0, Number.NaN, 1e300, 0.1] },
    { case: "text", value: ["", "room-1", "é€😀", "\ud800 lone surrogate", "x".repeat(300), "y".repeat(70_000)] },
    { case: "byte strings", value: [bytes(0), bytes(23), bytes(24), bytes(300), bytes(70_000)] },
    { case: "simple values", value: [true, false, null, undefined] },
    { case: "a Buffer", value: [Buffer.from("abc")] },
  ])("matches cbor2 for $case", ({ value }) => {
    for (const item of value) {
      expect(encodeCbor(item).toString("hex")).toBe(Buffer.from(encodeWithCbor2(item)).toString("hex"));
    }
  });

  it("matches cbor2 for nested maps", () => {
    const entries = Array.from({ length: 30 }, (_, index) => [`channel-${index}`, index] as const);
    const value = new Map<unknown, unknown>([
      [bytes(3), new Map(entries)],
      ["meta", new Map<unknown, unknown>([["score", 1.25], ["admin", false], ["role", "publisher"]])],
      [7, new Map()],
    ]);

    expect(encodeCbor(value).toString("hex")).toBe(Buffer.from(encodeWithCbor2(value)).toString("hex"));
  });
});
