import http from "node:http";
import type { AddressInfo } from "node:net";
import { ServingStatus, type HealthStatus } from "./health.js";

/** Anything that renders metrics in a Prometheus exposition format, as prom-client registries do. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Settings of the admin HTTP server. */
export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Source of the Prometheus text: a prom-client Registry, or the sum over cluster workers. */
  readonly registry: MetricsSource;
  readonly health: HealthStatus;
}

/** A running admin server. */
export interface AdminServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the admin server, plain HTTP/1.1 for load balancers and Prometheus that cannot speak
 * gRPC: GET /metrics (Prometheus text format), GET /livez (200 while the process runs) and
 * GET /readyz (200 while the server as a whole is SERVING, 503 once it shuts down).
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = http.createServer((request, response) => {
    void answer(options, request.method ?? "", request.url ?? "", response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });

  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(options: AdminServerOptions, method: string, url: string, response: http.ServerResponse): Promise<void> {
  const path = url.split("?")[0];
  if (method !== "GET" && method !== "HEAD") {
    return send(response, 405, "text/plain", "method not allowed\n");
  }
  if (path === "/metrics") {
    let text: string;
    try {
      text = await options.registry.metrics();
    } catch {
      // The sum over cluster workers fails when a worker does not reply in time.
      return send(response, 503, "text/plain", "metrics unavailable, try again\n");
    }
    return send(response, 200, options.registry.contentType, text);
  }
  if (path === "/livez") {
    return send(response, 200, "text/plain", "ok\n");
  }
  if (path === "/readyz") {
    const ready = options.health.get("") === ServingStatus.SERVING;
    return send(response, ready ? 200 : 503, "text/plain", ready ? "ready\n" : "not ready\n");
  }
  return send(response, 404, "text/plain", "not found\n");
}

function send(response: http.ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { "content-type": contentType });
  response.end(body);
}
