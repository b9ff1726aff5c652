import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { serveAccessManager, type AccessManagerOutcome, type AccessManagerRequest } from "./endpoints.js";
import { faultProblem, faultResponse, type Fault } from "./faults.js";
import { matchRoute, MAX_BODY_BYTES, readBody, splitTarget } from "./request.js";
import { notFound, PAM_CONTENT_TYPE, pamError, serviceError, type PamResponse } from "./responses.js";

export { decodeToken, InvalidTokenError, mintToken, PERMISSION_BITS, verifyTokenSignature } from "./token.js";
export type { DecodedToken, TokenGrant, TokenResources } from "./token.js";
export type { Fault } from "./faults.js";

/** Settings of a PubNub Access Manager emulator. */
export interface PubNubEmulatorOptions {
  subscribeKey: string;
  publishKey: string;
  secretKey: string;
  /** Address to listen on, 127.0.0.1 by default. */
  host?: string;
  /** TCP port, 0 (any free port) by default. */
  port?: number;
  /** Emulator clock in Unix milliseconds, Date.now by default. A constant function freezes time. */
  now?: () => number;
  /** Maximum skew in seconds between the request timestamp and the emulator clock, 60 by default. */
  timestampWindowSeconds?: number;
  /** Number of received requests kept for `recentRequests()`, 100 by default. */
  historySize?: number;
  /**
   * Delay in milliseconds added before every response, 0 by default, so that a benchmark can
   * stand in for PubNub's network round trip. It can be changed later through `latencyMs`.
   */
  latencyMs?: number;
}

/** A request as the emulator received it, for assertions in tests. */
export interface ReceivedRequest {
  method: string;
  /** Raw path, still percent-encoded, without the query. */
  path: string;
  /** Query parameters decoded with URLSearchParams. */
  query: Record<string, string>;
  body: string;
}

/**
 * Request counts since the emulator started. `internalErrors` counts failures of the emulator
 * itself, which it reports as a 500 or a closed connection.
 */
export interface EmulatorCounters {
  requestsReceived: number;
  grantsIssued: number;
  revokesAccepted: number;
  signaturesRejected: number;
  faultsApplied: number;
  internalErrors: number;
}

const DEFAULT_TIMESTAMP_WINDOW_SECONDS = 60;
const DEFAULT_HISTORY_SIZE = 100;

/**
 * A local HTTP server that serves PubNub Access Manager v3 grant and revoke requests the way
 * PubNub's servers do: same paths, signature v2 checks, limits, response shapes and token layout.
 * Create it with `startPubNubEmulator`.
 */
export class PubNubEmulator {
  /** Base URL, such as http://127.0.0.1:41234. */
  readonly origin: string;
  /** Delay in milliseconds added before every response. It starts at the latencyMs option and may change at any time. */
  latencyMs: number;

  private readonly faults: Fault[] = [];
  private readonly history: ReceivedRequest[] = [];
  private readonly revoked = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly counts: EmulatorCounters = {
    requestsReceived: 0,
    grantsIssued: 0,
    revokesAccepted: 0,
    signaturesRejected: 0,
    faultsApplied: 0,
    internalErrors: 0,
  };
  private closed = false;

  /** Use `startPubNubEmulator`, which also starts listening. */
  constructor(
    private readonly server: Server,
    private readonly options: Required<PubNubEmulatorOptions>,
  ) {
    this.latencyMs = options.latencyMs;
    const address = server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.origin = `http://${host}:${address.port}`;
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      // handle() responds to every expected failure itself, so a rejection here is a bug in the
      // emulator. Closing the connection shows it to the client as a network error.
      this.handle(request, response).catch(() => {
        this.counts.internalErrors += 1;
        response.destroy();
      });
    });
  }

  /** Host and port without the scheme, as the PubNub SDK's `origin` setting expects them. */
  get hostPort(): string {
    return this.origin.slice("http://".length);
  }

  /**
   * Queues faults for the next grant requests, one fault per request in order. Revoke requests
   * and unknown paths never consume a fault.
   *
   * @throws RangeError if a fault has an invalid status or delay.
   */
  injectFaults(...faults: Fault[]): void {
    for (const fault of faults) {
      const problem = faultProblem(fault);
      if (problem !== undefined) {
        throw new RangeError(problem);
      }
    }
    this.faults.push(...faults);
  }

  /** Drops every queued fault that no request has consumed yet. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Number of queued faults that no request has consumed yet. */
  get pendingFaults(): number {
    return this.faults.length;
  }

  /** Returns a snapshot of the counters. */
  counters(): EmulatorCounters {
    return { ...this.counts };
  }

  /** Returns the last received requests, oldest first, up to the configured history size. */
  recentRequests(): ReceivedRequest[] {
    return this.history.map((request) => ({ ...request, query: { ...request.query } }));
  }

  /** Reports whether a revoke request for this exact token string has succeeded. */
  isRevoked(token: string): boolean {
    return this.revoked.has(token);
  }

  /** Stops listening and destroys every open connection, including hanging and idle ones. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await stopped;
  }

  // Delays that close() can cancel. A cancelled delay never resolves, so its request gets no response.
  private sleep(ms: number): Promise<void> {
    if (ms <= 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private record(request: ReceivedRequest): void {
    this.history.push(request);
    if (this.history.length > this.options.historySize) {
      this.history.shift();
    }
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const receivedAtMs = this.options.now();
    const method = request.method ?? "";
    const { path, query } = splitTarget(request.url ?? "/");

    let body: string | undefined;
    try {
      body = await readBody(request);
    } catch {
      // The client aborted while sending the body, so there is no one to respond to.
      return;
    }
    this.counts.requestsReceived += 1;
    this.record({ method, path, query, body: body ?? "" });

    if (body === undefined) {
      const detail = `The body exceeds ${MAX_BODY_BYTES} bytes. Send a smaller grant.`;
      const tooLarge = pamError(413, "Request body too large", "emulator", [
        { message: detail, location: "body", locationType: "body" },
      ]);
      this.send(response, tooLarge);
      return;
    }

    const route = matchRoute(method, path);
    const fault = route?.kind === "grant" ? this.faults.shift() : undefined;
    if (fault !== undefined) {
      this.counts.faultsApplied += 1;
      const handled = await this.applyFault(fault, request, response);
      if (handled) {
        return;
      }
    }

    const answer = route === undefined ? notFound(method, path) : this.serve({ route, path, query, body, receivedAtMs });
    await this.sleep(this.latencyMs);
    this.send(response, answer);
  }

  /** Applies a fault and returns true when it replaced the normal response. */
  private async applyFault(fault: Fault, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
    switch (fault.kind) {
      case "hang":
        return true;
      case "drop":
        request.socket.destroy();
        return true;
      case "delay":
        await this.sleep(fault.ms);
        return false;
      case "status":
      case "errorInBody":
        await this.sleep(this.latencyMs);
        this.send(response, faultResponse(fault));
        return true;
    }
  }

  /** Serves a known endpoint and updates the counters from the outcome. */
  private serve(request: AccessManagerRequest): PamResponse {
    let outcome: AccessManagerOutcome;
    try {
      outcome = serveAccessManager(request, this.options);
    } catch (error) {
      this.counts.internalErrors += 1;
      return serviceError(500, `Emulator failure: ${(error as Error).message}`);
    }
    if (outcome.result === "granted") {
      this.counts.grantsIssued += 1;
    } else if (outcome.result === "revoked") {
      this.counts.revokesAccepted += 1;
      this.revoked.add(outcome.token ?? "");
    } else if (outcome.result === "badSignature") {
      this.counts.signaturesRejected += 1;
    }
    return outcome.response;
  }

  private send(response: ServerResponse, answer: PamResponse): void {
    if (this.closed || response.destroyed) {
      return;
    }
    response.writeHead(answer.status, {
      "Content-Type": PAM_CONTENT_TYPE,
      "Content-Length": Buffer.byteLength(answer.body),
    });
    response.end(answer.body);
  }
}

/**
 * Starts a PubNub Access Manager emulator on loopback (127.0.0.1 and a free port by default) and
 * resolves once it is listening. HTTP/1.1 keep-alive stays on, as Node's server enables it.
 *
 * @throws RangeError if latencyMs is negative or not finite.
 */
export async function startPubNubEmulator(options: PubNubEmulatorOptions): Promise<PubNubEmulator> {
  const latencyMs = options.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new RangeError(`latencyMs must be a finite number of milliseconds, 0 or more; got ${latencyMs}.`);
  }
  const settings: Required<PubNubEmulatorOptions> = {
    subscribeKey: options.subscribeKey,
    publishKey: options.publishKey,
    secretKey: options.secretKey,
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    now: options.now ?? Date.now,
    timestampWindowSeconds: options.timestampWindowSeconds ?? DEFAULT_TIMESTAMP_WINDOW_SECONDS,
    historySize: options.historySize ?? DEFAULT_HISTORY_SIZE,
    latencyMs,
  };
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(settings.port, settings.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return new PubNubEmulator(server, settings);
}
