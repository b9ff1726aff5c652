import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../gen/ts/grpc/health/v1/health_pb.js";
import { IssueChatTokenRequestSchema, TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { createTokenServiceGrpcJs } from "./support/grpc-js-client.js";
import { startHarness, type Harness } from "./support/harness.js";
import { parseWithSdk } from "./support/pubnub-sdk.js";

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const CHAT_REQUEST = create(IssueChatTokenRequestSchema, { userId: "user-1", channelId: "lobby", read: true });

describe("TLS", () => {
  let certificate: { cert: Buffer; key: Buffer };

  beforeAll(() => {
    const directory = mkdtempSync(join(tmpdir(), "token-service-tls-"));
    const certFile = join(directory, "cert.pem");
    const keyFile = join(directory, "key.pem");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", keyFile, "-out", certFile,
    ], { stdio: "ignore" });
    certificate = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  });

  it("serves gRPC, gRPC-Web and Connect over HTTP/2 and HTTP/1.1", async () => {
    harness = await startHarness({ tls: certificate });
    const baseUrl = harness.server.url;
    const nodeOptions = { ca: certificate.cert };
    expect(baseUrl).toMatch(/^https:\/\//);

    const transports = [
      createGrpcTransport({ baseUrl, nodeOptions }),
      createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions }),
      createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions }),
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions }),
    ];
    for (const transport of transports) {
      const response = await createClient(TokenService, transport).issueChatToken(CHAT_REQUEST);
      expect(parseWithSdk(response.token).authorized_uuid).toBe("user-1");
    }
  });

  it("serves grpc-js with TLS credentials", async () => {
    harness = await startHarness({ tls: certificate });
    const client = createTokenServiceGrpcJs(`localhost:${harness.server.port}`, grpc.credentials.createSsl(certificate.cert));

    const response = await client.issueChatToken(CHAT_REQUEST);

    expect(response.grants).toHaveLength(2);
    client.client.close();
  });
});

describe("limits", () => {
  it("advertises the HTTP/2 stream limit", async () => {
    harness = await startHarness({ http2MaxConcurrentStreams: 7 });
    const session = http2.connect(harness.server.url);

    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));

    expect(settings.maxConcurrentStreams).toBe(7);
    session.close();
  });
});

describe("unexpected errors", () => {
  it("returns a generic INTERNAL and logs the detail", async () => {
    harness = await startHarness({
      granter: {
        grantToken: () => Promise.reject(new TypeError("detail that must stay on the server")),
      },
    });
    const client = createClient(TokenService, createGrpcTransport({ baseUrl: harness.server.url }));

    const error = await client.issueChatToken(CHAT_REQUEST).then(
      () => undefined,
      (caught: unknown) => ConnectError.from(caught),
    );

    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toBe("internal error");
    const record = harness.logs.records().find((entry) => entry.msg === "call failed unexpectedly");
    expect(record).toMatchObject({ code: "Internal", procedure: "red5.token.v1.TokenService/IssueChatToken", userId: "user-1" });
    expect(JSON.stringify(record)).toContain("detail that must stay on the server");
  });
});

describe("call log", () => {
  it("logs a Watch the client cancels at info level", async () => {
    harness = await startHarness();
    const client = createClient(Health, createGrpcTransport({ baseUrl: harness.server.url }));
    const abort = new AbortController();

    const statuses: number[] = [];
    const watching = (async () => {
      for await (const update of client.watch({ service: "" }, { signal: abort.signal })) {
        statuses.push(update.status);
        abort.abort();
      }
    })();
    const ended = await watching.then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(statuses).toEqual([1]);
    expect(ended?.code).toBe(Code.Canceled);

    const records = harness.logs.records().filter((record) => record.procedure === "grpc.health.v1.Health/Watch");
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ level: 30, code: "Canceled", msg: "call ended by the caller" });
  });
});
