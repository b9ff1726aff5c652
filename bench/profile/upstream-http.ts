/**
 * Compares the CPU time of one upstream request over HTTP/1.1 and over HTTP/2 with undici, the
 * client the service uses for PubNub. HTTP/1.1 runs on a pool of kept-alive connections, as in the
 * service. HTTP/2 runs on one undici H2CClient: cleartext HTTP/2 (h2c), many streams on one
 * connection.
 *
 *   npx tsx bench/profile/upstream-http.ts [--requests 40000] [--in-flight 256]
 *
 * For each protocol it starts a Node.js server pinned to core 1, which responds to every POST with
 * a body the size of a PubNub grant response. Pinned to core 0, it sends the requests with the
 * given number in flight, after a warm-up of a quarter as many, and prints the user + system CPU
 * per request of the client and of the server. Every address is on loopback.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import http2 from "node:http2";
import { parseArgs } from "node:util";
import { H2CClient, Pool, type Dispatcher } from "undici";

type Protocol = "http1" | "h2c";

/** A PubNub grant response body of typical size. */
const RESPONSE_BODY = JSON.stringify({ data: { message: "Success", token: "x".repeat(180) }, service: "Access Manager", status: 200 });
/** A grant request body of typical size. */
const REQUEST_BODY = JSON.stringify({ ttl: 60, permissions: { resources: { channels: { "room-1": 3, "room-1-pnpres": 3 } }, meta: {}, uuid: "user-1" } });
const REQUEST_PATH = "/v3/pam/sub-c-example/grant?requestid=00000000-0000-0000-0000-000000000000&timestamp=1&signature=v2.example";

const serverProtocol = process.env.UPSTREAM_SERVER_PROTOCOL as Protocol | undefined;
if (serverProtocol !== undefined) {
  serve(serverProtocol);
} else {
  await compare();
}

/** Runs the server side: prints its port, then its CPU time in microseconds on each SIGUSR2. */
function serve(protocol: Protocol): void {
  const respond = (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(RESPONSE_BODY);
    });
  };
  const server = protocol === "http1" ? http.createServer({ keepAliveTimeout: 60_000 }, respond) : http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, respond);
  process.on("SIGUSR2", () => {
    const usage = process.cpuUsage();
    process.stdout.write(`${usage.user + usage.system}\n`);
  });
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${(server.address() as { port: number }).port}\n`);
  });
}

async function compare(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: "string", default: "40000" }, "in-flight": { type: "string", default: "256" } } });
  const requests = Number(values.requests);
  const inFlight = Number(values["in-flight"]);
  spawn("taskset", ["-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
  for (const protocol of ["http1", "h2c"] as const) {
    const server = spawn("taskset", ["-c", "1", process.execPath, "--import", "tsx", new URL(import.meta.url).pathname], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, UPSTREAM_SERVER_PROTOCOL: protocol },
    });
    try {
      const port = Number(await nextLine(server));
      const origin = `http://127.0.0.1:${port}`;
      const client: Dispatcher =
        protocol === "http1" ? new Pool(origin, { connections: inFlight, pipelining: 1 }) : new H2CClient(origin, { pipelining: inFlight, maxConcurrentStreams: inFlight });
      await send(client, Math.ceil(requests / 4), inFlight);
      const serverBefore = await serverCpu(server);
      const before = process.cpuUsage();
      const startedAt = performance.now();
      await send(client, requests, inFlight);
      const usage = process.cpuUsage(before);
      const seconds = (performance.now() - startedAt) / 1000;
      const serverMicros = (await serverCpu(server)) - serverBefore;
      await client.close();
      process.stdout.write(
        `${protocol}: ${requests} requests, ${inFlight} in flight, client ${((usage.user + usage.system) / requests).toFixed(1)} µs CPU per request, ` +
          `server ${(serverMicros / requests).toFixed(1)} µs, ${Math.round(requests / seconds)} requests/s\n`,
      );
    } finally {
      server.kill("SIGTERM");
    }
  }
}

/** Sends `count` requests, `inFlight` at a time, and checks that each one succeeds. */
async function send(client: Dispatcher, count: number, inFlight: number): Promise<void> {
  let started = 0;
  const sender = async () => {
    while (started < count) {
      started++;
      const response = await client.request({ method: "POST", path: REQUEST_PATH, headers: { "content-type": "application/json" }, body: REQUEST_BODY });
      const text = await response.body.text();
      if (response.statusCode !== 200 || text !== RESPONSE_BODY) {
        throw new Error(`unexpected response: status ${response.statusCode}, ${text.length} bytes of body`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, sender));
}

async function serverCpu(server: ChildProcess): Promise<number> {
  const line = nextLine(server);
  server.kill("SIGUSR2");
  return Number(await line);
}

function nextLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8").trim()));
    child.once("exit", (code) => reject(new Error(`server exited with status ${code}`)));
  });
}
