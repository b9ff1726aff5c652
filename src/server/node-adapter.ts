import type http from "node:http";
import http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createServiceImplSpec,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  type MethodImplSpec,
  type ServiceImpl,
} from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  encodeEnvelope,
  envelopeCompress,
  invokeUnaryImplementation,
  validateUniversalHandlerOptions,
  type Compression,
  type UniversalHandler,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import { contentTypeProto, parseContentType, parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { Logger } from "pino";
import { createCallContext, type CallContext } from "./call-context.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Options of createNodeAdapter: those of connect's router, plus what the adapter itself needs. */
export interface NodeAdapterOptions extends ConnectRouterOptions {
  routes(router: ConnectRouter): void;
  contextValues(request: NodeRequest): ContextValues;
  logger: Logger;
  /**
   * Serves unary gRPC calls on the direct path (see createNodeAdapter). Default: true. Off, every
   * call takes connect-node's own path, which the tests use to compare the two.
   */
  unaryGrpcPath?: boolean;
}

/** A unary method the direct path serves. */
interface UnaryTarget {
  /** URL path of the method, such as /red5.token.v1.TokenService/IssueChatToken. */
  readonly path: string;
  readonly spec: MethodImplSpec & { kind: "unary" };
  readonly handler: UniversalHandler;
  readonly serialization: ReturnType<typeof createMethodSerializationLookup>;
}

/**
 * The reason a call's context is aborted with once it is no longer in use (the call is complete,
 * or connect's handler took the call over), made once rather than per call.
 */
const CONTEXT_RELEASED = new ConnectError("the call's context is no longer in use", Code.Canceled);

/** Size of the gRPC message envelope's prefix: one flags byte and a 32-bit length. */
const PREFIX_BYTES = 5;

/**
 * Creates the Node.js request handler for connect's router, as connectNodeAdapter does, with one
 * addition: a unary gRPC call in the common shape (binary, one uncompressed request message)
 * skips connect's streaming pipeline. It runs connect's own steps for a unary gRPC call: the
 * content type, deadline and compression parsing, the handler context, the interceptors and the
 * implementation, serialization with the same limits, and the status trailers. It leaves out the
 * chain of async iterables connect-node builds around them, which costs several times the
 * call itself (BENCHMARKS.md, "Serving gRPC").
 *
 * Any other call, and any unary gRPC request whose body is not exactly one uncompressed message
 * within readMaxBytes, goes through connect's handler with the bytes read so far, so that every
 * error is connect's own.
 */
export function createNodeAdapter(options: NodeAdapterOptions): (request: NodeRequest, response: NodeResponse) => void {
  const routerOptions: ConnectRouterOptions = { ...options };
  routerOptions.acceptCompression ??= defaultCompression;
  const resolved = validateUniversalHandlerOptions(routerOptions);
  const router = createConnectRouter(routerOptions);
  const specs = new Map<string, MethodImplSpec>();
  options.routes(recordingRouter(router, specs));

  const handlers = new Map<string, UniversalHandler>();
  const unaryTargets = new Map<string, UnaryTarget>();
  for (const handler of router.handlers) {
    handlers.set(handler.requestPath, handler);
    const spec = specs.get(handler.requestPath);
    if (options.unaryGrpcPath !== false && spec?.kind === "unary" && handler.protocolNames.includes("grpc")) {
      const serialization = createMethodSerializationLookup(spec.method, resolved.binaryOptions, resolved.jsonOptions, resolved);
      unaryTargets.set(handler.requestPath, { path: handler.requestPath, spec, handler, serialization });
    }
  }

  /** Runs a call through connect's handler, reading the body from `body` or from the request. */
  const viaConnect = (handler: UniversalHandler, request: NodeRequest, response: NodeResponse, body?: AsyncIterable<Uint8Array>) => {
    const universal: UniversalServerRequest = universalRequestFromNodeRequest(request, response, undefined, options.contextValues(request));
    if (body !== undefined) {
      universal.body = body;
    }
    handler(universal)
      .then((result) => universalResponseToNodeResponse(result, response))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) {
          options.logger.error({ err: reason, procedure: `${handler.service.typeName}/${handler.method.name}` }, "call handler failed");
        }
      });
  };

  return (request, response) => {
    try {
      dispatch(request, response);
    } catch (error) {
      rejectRequest(request, response, error);
    }
  };

  /**
   * Responds to a request that failed before any handler ran, so that one malformed request cannot
   * end the process. An :authority or Host header that is no valid URL host gets 400, because both
   * paths build the call's URL from it. Anything else gets 500.
   */
  function rejectRequest(request: NodeRequest, response: NodeResponse, error: unknown): void {
    const invalidHost = (error as { code?: unknown }).code === "ERR_INVALID_URL";
    const authority = "authority" in request ? request.authority : request.headers.host;
    if (invalidHost) {
      options.logger.info({ procedure: (request.url ?? "").slice(1, 200), authority: String(authority).slice(0, 200) }, "request rejected: invalid :authority or Host header");
    } else {
      options.logger.error({ err: error, procedure: (request.url ?? "").slice(1, 200) }, "request failed before reaching a handler");
    }
    if (!response.headersSent) {
      response.writeHead(invalidHost ? 400 : 500);
    }
    response.end();
  }

  function dispatch(request: NodeRequest, response: NodeResponse): void {
    const path = (request.url ?? "").split("?", 2)[0] ?? "";
    const target = unaryTargets.get(path);
    if (target !== undefined && "stream" in request && request.stream !== undefined && request.method === "POST") {
      const call = acceptUnaryGrpc(request, resolved);
      if (call !== undefined) {
        serveUnary(target, call, request, response as http2.Http2ServerResponse);
        return;
      }
    }
    const handler = handlers.get(path);
    if (handler === undefined) {
      response.writeHead(404);
      response.end();
      return;
    }
    viaConnect(handler, request, response);
  }

  /**
   * Serves a unary gRPC call. As in connect's handler, the call's context, and with it the
   * deadline, starts when the headers arrive, and the context aborts if the stream closes before
   * the response is sent. A body that is not one message, or a message that does not parse, goes
   * to connect's handler with the bytes read, so that the error is its own.
   */
  function serveUnary(target: UnaryTarget, call: AcceptedCall, request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void {
    const { spec } = target;
    const context = createCallContext({
      service: spec.method.parent,
      method: spec.method,
      requestMethod: "POST",
      protocolName: "grpc",
      timeoutMs: call.timeoutMs,
      shutdownSignal: resolved.shutdownSignal,
      requestHeader: requestHeaders(request.headers),
      url: requestUrl(request, target.path),
      responseHeader: { "content-type": contentTypeProto },
      responseTrailer: { "grpc-status": "0" },
      contextValues: options.contextValues(request),
    });
    if (call.responseCompression !== null) {
      context.responseHeader.set("grpc-encoding", call.responseCompression.name);
    }
    // connect-node links a request signal that aborts when the stream closes. Aborting the
    // context directly has the same effect on context.signal, without another AbortController.
    request.once("close", () => {
      // Only the final write sends headers on this path, so unsent headers mean an unfinished call.
      if (!response.headersSent) {
        context.abort(resetError(request.stream.rstCode));
      }
    });
    readUnaryBody(request, resolved.readMaxBytes, (bytes, rest) => {
      let input: unknown;
      try {
        input = bytes === undefined ? undefined : target.serialization.getI(true).parse(bytes);
      } catch {
        input = undefined;
      }
      if (input === undefined) {
        context.abort(CONTEXT_RELEASED);
        viaConnect(target.handler, request, response, rest);
        return;
      }
      invoke(target, call, context, input, response);
    });
  }

  /** Runs the interceptors and the implementation, then writes the response or the error. */
  function invoke(target: UnaryTarget, call: AcceptedCall, context: CallContext, input: unknown, response: http2.Http2ServerResponse): void {
    const { spec } = target;
    invokeUnaryImplementation(spec, context, input as never, resolved.interceptors)
      .then(async (message) => {
        const data = target.serialization.getO(true).serialize(message);
        const envelope = await envelopeCompress({ flags: 0, data }, call.responseCompression, resolved.compressMinBytes);
        return encodeEnvelope(envelope.flags, envelope.data);
      })
      .then(
        (body) => {
          context.abort(CONTEXT_RELEASED);
          writeUnaryResponse(response, context.responseHeader, body, context.responseTrailer);
        },
        (error: unknown) => {
          context.abort(error);
          const failure = error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
          setTrailerStatus(context.responseTrailer, failure);
          writeUnaryResponse(response, context.responseHeader, undefined, context.responseTrailer);
        },
      )
      .catch((reason: unknown) => {
        options.logger.error({ err: reason, procedure: `${spec.method.parent.typeName}/${spec.method.name}` }, "call handler failed");
      });
  }
}

/** connect-node's default for acceptCompression. */
const defaultCompression: Compression[] = [compressionGzip, compressionBrotli];

/** Settings of an accepted unary gRPC call, read from its request headers. */
interface AcceptedCall {
  readonly timeoutMs: number | undefined;
  readonly responseCompression: Compression | null;
}

/**
 * Decides from the headers whether the direct path serves a unary gRPC call: a binary gRPC
 * content type, a valid deadline and an uncompressed request. Anything else goes to connect.
 */
function acceptUnaryGrpc(request: http2.Http2ServerRequest, resolved: ReturnType<typeof validateUniversalHandlerOptions>): AcceptedCall | undefined {
  const headers = request.headers;
  const type = parseContentType(headers["content-type"] ?? null);
  if (type === undefined || !type.binary) {
    return undefined;
  }
  const timeout = parseTimeout(headerValue(headers["grpc-timeout"]), resolved.maxTimeoutMs);
  if (timeout.error !== undefined) {
    return undefined;
  }
  const compression = compressionNegotiate(
    resolved.acceptCompression,
    headerValue(headers["grpc-encoding"]),
    headerValue(headers["grpc-accept-encoding"]),
    "grpc-accept-encoding",
  );
  if (compression.error !== undefined || compression.request !== null) {
    return undefined;
  }
  return { timeoutMs: timeout.timeoutMs, responseCompression: compression.response };
}

/**
 * Reads a unary gRPC request body and calls `done` once, unless the stream closes first. It
 * passes the message bytes when the body is exactly one uncompressed message of at most
 * readMaxBytes. Otherwise it passes undefined, as soon as that is certain. In both cases `rest`
 * yields the bytes read so far and then the rest of the body.
 */
function readUnaryBody(
  request: http2.Http2ServerRequest,
  readMaxBytes: number,
  done: (message: Uint8Array | undefined, rest: AsyncIterable<Uint8Array>) => void,
): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let declared = -1;
  let finished = false;

  const finish = (message: Uint8Array | undefined) => {
    finished = true;
    request.off("data", onData);
    request.off("end", onEnd);
    request.off("close", onClose);
    if (message === undefined && !request.readableEnded) {
      request.pause();
    }
    done(message, remainingBody(request, chunks));
  };
  const onData = (chunk: Buffer) => {
    if (finished) {
      return;
    }
    chunks.push(chunk);
    received += chunk.byteLength;
    if (declared < 0 && received >= PREFIX_BYTES) {
      const prefix = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      // Like connect, only the lowest bit of the flags byte means compression; the others are ignored.
      declared = ((prefix[0] ?? 0) & 1) === 0 ? prefix.readUInt32BE(1) : Number.POSITIVE_INFINITY;
    }
    // A larger message, a compressed one (declared is then infinite) or bytes beyond the first
    // message: connect's handler reports each of them.
    if (declared > readMaxBytes || (declared >= 0 && received > PREFIX_BYTES + declared)) {
      finish(undefined);
    }
  };
  const onClose = () => {
    finished = true;
    request.off("data", onData);
    request.off("end", onEnd);
  };
  const onEnd = () => {
    if (finished) {
      return;
    }
    // A reset with NO_ERROR ends the body as END_STREAM does, but the stream is closed already.
    if (request.stream.closed) {
      onClose();
      return;
    }
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    finish(declared >= 0 && received === PREFIX_BYTES + declared ? body.subarray(PREFIX_BYTES) : undefined);
  };
  request.on("data", onData);
  request.on("end", onEnd);
  // A stream closed before the end of its body, by a reset or by the edge's body timer, runs no
  // call, as connect's handler fails to read such a body. The edge logs it as rejected.
  request.once("close", onClose);
}

/** Yields the chunks already read, then whatever of the request body is still to come. */
async function* remainingBody(request: http2.Http2ServerRequest, chunks: readonly Buffer[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
  if (!request.readableEnded) {
    yield* request as AsyncIterable<Buffer>;
  }
}

/** The HTTP/2 reset codes connect-node maps to a call error: each one's name and gRPC code. */
const RESET_CODES = new Map<number, readonly [string, Code]>([
  [http2.constants.NGHTTP2_PROTOCOL_ERROR, ["PROTOCOL_ERROR", Code.Internal]],
  [http2.constants.NGHTTP2_INTERNAL_ERROR, ["INTERNAL_ERROR", Code.Internal]],
  [http2.constants.NGHTTP2_FLOW_CONTROL_ERROR, ["FLOW_CONTROL_ERROR", Code.Internal]],
  [http2.constants.NGHTTP2_SETTINGS_TIMEOUT, ["SETTINGS_TIMEOUT", Code.Internal]],
  [http2.constants.NGHTTP2_FRAME_SIZE_ERROR, ["FRAME_SIZE_ERROR", Code.Internal]],
  [http2.constants.NGHTTP2_REFUSED_STREAM, ["REFUSED_STREAM", Code.Unavailable]],
  [http2.constants.NGHTTP2_CANCEL, ["CANCEL", Code.Canceled]],
  [http2.constants.NGHTTP2_COMPRESSION_ERROR, ["COMPRESSION_ERROR", Code.Internal]],
  [http2.constants.NGHTTP2_CONNECT_ERROR, ["CONNECT_ERROR", Code.Internal]],
  [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, ["ENHANCE_YOUR_CALM", Code.ResourceExhausted]],
  [http2.constants.NGHTTP2_INADEQUATE_SECURITY, ["INADEQUATE_SECURITY", Code.PermissionDenied]],
  [http2.constants.NGHTTP2_HTTP_1_1_REQUIRED, ["HTTP_1_1_REQUIRED", Code.PermissionDenied]],
]);

/**
 * Maps an HTTP/2 reset code to a call error as connect-node does: undefined for the codes it
 * does not map, such as NO_ERROR and STREAM_CLOSED.
 */
function resetError(rstCode: number): ConnectError | undefined {
  const mapped = RESET_CODES.get(rstCode);
  if (mapped === undefined) {
    return undefined;
  }
  const [name, code] = mapped;
  return new ConnectError(`http/2 stream closed with error code ${name} (0x${rstCode.toString(16)})`, code);
}

/** Writes a unary gRPC response: headers, the message if any, then the status trailers. */
function writeUnaryResponse(response: http2.Http2ServerResponse, header: Headers, body: Uint8Array | undefined, trailer: Headers): void {
  if (response.destroyed || response.writableEnded) {
    return;
  }
  response.writeHead(200, nodeHeaders(header));
  if (body !== undefined) {
    response.write(body);
  }
  response.addTrailers(nodeHeaders(trailer));
  response.end();
}

/**
 * Copies request headers without HTTP/2 pseudo-headers, as connect-node does, into a record that
 * createCallContext turns into fetch Headers. Repeated values are joined as Headers joins them.
 */
function requestHeaders(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (name.startsWith(":") || value === undefined) {
      continue;
    }
    result[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return result;
}

/** Converts fetch Headers to a Node.js header object. Headers joins repeated values, except set-cookie, which becomes a list. */
function nodeHeaders(headers: Headers): http.OutgoingHttpHeaders {
  const result: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  headers.forEach((value, name) => {
    const existing = result[name];
    result[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  });
  return result;
}

/** Origins of call URLs by scheme and :authority, as URL spells them. */
const origins = new Map<string, string>();

/** Size at which origins is emptied, so that clients sending many authorities cannot grow it. */
const MAX_CACHED_ORIGINS = 256;

/**
 * Builds the call's URL as connect-node builds it: new URL(request.url, scheme://authority). A
 * request URL that is exactly a route path comes out of URL unchanged, so only the origin is
 * parsed, once per scheme and authority.
 */
function requestUrl(request: http2.Http2ServerRequest, routePath: string): string {
  const encrypted = "encrypted" in request.socket && request.socket.encrypted === true;
  const base = `${encrypted ? "https" : "http"}://${request.authority}`;
  if (request.url !== routePath) {
    return new URL(request.url, base).toString();
  }
  let origin = origins.get(base);
  if (origin === undefined) {
    if (origins.size >= MAX_CACHED_ORIGINS) {
      origins.clear();
    }
    // An authority that is no valid host throws here, uncached, as it does in connect-node.
    origin = new URL("/", base).href.slice(0, -1);
    origins.set(base, origin);
  }
  return origin + routePath;
}

/** Returns a request header's value, with repeated values joined, or null when it is absent. */
function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) {
    return null;
  }
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * A router that records the implementation of each method it registers, by URL path, so that
 * the direct path can call the same implementation connect's handler calls.
 */
function recordingRouter(router: ConnectRouter, specs: Map<string, MethodImplSpec>): ConnectRouter {
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service: DescService, implementation: Partial<ServiceImpl<DescService>>, serviceOptions?: object) {
      router.service(service, implementation, serviceOptions);
      if (serviceOptions === undefined) {
        for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
          specs.set(`/${service.typeName}/${spec.method.name}`, spec);
        }
      }
      return recording;
    },
    rpc(method, implementation, rpcOptions) {
      router.rpc(method, implementation, rpcOptions);
      return recording;
    },
  } as ConnectRouter;
  return recording;
}
