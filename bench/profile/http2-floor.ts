/**
 * Measures what Node.js's HTTP/2 server alone costs per unary gRPC-shaped call: the floor under
 * the service's no-op ceiling. A bare node:http2 server reads each request body and responds with
 * one 7-byte message and a grpc-status trailer, through the compatibility API (request and
 * response objects, as the service uses) and through the stream API.
 *
 *   npx tsx bench/profile/http2-floor.ts [--calls 60000]
 *
 * The server runs in its own process pinned to core 0, and h2load (4 connections, 128 streams
 * each) on core 1, after a warm-up of a third as many calls. It prints the server's user + system
 * CPU per call, from /proc, and the calls per second. Every address is on loopback.
 */
import { writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort, MEASURED_CORE, spawnPinned, stopChild } from "../lib/children.js";
import { runH2load } from "../lib/h2load.js";
import { treeCpuSeconds } from "../lib/proc.js";

type Api = "compat" | "stream";

/** The response message: a gRPC envelope of a 2-byte protobuf message. */
const RESPONSE = Buffer.from([0, 0, 0, 0, 2, 8, 1]);

const serverApi = process.env.HTTP2_FLOOR_API as Api | undefined;
if (serverApi !== undefined) {
  serve(serverApi, Number(process.env.HTTP2_FLOOR_PORT));
} else {
  await measure();
}

/** Runs the bare server with the given API on the given port, and prints "listening" once it listens. */
function serve(api: Api, port: number): void {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  if (api === "compat") {
    server.on("request", (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "content-type": "application/grpc+proto" });
        response.write(RESPONSE);
        response.addTrailers({ "grpc-status": "0" });
        response.end();
      });
    });
  } else {
    server.on("stream", (stream) => {
      stream.resume();
      stream.on("end", () => {
        stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
        stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(RESPONSE);
      });
    });
  }
  server.listen(port, "127.0.0.1", () => process.stdout.write("listening\n"));
}

async function measure(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: "string", default: "60000" } } });
  const calls = Number(values.calls);
  const bodyFile = path.join(tmpdir(), `http2-floor-${process.pid}.bin`);
  // A 5-byte protobuf message (field 1, "abc") in a gRPC envelope.
  writeFileSync(bodyFile, Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, 0x61, 0x62, 0x63]));
  for (const api of ["compat", "stream"] as const) {
    const port = await freePort();
    const server = spawnPinned(MEASURED_CORE, process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname], {
      env: { ...process.env, HTTP2_FLOOR_API: api, HTTP2_FLOOR_PORT: String(port) },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout?.once("data", () => resolve());
        server.once("exit", (code) => reject(new Error(`server exited with status ${code}`)));
      });
      const load = {
        url: `http://127.0.0.1:${port}/bench.v1.Floor/Call`,
        bodyFile,
        headers: ["content-type: application/grpc", "te: trailers"],
        connections: 4,
        streamsPerConnection: 128,
      };
      await runH2load({ ...load, calls: Math.ceil(calls / 3) });
      const before = treeCpuSeconds(server.pid as number);
      const result = await runH2load({ ...load, calls });
      const cpuSeconds = treeCpuSeconds(server.pid as number) - before;
      if (result.succeeded !== calls) {
        throw new Error(`${api}: ${calls - result.succeeded} of ${calls} calls failed`);
      }
      process.stdout.write(`${api} API: ${calls} calls, ${((cpuSeconds * 1e6) / calls).toFixed(1)} µs of server CPU per call, ${Math.round(calls / result.seconds)} calls/s\n`);
    } finally {
      await stopChild(server);
    }
  }
}
