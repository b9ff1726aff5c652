import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { createContextValues } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from "../gen/ts/grpc/health/v1/health_pb.js";
import { createNodeAdapter } from "../src/server/node-adapter.js";
import { FrameType, RawHttp2Client } from "./support/raw-http2.js";

const CHECK = "/grpc.health.v1.Health/Check";

/** :authority values and request paths whose call URLs are compared. */
const REQUESTS: ReadonlyArray<readonly [string, string]> = [
  ["127.0.0.1:50051", CHECK],
  ["Example.COM:80", CHECK],
  ["example.com:443", CHECK],
  ["user@tokens.internal:8443", CHECK],
  ["[::1]:50051", CHECK],
  ["tokens.internal", `${CHECK}?probe=1`],
  ["tokens.internal", `${CHECK}?a=%7e&b=%zz`],
];

const servers: http2.Http2Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Sends every request to an adapter and returns the URL each call's context carried. */
async function callUrls(unaryGrpcPath: boolean): Promise<string[]> {
  const urls: string[] = [];
  const adapter = createNodeAdapter({
    routes: (router) =>
      router.service(Health, {
        check: (_request, context) => {
          urls.push(context.url);
          return { status: HealthCheckResponse_ServingStatus.SERVING };
        },
      }),
    contextValues: () => createContextValues(),
    logger: pino({ level: "silent" }),
    unaryGrpcPath,
  });
  const server = http2.createServer(adapter);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = await RawHttp2Client.connect((server.address() as AddressInfo).port);
  const message = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema));
  try {
    for (const [index, [authority, path]] of REQUESTS.entries()) {
      const streamId = 1 + 2 * index;
      client.sendGrpcRequest(streamId, path, authority, message);
      // Trailers end the stream (a HEADERS frame with END_STREAM), unless the server resets it.
      const end = await client.waitFor(
        (frame) => frame.streamId === streamId && (frame.type === FrameType.RST_STREAM || (frame.type === FrameType.HEADERS && (frame.flags & 0x1) !== 0)),
      );
      expect(end?.type, `${authority} ${path}`).toBe(FrameType.HEADERS);
    }
  } finally {
    client.close();
  }
  return urls;
}

describe("node adapter", () => {
  it("gives a call the URL connect-node gives it", async () => {
    const connect = await callUrls(false);
    const direct = await callUrls(true);

    expect(direct).toEqual(connect);
    expect(direct).toHaveLength(REQUESTS.length);
    expect(direct[1]).toBe(`http://example.com${CHECK}`);
  });
});
