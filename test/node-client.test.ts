import { Code } from "@connectrpc/connect";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueTokens } from "../examples/node/issue-tokens.js";
import { TokenServiceClient, TokenServiceError, type ConferenceRoleName } from "../src/client/index.js";
import { FROZEN_SECONDS, startHarness, TEST_CREDENTIALS, type Harness } from "./support/harness.js";
import { parseWithSdk, readWrite } from "./support/pubnub-sdk.js";

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness.close();
});

async function claimsOf(token: string) {
  const { payload } = await jwtVerify(token, new TextEncoder().encode(TEST_CREDENTIALS.conferenceSecret), {
    currentDate: new Date(FROZEN_SECONDS * 1000),
  });
  return payload;
}

async function failure(call: Promise<unknown>): Promise<TokenServiceError> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TokenServiceError);
  return error as TokenServiceError;
}

describe.each(["grpc", "connect"] as const)("TokenServiceClient over %s", (protocol) => {
  const client = () => new TokenServiceClient({ baseUrl: harness.server.url, protocol });

  it("getConferenceToken returns a signed token", async () => {
    const token = await client().getConferenceToken("user-1", "room-1", "subscriber", 30);

    const claims = await claimsOf(token);
    expect(claims.uid).toBe("user-1");
    expect(claims.roomId).toBe("room-1");
    expect(claims.role).toBe("subscriber");
    expect(claims.exp).toBe(FROZEN_SECONDS + 30 * 60);
  });

  it("getChatToken returns a PubNub token", async () => {
    const token = await client().getChatToken("user-1", "lobby", false, true, 5);

    const parsed = parseWithSdk(token);
    expect(parsed.ttl).toBe(5);
    expect(parsed.resources?.channels).toEqual({ lobby: readWrite(false, true), "lobby-pnpres": readWrite(false, true) });
  });

  it("keeps the code and field violations", async () => {
    const error = await failure(client().getConferenceToken("user-1", "room 1", "admin", 0));

    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.fieldViolations.map(({ field, reason }) => ({ field, reason }))).toEqual([
      { field: "room_id", reason: "channel.no_reserved_characters" },
      { field: "expiration_minutes", reason: "uint32.gte_lte" },
    ]);
  });
});

describe("TokenServiceClient", () => {
  it("rejects an unknown role before calling", async () => {
    const before = harness.emulator.counters().requestsReceived;
    const client = new TokenServiceClient({ baseUrl: harness.server.url });

    const error = await failure(client.getConferenceToken("user-1", "room-1", "owner" as ConferenceRoleName));

    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.message).toBe('invalid role "owner": use admin, publisher or subscriber');
    expect(harness.emulator.counters().requestsReceived).toBe(before);
  });

  it("sends the credential as a bearer token", async () => {
    const seen: (string | null)[] = [];
    const client = new TokenServiceClient({ baseUrl: harness.server.url, credential: "rts_test_key" });
    const server = (await import("node:http2")).createServer((request, response) => {
      seen.push(request.headers.authorization ?? null);
      response.writeHead(200, { "content-type": "application/grpc" });
      response.addTrailers({ "grpc-status": "12", "grpc-message": "not implemented here" });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };

    const recording = new TokenServiceClient({ baseUrl: `http://127.0.0.1:${port}`, credential: "rts_test_key" });
    await failure(recording.getChatToken("u", "c", true, false));
    server.close();

    expect(seen).toEqual(["Bearer rts_test_key"]);
    expect(await client.getChatToken("u", "c", true, false)).not.toBe("");
  });

  it("maps a PubNub outage to UNAVAILABLE", async () => {
    harness.emulator.injectFaults(...Array.from({ length: 3 }, () => ({ kind: "status", status: 503 }) as const));
    const client = new TokenServiceClient({ baseUrl: harness.server.url });

    const error = await failure(client.getChatToken("u", "c", true, false));

    expect(error.code).toBe(Code.Unavailable);
    expect(error.fieldViolations).toEqual([]);
  });
});

describe("TokenServiceClient argument checks", () => {
  const client = () => new TokenServiceClient({ baseUrl: harness.server.url });

  it.each([-5, 1.5, 2 ** 32, Number.NaN, 1e20])("rejects %s minutes before calling", async (minutes) => {
    const before = harness.emulator.counters().requestsReceived;

    const error = await failure(client().getConferenceToken("u", "r", "publisher", minutes));

    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.fieldViolations).toEqual([
      { field: "expiration_minutes", description: "must be a whole number from 1 to 43200", reason: "uint32.gte_lte" },
    ]);
    expect(harness.emulator.counters().requestsReceived).toBe(before);
  });

  it.each(["constructor", "toString", "__proto__", "hasOwnProperty", "Admin"])("rejects role %s", async (role) => {
    const error = await failure(client().getConferenceToken("u", "r", role as ConferenceRoleName));

    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.fieldViolations.map((violation) => violation.field)).toEqual(["role"]);
  });

  it("rejects flags that are not booleans", async () => {
    const error = await failure(client().getChatToken("u", "c", "yes" as unknown as boolean, false));

    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.fieldViolations.map((violation) => violation.field)).toEqual(["read"]);
  });

  it.each([0, -1, 1.5, 2 ** 31])("rejects timeoutMs %s", (timeoutMs) => {
    expect(() => new TokenServiceClient({ baseUrl: harness.server.url, timeoutMs })).toThrow(
      "timeoutMs must be a whole number of milliseconds from 1 to 2147483647",
    );
  });

  it("rejects a credential with a line break without echoing it", () => {
    let message = "";
    try {
      new TokenServiceClient({ baseUrl: harness.server.url, credential: "SECRETKEY123\nx" });
    } catch (error) {
      message = (error as Error).message;
    }

    expect(message).toBe("credential must be printable ASCII without spaces, as an HTTP header value requires");
  });

  it("reports TLS to a cleartext server as UNAVAILABLE", async () => {
    const tls = new TokenServiceClient({ baseUrl: harness.server.url.replace("http:", "https:"), timeoutMs: 5000 });

    const error = await failure(tls.getChatToken("u", "c", true, false));

    expect(error.code).toBe(Code.Unavailable);
  });
});

describe("Node example", () => {
  it("issues both tokens for one user", async () => {
    const client = new TokenServiceClient({ baseUrl: harness.server.url });

    const tokens = await issueTokens(client, "user-1", "room-1");

    expect((await claimsOf(tokens.conferenceToken)).role).toBe("publisher");
    expect(parseWithSdk(tokens.chatToken).authorized_uuid).toBe("user-1");
  });
});

describe("TokenServiceClient against connections closed for age", () => {
  it("loses no call when the server sends GOAWAY", async () => {
    const aged = await startHarness({ maxConnectionAgeMs: 1000 });
    const client = new TokenServiceClient({ baseUrl: aged.server.url });
    const failures: string[] = [];
    let calls = 0;
    const stopAt = Date.now() + 4000;
    const worker = async () => {
      while (Date.now() < stopAt) {
        calls++;
        await client.getChatToken("user-1", "room-1", true, false).catch((error: unknown) => failures.push(String(error)));
      }
    };

    await Promise.all(Array.from({ length: 8 }, () => worker()));
    await aged.close();

    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(100);
  });
});
