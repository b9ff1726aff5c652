import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { mintToken } from "../src/emulator/pubnub-emulator.js";
import { GrantError, PubNubGrantClient, type GrantClientOptions } from "../src/pubnub/grant-client.js";
import { signRequest } from "../src/pubnub/signature.js";

const SECRET_KEY = "sec-c-test-secret";
const PUBLISH_KEY = "pub-c-test";

const emptyResources = { channels: {}, groups: {}, uuids: {}, users: {}, spaces: {} };
const TOKEN = mintToken({ issuedAt: 1_700_000_000, ttlMinutes: 60, resources: emptyResources, patterns: emptyResources, meta: {} }, SECRET_KEY);
const GRANT = { authorizedUuid: "user-1", ttlMinutes: 60, channels: { "room-1": 3, "room-1-pnpres": 3 } };

let server: Server | undefined;
let client: PubNubGrantClient | undefined;

afterEach(async () => {
  await client?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
  client = undefined;
});

/** Starts a loopback HTTP server with the given handler and a grant client for it. */
async function start(handler: (request: IncomingMessage, response: ServerResponse) => void, options: Partial<GrantClientOptions> = {}): Promise<PubNubGrantClient> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  client = new PubNubGrantClient({
    origin: `http://127.0.0.1:${port}`,
    subscribeKey: "sub-c-test",
    publishKey: PUBLISH_KEY,
    secretKey: SECRET_KEY,
    serverUuid: "red5 token/service!",
    sdkName: "red5-token-service/0.1.0",
    retryBaseDelayMs: 1,
    ...options,
  });
  return client;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

const SUCCESS = JSON.stringify({ data: { message: "Success", token: TOKEN }, service: "Access Manager", status: 200 });

describe("PubNubGrantClient", () => {
  it("signs the query it sends", async () => {
    const received: { path: string; query: URLSearchParams; body: string }[] = [];
    const grants = await start(async (request, response) => {
      const [path = "", query = ""] = (request.url ?? "").split("?");
      received.push({ path, query: new URLSearchParams(query), body: await readBody(request) });
      response.end(SUCCESS);
    });

    await expect(grants.grantToken(GRANT, 5000)).resolves.toBe(TOKEN);

    const [sent] = received;
    const query = Object.fromEntries(sent?.query ?? []);
    expect(Object.keys(query)).toEqual(["uuid", "requestid", "pnsdk", "timestamp", "signature"]);
    expect(query.uuid).toBe("red5 token/service!");
    expect(query.pnsdk).toBe("red5-token-service/0.1.0");
    const { signature, ...signed } = query;
    expect(signature).toBe(signRequest({ method: "POST", path: sent?.path ?? "", query: signed, body: sent?.body ?? "" }, PUBLISH_KEY, SECRET_KEY));
  });

  it("joins a body sent in small chunks", async () => {
    const grants = await start((_request, response) => {
      for (let start = 0; start < SUCCESS.length; start += 7) {
        response.write(SUCCESS.slice(start, start + 7));
      }
      response.end();
    });

    await expect(grants.grantToken(GRANT, 5000)).resolves.toBe(TOKEN);
  });

  it("reads a body over 64 KiB as no token", async () => {
    const grants = await start((_request, response) => response.end(JSON.stringify({ data: { token: TOKEN }, padding: "x".repeat(70_000) })), {
      maxAttempts: 2,
    });

    const failure = await grants.grantToken(GRANT, 5000).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(GrantError);
    expect((failure as GrantError).kind).toBe("unavailable");
    expect((failure as GrantError).attempts).toBe(2);
    expect((failure as GrantError).message).toContain("without a well-formed token");
  });

  it("times out an attempt that waits in the pool's queue", async () => {
    let requests = 0;
    const grants = await start(
      () => {
        requests++;
      },
      { connections: 1, maxAttempts: 1, attemptTimeoutMs: 200 },
    );

    const results = await Promise.allSettled([grants.grantToken(GRANT, 5000), grants.grantToken(GRANT, 5000)]);

    for (const result of results) {
      expect(result.status).toBe("rejected");
      const error = (result as PromiseRejectedResult).reason as GrantError;
      expect(error.kind).toBe("unavailable");
      expect(error.message).toContain("no answer within 200 ms");
    }
    expect(requests).toBe(1);
  });

  it("stops an attempt when the caller cancels", async () => {
    const grants = await start(() => undefined, { maxAttempts: 1 });
    const controller = new AbortController();

    const pending = grants.grantToken(GRANT, 5000, controller.signal).catch((error: unknown) => error);
    setTimeout(() => controller.abort(), 50);

    const failure = (await pending) as GrantError;
    expect(failure).toBeInstanceOf(GrantError);
    expect(failure.kind).toBe("cancelled");
  });
});
