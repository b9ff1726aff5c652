import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import PubNub from "pubnub";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mintToken } from "../src/emulator/pubnub-emulator.js";
import { encodeQueryValue, signRequest, sortedQueryString } from "../src/pubnub/signature.js";

const SUBSCRIBE_KEY = "sub-c-test";
const PUBLISH_KEY = "pub-c-test";
const SECRET_KEY = "sec-c-test-secret";

/** A request exactly as the SDK put it on the wire. */
interface CapturedRequest {
  method: string;
  rawPath: string;
  rawQuery: string;
  body: string;
}

const emptyResources = { channels: {}, groups: {}, uuids: {}, users: {}, spaces: {} };

// Any well-formed token, so that grantToken resolves.
const CAPTURE_TOKEN = mintToken(
  { issuedAt: 1_700_000_000, ttlMinutes: 60, resources: emptyResources, patterns: emptyResources, meta: {} },
  SECRET_KEY,
);

let server: Server;
let origin: string;
const captured: CapturedRequest[] = [];

/** Starts a loopback server that records each request and responds like Access Manager. */
function startCaptureServer(): Promise<Server> {
  const capture = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const rawUrl = request.url ?? "";
      const queryStart = rawUrl.indexOf("?");
      captured.push({
        method: request.method ?? "",
        rawPath: queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart),
        rawQuery: queryStart === -1 ? "" : rawUrl.slice(queryStart + 1),
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const data = request.method === "POST" ? { message: "Success", token: CAPTURE_TOKEN } : { message: "Success" };
      response.writeHead(200, { "Content-Type": "text/javascript; charset=UTF-8" });
      response.end(JSON.stringify({ data, service: "Access Manager", status: 200 }));
    });
  });
  return new Promise((resolve) => capture.listen(0, "127.0.0.1", () => resolve(capture)));
}

function sdkClient(userId: string): PubNub {
  const address = server.address() as AddressInfo;
  return new PubNub({
    origin: `127.0.0.1:${address.port}`,
    ssl: false,
    subscribeKey: SUBSCRIBE_KEY,
    publishKey: PUBLISH_KEY,
    secretKey: SECRET_KEY,
    userId,
    retryConfiguration: PubNub.NoneRetryPolicy(),
  });
}

function onlyCapture(): CapturedRequest {
  expect(captured).toHaveLength(1);
  const [request] = captured;
  if (request === undefined) {
    throw new Error("The capture server received no request.");
  }
  return request;
}

/** Splits a captured query into the SDK's signature and the other parameters. */
function splitSignature(rawQuery: string): { signature: string; query: Record<string, string> } {
  const query = Object.fromEntries(new URLSearchParams(rawQuery));
  const { signature, ...unsigned } = query;
  return { signature: signature ?? "", query: unsigned };
}

beforeAll(async () => {
  server = await startCaptureServer();
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  captured.length = 0;
});

const USER_IDS = [
  "token-service",
  "server~1",
  "a!b'c(d)e*f",
  "with space",
  "plus+amp&equals=",
  "serveur-été",
  "micro-🎤",
];

describe("signRequest against the official SDK", () => {
  it("capture server listens on loopback", () => {
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each(USER_IDS)("grant signature matches for userId %j", async (userId) => {
    const client = sdkClient(userId);
    try {
      await client.grantToken({
        ttl: 60,
        authorized_uuid: "user-1",
        resources: { channels: { "room-1": { read: true, write: true }, "salle-été": { read: true } } },
      });
    } finally {
      client.destroy();
    }

    const request = onlyCapture();
    const { signature, query } = splitSignature(request.rawQuery);
    expect(request.method).toBe("POST");
    expect(request.rawPath).toBe(`/v3/pam/${SUBSCRIBE_KEY}/grant`);
    expect(query.uuid).toBe(userId);
    expect(request.rawQuery).toContain(`uuid=${encodeQueryValue(userId)}`);
    expect(signature).toMatch(/^v2\.[A-Za-z0-9_-]{43}$/);

    const recomputed = signRequest(
      { method: request.method, path: request.rawPath, query, body: request.body },
      PUBLISH_KEY,
      SECRET_KEY,
    );
    expect(recomputed).toBe(signature);
  });

  it.each(USER_IDS)("revoke signature matches for userId %j", async (userId) => {
    const token = "qEF2AkF0Gmm+/ab==";
    const client = sdkClient(userId);
    try {
      await client.revokeToken(token);
    } finally {
      client.destroy();
    }

    const request = onlyCapture();
    const { signature, query } = splitSignature(request.rawQuery);
    expect(request.method).toBe("DELETE");
    expect(request.rawPath).toBe(`/v3/pam/${SUBSCRIBE_KEY}/grant/${encodeQueryValue(token)}`);
    expect(request.body).toBe("");

    const recomputed = signRequest({ method: "DELETE", path: request.rawPath, query }, PUBLISH_KEY, SECRET_KEY);
    expect(recomputed).toBe(signature);
  });

  it("grant signature covers the body", async () => {
    const client = sdkClient("token-service");
    try {
      await client.grantToken({ ttl: 60, resources: { channels: { "room-1": { read: true } } } });
    } finally {
      client.destroy();
    }

    const request = onlyCapture();
    const { signature, query } = splitSignature(request.rawQuery);
    const changedBody = request.body.replace('"ttl":60', '"ttl":61');
    expect(changedBody).not.toBe(request.body);
    expect(signRequest({ method: "POST", path: request.rawPath, query, body: changedBody }, PUBLISH_KEY, SECRET_KEY)).not.toBe(
      signature,
    );
  });
});

describe("signRequest known vector", () => {
  const body =
    '{"ttl":60,"permissions":{"uuid":"user-1","resources":{"channels":{"room-1":3,"room-1-pnpres":3},' +
    '"groups":{},"uuids":{},"users":{},"spaces":{}},"patterns":{"channels":{},"groups":{},"uuids":{},' +
    '"users":{},"spaces":{}},"meta":{}}}';
  const query = {
    uuid: "token service~!*'()é",
    timestamp: "1700000000",
    requestid: "3f9c1a52-7d4e-4b8a-9c61-0e2f5a7b8d90",
    pnsdk: "PubNub-JS-Nodejs/12.0.3",
  };
  const path = `/v3/pam/${SUBSCRIBE_KEY}/grant`;

  // Computed once by following the signature v2 steps by hand, and pinned so that a change to
  // either the code or the steps below shows up.
  const EXPECTED_SIGNATURE = "v2.gk4VJkFrKF8azQDnRQsE1FUskFagpTGk_-GZOrLJ0-Y";

  it("sorts and encodes the query", () => {
    expect(sortedQueryString({ ...query, signature: "v2.ignored" })).toBe(
      "pnsdk=PubNub-JS-Nodejs%2F12.0.3&requestid=3f9c1a52-7d4e-4b8a-9c61-0e2f5a7b8d90" +
        "&timestamp=1700000000&uuid=token%20service%7E%21%2A%27%28%29%C3%A9",
    );
  });

  it("steps by hand give the pinned signature", () => {
    const sortedQuery =
      "pnsdk=PubNub-JS-Nodejs%2F12.0.3&requestid=3f9c1a52-7d4e-4b8a-9c61-0e2f5a7b8d90" +
      "&timestamp=1700000000&uuid=token%20service%7E%21%2A%27%28%29%C3%A9";
    const stringToSign = ["POST", PUBLISH_KEY, path, sortedQuery, body].join("\n");
    const base64 = createHmac("sha256", SECRET_KEY).update(stringToSign, "utf8").digest("base64");
    const signature = "v2." + base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

    expect(signature).toBe(EXPECTED_SIGNATURE);
  });

  it("signRequest gives the pinned signature", () => {
    expect(signRequest({ method: "POST", path, query, body }, PUBLISH_KEY, SECRET_KEY)).toBe(EXPECTED_SIGNATURE);
  });

  it("leaves the body out for DELETE", () => {
    const withBody = signRequest({ method: "DELETE", path, query, body }, PUBLISH_KEY, SECRET_KEY);
    const withoutBody = signRequest({ method: "DELETE", path, query }, PUBLISH_KEY, SECRET_KEY);
    const stringToSign = ["DELETE", PUBLISH_KEY, path, sortedQueryString(query), ""].join("\n");
    const byHand =
      "v2." + createHmac("sha256", SECRET_KEY).update(stringToSign, "utf8").digest("base64url");

    expect(withBody).toBe(withoutBody);
    expect(withoutBody).toBe(byHand);
  });
});
