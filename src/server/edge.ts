import type http from "node:http";
import type { TLSSocket } from "node:tls";
import http2 from "node:http2";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import { PEER_CERTIFICATE, type PeerCertificate } from "../auth/caller-context.js";
import { encodeGrpcMessage } from "./grpc-message.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
type NodeHandler = (request: NodeRequest, response: NodeResponse) => void;

/** Per-call state shared between the HTTP edge and the call log interceptor. */
export interface CallState {
  /** Set by the call log interceptor once it has written the call's record. */
  logged: boolean;
}

/** Context key under which each call's CallState reaches the interceptors. */
export const CALL_STATE = createContextKey<CallState>({ logged: false }, { description: "call state" });

/** Settings of the HTTP edge. */
export interface EdgeOptions {
  readonly logger: Logger;
  /** Deadline, in milliseconds, given to unary calls under unaryPathPrefix that carry none. */
  readonly callBudgetMs: number;
  /** URL path prefix of the unary service, such as "/red5.token.v1.TokenService/". */
  readonly unaryPathPrefix: string;
  /** Paths of other unary methods, such as "/grpc.health.v1.Health/Check", whose body must arrive within the budget too. */
  readonly otherUnaryPaths?: readonly string[];
}

/** The wrapped handler and the contextValues function to give the request adapter. */
export interface Edge {
  wrap(handler: NodeHandler): NodeHandler;
  contextValues(request: NodeRequest): ContextValues;
}

/**
 * Creates the HTTP layer around the request adapter (node-adapter.ts). It does five things:
 * - gives deadline-less unary calls the server's budget, so that a stalled body cannot hold a stream;
 * - reports undecodable protobuf as INVALID_ARGUMENT;
 * - encodes grpc-message as the gRPC specification requires;
 * - resets a request stream that the finished response no longer needs;
 * - logs the calls that were rejected before any interceptor ran.
 */
export function createEdge(options: EdgeOptions): Edge {
  const states = new WeakMap<NodeRequest, CallState>();
  const otherUnaryPaths = new Set(options.otherUnaryPaths);

  return {
    contextValues: (request) => {
      const values = createContextValues();
      const state = states.get(request);
      if (state !== undefined) {
        values.set(CALL_STATE, state);
      }
      values.set(PEER_CERTIFICATE, peerCertificate(request));
      return values;
    },
    wrap: (handler) => (request, response) => {
      const state: CallState = { logged: false };
      states.set(request, state);
      const startedAt = performance.now();

      capDeadline(request);
      applyDefaultDeadline(request, options);
      const status = watchGrpcStatus(response);
      endUnreadRequestAfterResponse(request, response, status);
      const path = (request.url ?? "").split("?", 1)[0] ?? "";
      if (path.startsWith(options.unaryPathPrefix) || otherUnaryPaths.has(path)) {
        limitRequestTime(request, options.callBudgetMs);
      }
      response.once("close", () => {
        if (!state.logged) {
          logRejectedCall(options.logger, request, response, status.grpcStatus, startedAt);
        }
      });
      handler(request, response);
    },
  };
}

/** Maximum delay a Node.js timer supports, in milliseconds (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Milliseconds per unit of the grpc-timeout header. */
const GRPC_TIMEOUT_UNITS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * Caps a deadline that a Node.js timer cannot wait for at MAX_TIMER_MS. Left as sent, such a
 * deadline would make connect-node's timer fire at once, with a TimeoutOverflowWarning.
 */
function capDeadline(request: NodeRequest): void {
  const headers = request.headers;
  const grpcTimeout = headers["grpc-timeout"];
  if (typeof grpcTimeout === "string") {
    const match = /^(\d{1,8})([HMSmun])$/.exec(grpcTimeout);
    if (match && Number(match[1]) * (GRPC_TIMEOUT_UNITS[match[2] as string] ?? 0) > MAX_TIMER_MS) {
      // Whole seconds, because grpc-timeout allows at most 8 digits.
      headers["grpc-timeout"] = `${Math.floor(MAX_TIMER_MS / 1000)}S`;
    }
  }
  const connectTimeout = headers["connect-timeout-ms"];
  if (typeof connectTimeout === "string" && /^\d{1,10}$/.test(connectTimeout) && Number(connectTimeout) > MAX_TIMER_MS) {
    headers["connect-timeout-ms"] = String(MAX_TIMER_MS);
  }
}

/** Reads the client certificate of a TLS connection, if the client sent one. */
function peerCertificate(request: NodeRequest): PeerCertificate | undefined {
  const socket = request.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function") {
    return undefined;
  }
  const certificate = socket.getPeerCertificate();
  if (certificate === null || Object.keys(certificate).length === 0) {
    return undefined;
  }
  const subjectAltNames = (certificate.subjectaltname ?? "").split(", ").filter((name) => name !== "");
  return { authorized: socket.authorized === true, subjectAltNames };
}

function applyDefaultDeadline(request: NodeRequest, options: EdgeOptions): void {
  const headers = request.headers;
  if (!(request.url ?? "").startsWith(options.unaryPathPrefix)) {
    return;
  }
  // Each protocol reads only its own deadline header, so a gRPC call with connect-timeout-ms
  // still has no deadline, and the reverse.
  const grpc = (headers["content-type"] ?? "").startsWith("application/grpc");
  if (grpc && headers["grpc-timeout"] === undefined) {
    headers["grpc-timeout"] = `${options.callBudgetMs}m`;
  } else if (!grpc && headers["connect-timeout-ms"] === undefined) {
    headers["connect-timeout-ms"] = String(options.callBudgetMs);
  }
}

/** Time, in milliseconds, a finished response's stream gets to close before it is destroyed. */
const RESET_GRACE_MS = 1000;

/** Trailer state of one response. */
interface TrailerState {
  trailersAdded: boolean;
  grpcStatus: string | undefined;
}

/** connect-node 2.1 reports a binary message it cannot decode as INTERNAL "parse binary: ...". */
const PARSE_FAILURE_PREFIX = "parse binary: ";

/**
 * Rewrites the grpc-status and grpc-message trailers as they are written: minimal
 * percent-encoding, and INVALID_ARGUMENT for a request message that is not valid protobuf.
 * Returns the status code seen, for the log.
 */
function watchGrpcStatus(response: NodeResponse): TrailerState {
  const seen: TrailerState = { trailersAdded: false, grpcStatus: undefined };
  const addTrailers = response.addTrailers.bind(response) as (headers: http.OutgoingHttpHeaders) => void;

  response.addTrailers = (headers: http.OutgoingHttpHeaders) => {
    const rawMessage = headers["grpc-message"];
    if (typeof rawMessage === "string") {
      const message = safeDecode(rawMessage);
      if (headers["grpc-status"] === "13" && message.startsWith(PARSE_FAILURE_PREFIX)) {
        headers["grpc-status"] = "3";
        headers["grpc-message"] = encodeGrpcMessage(`invalid request: not a valid protobuf message (${message.slice(PARSE_FAILURE_PREFIX.length)})`);
      } else {
        headers["grpc-message"] = encodeGrpcMessage(message);
      }
    }
    seen.trailersAdded = true;
    seen.grpcStatus = typeof headers["grpc-status"] === "string" ? headers["grpc-status"] : undefined;
    addTrailers(headers);
  };
  return seen;
}

/**
 * Ends a request whose body the client is still sending after the response is complete, such as
 * one rejected as too large, so that the client stops waiting. HTTP/2 resets the stream with
 * NO_ERROR once the trailers are out, and HTTP/1.1 closes the connection.
 */
function endUnreadRequestAfterResponse(request: NodeRequest, response: NodeResponse, trailers: TrailerState): void {
  const unread = () => !request.complete && !request.readableEnded;
  if (!("stream" in response) || response.stream === undefined) {
    response.once("finish", () => {
      if (unread()) {
        request.socket.destroySoon();
      }
    });
    return;
  }

  const stream = response.stream;
  const close = () => {
    if (stream.closed || stream.destroyed) {
      return;
    }
    // Buffered, unread request data counts against the connection's memory limit
    // (maxSessionMemory) until it is consumed, so it is discarded here. Otherwise a few rejected
    // large requests make Node.js refuse every later stream on the connection.
    request.resume();
    // A client that has sent its whole body (half-closed on its side) needs no reset.
    const clientStillSending = stream.state.state !== http2.constants.NGHTTP2_STREAM_STATE_HALF_CLOSED_REMOTE;
    if (unread() && clientStillSending) {
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
      // On Node.js 20 this NO_ERROR reset did not go out when the request side had failed first
      // (connect-node rejecting a body it could not read), and the stream and its socket stayed
      // open. So the stream is destroyed after a grace that lets the trailers reach the client.
      setTimeout(() => {
        if (!stream.destroyed) {
          stream.destroy();
        }
      }, RESET_GRACE_MS).unref();
    }
  };
  // Node.js sends the trailers from its own "wantTrailers" listener, after the writable side
  // finishes. Closing before they are flushed would drop them and, with them, the gRPC status.
  const sendTrailers = stream.sendTrailers.bind(stream);
  stream.sendTrailers = (headers) => {
    sendTrailers(headers);
    setImmediate(close);
  };
  stream.once("finish", () => {
    if (!trailers.trailersAdded) {
      close();
    }
  });
}

/**
 * Cuts a unary request whose body has not arrived within the call budget. connect-node reads the
 * whole body before the deadline applies, so without this a stalled body would hold the stream.
 */
function limitRequestTime(request: NodeRequest, budgetMs: number): void {
  const timer = setTimeout(() => {
    if (request.complete) {
      return;
    }
    if ("stream" in request && request.stream !== undefined) {
      request.stream.close(http2.constants.NGHTTP2_CANCEL);
    } else {
      request.socket.destroy();
    }
  }, budgetMs);
  timer.unref();
  request.once("end", () => clearTimeout(timer));
  request.once("close", () => clearTimeout(timer));
}

function logRejectedCall(logger: Logger, request: NodeRequest, response: NodeResponse, grpcStatus: string | undefined, startedAt: number): void {
  const url = request.url ?? "";
  logger.info(
    {
      procedure: url.slice(1, 200),
      protocol: request.headers["content-type"] ?? "",
      httpStatus: response.statusCode,
      grpcStatus,
      latencyMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
    },
    "call rejected before reaching the service",
  );
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
