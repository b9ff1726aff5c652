/**
 * Serves TokenService and grpc.health.v1.Health/Check with the service's own TokenService
 * handlers in several ways, so that bench/profile/drive.ts can measure what each layer costs.
 * VARIANT picks one:
 *
 * - "adapter" (default): connectNodeAdapter with default options on a cleartext HTTP/2 server,
 *   no interceptors, no edge: connect-node's own cost, with gRPC, gRPC-Web and Connect enabled.
 * - "adapter-lean": the same with gRPC only (connect and grpcWeb off) and no compression.
 * - "fast-path-compat": a hand-written unary gRPC handler in front of connect-node, in the
 *   Node.js compatibility API (request and response objects) that connect-node also uses.
 * - "fast-path-stream": the same hand-written handler on the HTTP/2 "stream" event, without the
 *   compatibility objects; it serves only unary gRPC.
 *
 * The fast paths are measurements, not candidates to ship: they handle only the success path,
 * identity encoding and one message per request, and skip every check connect-node makes.
 */
import http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { TokenService } from "../../gen/ts/red5/token/v1/token_service_pb.js";
import { toConnectError } from "../../src/service/errors.js";
import { CallCounts, createHandlers, exitOnSignal, readSettings, startAdmin } from "./common.js";

type UnaryHandler = (request: object, context: HandlerContext) => Promise<object> | object;

const variant = process.env.VARIANT ?? "adapter";
const counts = new CallCounts();
const settings = readSettings();
const handlers = await createHandlers();
const healthCheck = () => ({ status: HealthCheckResponse_ServingStatus.SERVING });

/** Counts each call by its code; the only interceptor of the adapter variants. */
const countCalls: Interceptor = (next) => async (request) => {
  try {
    const response = await next(request);
    counts.add("OK");
    return response;
  } catch (error) {
    counts.add(Code[ConnectError.from(error).code]);
    throw error;
  }
};

const adapter = connectNodeAdapter({
  routes: (router: ConnectRouter) => {
    router.service(TokenService, handlers);
    router.service(Health, { check: healthCheck, watch: async function* () {} });
  },
  interceptors: [countCalls],
  ...(variant === "adapter-lean" ? { connect: false, grpcWeb: false, acceptCompression: [] } : {}),
});

/** Unary methods the fast paths serve, by URL path. */
const unaryMethods = new Map<string, { method: DescMethod; handler: UnaryHandler }>([
  [`/${TokenService.typeName}/IssueConferenceToken`, { method: TokenService.method.issueConferenceToken, handler: handlers.issueConferenceToken as UnaryHandler }],
  [`/${TokenService.typeName}/IssueChatToken`, { method: TokenService.method.issueChatToken, handler: handlers.issueChatToken as UnaryHandler }],
  [`/${Health.typeName}/Check`, { method: Health.method.check, handler: healthCheck }],
]);

const server =
  variant === "fast-path-stream"
    ? http2.createServer({ settings: { maxConcurrentStreams: 256 } }).on("stream", serveStream)
    : http2.createServer({ settings: { maxConcurrentStreams: 256 } }, variant === "fast-path-compat" ? serveCompat : adapter);
server.listen(settings.port, "127.0.0.1");
startAdmin(settings.adminPort, counts);
exitOnSignal();

/** Serves unary gRPC by hand in the compatibility API and hands everything else to connect-node. */
function serveCompat(request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void {
  const target = unaryMethods.get(request.url);
  if (target === undefined || request.headers["content-type"] !== "application/grpc") {
    adapter(request, response);
    return;
  }
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    void invoke(target, Buffer.concat(chunks)).then(({ body, trailers }) => {
      response.writeHead(200, { "content-type": "application/grpc" });
      response.addTrailers(trailers);
      response.end(body);
    });
  });
}

/** Serves unary gRPC by hand on a raw HTTP/2 stream. */
function serveStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const target = unaryMethods.get(headers[":path"] ?? "");
  if (target === undefined || headers["content-type"] !== "application/grpc") {
    stream.respond({ ":status": 404 }, { endStream: true });
    return;
  }
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => {
    void invoke(target, Buffer.concat(chunks)).then(({ body, trailers }) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end(body);
    });
  });
}

/** Decodes one enveloped message, calls the handler, and encodes the response or the status. */
async function invoke(target: { method: DescMethod; handler: UnaryHandler }, frame: Buffer): Promise<{ body: Buffer; trailers: Record<string, string> }> {
  const context = {
    method: target.method,
    service: target.method.parent,
    signal: new AbortController().signal,
    timeoutMs: () => undefined,
    values: createContextValues(),
  } as unknown as HandlerContext;
  try {
    const request = fromBinary(target.method.input, frame.subarray(5, 5 + frame.readUInt32BE(1)));
    const response = await target.handler(request, context);
    const message = toBinary(target.method.output as DescMessage, create(target.method.output as DescMessage, response as MessageInitShape<DescMessage>));
    const body = Buffer.alloc(5 + message.length);
    body.writeUInt32BE(message.length, 1);
    body.set(message, 5);
    counts.add("OK");
    return { body, trailers: { "grpc-status": "0" } };
  } catch (error) {
    const failure = toConnectError(error);
    counts.add(Code[failure.code]);
    return { body: Buffer.alloc(0), trailers: { "grpc-status": String(failure.code), "grpc-message": encodeURIComponent(failure.rawMessage) } };
  }
}
