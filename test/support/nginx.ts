import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptsConnections } from "./process.js";

/** Where Debian's nginx and nginx-light packages install the binary; scripts/install-tools.sh installs it. */
export const NGINX_BINARY = "/usr/sbin/nginx";

/** Time nginx gets to open its ports, or to start new workers on a reload, in milliseconds. */
const START_TIMEOUT_MS = 10_000;

/** Times a start is tried again when another process took a port between choosing and binding it. */
const START_ATTEMPTS = 3;

/** An nginx in front of service replicas, with its files in a temporary directory. */
export interface Nginx {
  /** The master process; its workers are its children. */
  readonly child: ChildProcess;
  /** host:port of the HTTP/2 cleartext listener that passes gRPC to the replicas, for grpc-js. */
  readonly grpcAddress: string;
  /** Base URL of the HTTP/1.1 listener that proxies to the replicas, for Connect clients. */
  readonly http1Url: string;
  /** Directory of the configuration, logs, pid file and temporary files. */
  readonly directory: string;
  /** Lines of the access log: request URI, status, grpc-status and every upstream tried. */
  accessLog(): string[];
  errorLog(): string;
  /**
   * Balances over these replicas from now on: rewrites the configuration, sends SIGHUP to the
   * master and resolves once it has started workers with the new configuration. The old workers
   * finish their calls in flight, and send GOAWAY to their HTTP/2 clients.
   */
  setReplicas(replicas: readonly string[]): Promise<void>;
  /** Sends SIGTERM to the master, resolves with its exit code and deletes the directory. */
  stop(): Promise<number | null>;
}

/**
 * Returns the configuration of an nginx that balances over the replicas (host:port each) round
 * robin, on two loopback ports: HTTP/2 cleartext with grpc_pass for gRPC, and HTTP/1.1 with
 * proxy_pass for the Connect protocol. nginx before 1.25.1 (Debian 12 ships 1.22) serves a
 * cleartext port as either HTTP/1.x or HTTP/2, not both.
 *
 * A call that fails at one replica with a connection error or timeout goes to the next one, and
 * nginx tries each replica at most once. Every gRPC and Connect call is a POST, which nginx passes
 * on after it has sent it only with "non_idempotent", because it cannot tell whether a replica
 * that closed the connection read the call. A mint is not idempotent, but minting a second token
 * for the same request is harmless: both are valid, the caller receives one, and the other
 * expires unused. Failing the call would make the caller retry anyway.
 *
 * nginx passes a gRPC call on only while it has not sent it, because its grpc module never
 * buffers the request body (ngx_http_grpc_handler sets request_body_no_buffering) and
 * ngx_http_upstream_next retries no such request once sent. A replica's GOAWAY on a kept-alive
 * connection that nginx has just picked for a call fails that call with 502 (nginx logs "upstream
 * sent goaway"), so gRPC upstreams get a new connection per call, which leaves a smaller window:
 * a connection the kernel accepted just before the replica closed its listener is reset. HTTP/1.1
 * upstreams keep their connections alive, because nginx buffers those request bodies and so can
 * send a call again after a replica closed a kept-alive connection under it.
 */
export function nginxConfig(directory: string, replicas: readonly string[], ports: { grpc: number; http1: number }): string {
  const servers = replicas.map((replica) => `    server ${replica} max_fails=1 fail_timeout=30s;`).join("\n");
  const tries = replicas.length;
  return `daemon off;
worker_processes 1;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log info;

events {
  worker_connections 1024;
}

http {
  log_format replicas '$request_uri $status grpc-status=$sent_trailer_grpc_status upstreams=$upstream_addr statuses=$upstream_status';
  access_log ${directory}/access.log replicas;
  client_body_temp_path ${directory}/client-body;
  proxy_temp_path ${directory}/proxy;
  fastcgi_temp_path ${directory}/fastcgi;
  uwsgi_temp_path ${directory}/uwsgi;
  scgi_temp_path ${directory}/scgi;

  # No keepalive for gRPC: see nginxConfig in test/support/nginx.ts for why.
  upstream grpc_replicas {
${servers}
  }
  upstream http1_replicas {
${servers}
    keepalive 32;
  }

  server {
    listen 127.0.0.1:${ports.grpc} http2;
    location / {
      grpc_pass grpc://grpc_replicas;
      grpc_next_upstream error timeout non_idempotent;
      grpc_next_upstream_tries ${tries};
      grpc_connect_timeout 2s;
    }
  }

  server {
    listen 127.0.0.1:${ports.http1};
    location / {
      proxy_pass http://http1_replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout non_idempotent;
      proxy_next_upstream_tries ${tries};
      proxy_connect_timeout 2s;
    }
  }
}
`;
}

/**
 * Starts nginx in the foreground (no daemon), with a configuration from nginxConfig in a new
 * temporary directory, and resolves once both of its ports accept connections.
 */
export async function startNginx(replicas: readonly string[]): Promise<Nginx> {
  if (!existsSync(NGINX_BINARY)) {
    throw new Error(`${NGINX_BINARY} not found. Run scripts/install-tools.sh, or install nginx 1.22 or later (Debian: nginx-light).`);
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(replicas);
    } catch (error) {
      lastError = error;
      if (!/Address already in use/.test(String(error))) {
        throw error;
      }
    }
  }
  throw lastError;
}

async function startOnce(replicas: readonly string[]): Promise<Nginx> {
  const directory = mkdtempSync(join(tmpdir(), "nginx-"));
  // Run as root, the master starts its workers as "nobody", which must reach the temporary files.
  chmodSync(directory, 0o755);
  const ports = { grpc: await freePort(), http1: await freePort() };
  const configFile = join(directory, "nginx.conf");
  writeFileSync(configFile, nginxConfig(directory, replicas, ports));
  const errorLogFile = join(directory, "error.log");

  const child = spawn(NGINX_BINARY, ["-p", directory, "-c", configFile, "-e", errorLogFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const readLog = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");

  try {
    await waitForPorts([ports.grpc, ports.http1], exited);
  } catch (error) {
    child.kill("SIGKILL");
    const message = `nginx did not start: ${(error as Error).message}. stderr: ${stderr} error log: ${readLog(errorLogFile)}`;
    rmSync(directory, { recursive: true, force: true });
    throw new Error(message);
  }

  return {
    child,
    grpcAddress: `127.0.0.1:${ports.grpc}`,
    http1Url: `http://127.0.0.1:${ports.http1}`,
    directory,
    accessLog: () => readLog(join(directory, "access.log")).split("\n").filter((line) => line !== ""),
    errorLog: () => readLog(errorLogFile),
    setReplicas: async (next) => {
      const reloads = countReloads(readLog(errorLogFile));
      writeFileSync(configFile, nginxConfig(directory, next, ports));
      child.kill("SIGHUP");
      await waitForReload(() => readLog(errorLogFile), reloads);
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
      }
      const code = await exited;
      rmSync(directory, { recursive: true, force: true });
      return code;
    },
  };
}

/** Counts the reloads in nginx's error log: each SIGHUP is logged as "reconfiguring". */
function countReloads(errorLog: string): number {
  return errorLog.split("\n").filter((line) => line.includes("reconfiguring")).length;
}

/**
 * Resolves once the error log shows a reload after the first `before` ones and a worker started
 * after it. Rejects when nginx logged that it kept the old configuration, or time runs out.
 */
async function waitForReload(readErrorLog: () => string, before: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const lines = readErrorLog().split("\n");
    const reloads = lines.flatMap((line, index) => (line.includes("reconfiguring") ? [index] : []));
    const reload = reloads[before];
    if (reload !== undefined) {
      const after = lines.slice(reload + 1);
      if (after.some((line) => line.includes("[emerg]"))) {
        throw new Error(`nginx rejected the new configuration: ${after.join("\n")}`);
      }
      if (after.some((line) => line.includes("start worker process"))) {
        return;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`nginx did not reload within ${START_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Returns a port that was free a moment ago, though another process may take it before nginx does. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/** Resolves once every port accepts a connection. Rejects if the process exits first or time runs out. */
async function waitForPorts(ports: readonly number[], exited: Promise<number | null>): Promise<void> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (const port of ports) {
    while (!(await acceptsConnections(port))) {
      if (exitCode !== undefined) {
        throw new Error(`exited with ${exitCode}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`port ${port} not open within ${START_TIMEOUT_MS} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

