/**
 * The RPCs the benchmark calls: their request bodies for h2load, and one sample call of each
 * with a real client, which checks the gRPC status that h2load cannot see.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { credentials, Client, type ServiceError } from "@grpc/grpc-js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../gen/ts/grpc/health/v1/health_pb.js";
import {
  IssueChatTokenRequestSchema,
  IssueChatTokenResponseSchema,
  IssueConferenceTokenRequestSchema,
  IssueConferenceTokenResponseSchema,
  Role,
  TokenService,
} from "../../gen/ts/red5/token/v1/token_service_pb.js";

/** Wire protocol of a call: gRPC (enveloped protobuf, status in trailers) or Connect unary (bare protobuf). */
export type Protocol = "grpc" | "connect";

/** The RPCs under load: the health check as the no-op ceiling, and the two token RPCs. */
export type RpcName = "health" | "chat" | "conference";

/** User id, room and channel of every benchmark request. */
export const BENCH_USER_ID = "bench-user-1";
export const BENCH_ROOM_ID = "bench-room-1";

/** Token lifetime of every benchmark request, in minutes. */
export const BENCH_TOKEN_MINUTES = 60;

interface RpcDefinition<Request extends DescMessage, Response extends DescMessage> {
  readonly service: DescService;
  readonly method: string;
  readonly requestSchema: Request;
  readonly responseSchema: Response;
  readonly request: MessageShape<Request>;
  /** Returns a problem with a successful response, or undefined when it is what the benchmark expects. */
  readonly checkResponse: (response: MessageShape<Response>) => string | undefined;
}

function defineRpc<Request extends DescMessage, Response extends DescMessage>(definition: RpcDefinition<Request, Response>): RpcDefinition<DescMessage, DescMessage> {
  return definition as unknown as RpcDefinition<DescMessage, DescMessage>;
}

const RPCS: Readonly<Record<RpcName, RpcDefinition<DescMessage, DescMessage>>> = {
  health: defineRpc({
    service: Health,
    method: "Check",
    requestSchema: HealthCheckRequestSchema,
    responseSchema: HealthCheckResponseSchema,
    request: create(HealthCheckRequestSchema, { service: TokenService.typeName }),
    checkResponse: (response) =>
      response.status === HealthCheckResponse_ServingStatus.SERVING ? undefined : `status ${HealthCheckResponse_ServingStatus[response.status]}`,
  }),
  chat: defineRpc({
    service: TokenService,
    method: "IssueChatToken",
    requestSchema: IssueChatTokenRequestSchema,
    responseSchema: IssueChatTokenResponseSchema,
    request: create(IssueChatTokenRequestSchema, {
      userId: BENCH_USER_ID,
      channelId: BENCH_ROOM_ID,
      read: true,
      write: true,
      ttlMinutes: BENCH_TOKEN_MINUTES,
    }),
    checkResponse: (response) => (response.token.length > 0 && response.grants.length === 2 ? undefined : "no token or grants"),
  }),
  conference: defineRpc({
    service: TokenService,
    method: "IssueConferenceToken",
    requestSchema: IssueConferenceTokenRequestSchema,
    responseSchema: IssueConferenceTokenResponseSchema,
    request: create(IssueConferenceTokenRequestSchema, {
      userId: BENCH_USER_ID,
      roomId: BENCH_ROOM_ID,
      role: Role.PUBLISHER,
      expirationMinutes: BENCH_TOKEN_MINUTES,
    }),
    checkResponse: (response) => (response.token.split(".").length === 3 ? undefined : "the token is not a compact JWS"),
  }),
};

/** Fully qualified procedure, as the service's metrics label it: "red5.token.v1.TokenService/IssueChatToken". */
export function procedureOf(rpc: RpcName): string {
  return `${RPCS[rpc].service.typeName}/${RPCS[rpc].method}`;
}

/** Request headers h2load sends for a protocol, each as "name: value". */
export function headersOf(protocol: Protocol): string[] {
  return protocol === "grpc"
    ? ["content-type: application/grpc", "te: trailers"]
    : ["content-type: application/proto", "connect-protocol-version: 1"];
}

/**
 * Writes the request body of an RPC to a file in the directory and returns its path. A gRPC body
 * is one uncompressed message in the gRPC envelope: a zero flag byte and the length as a
 * big-endian 32-bit integer, then the protobuf bytes. A Connect unary body is the bare message.
 */
export function writeRequestBody(directory: string, rpc: RpcName, protocol: Protocol): string {
  const definition = RPCS[rpc];
  const message = toBinary(definition.requestSchema, definition.request);
  let body: Uint8Array = message;
  if (protocol === "grpc") {
    const envelope = Buffer.alloc(5);
    envelope.writeUInt32BE(message.length, 1);
    body = Buffer.concat([envelope, message]);
  }
  const path = join(directory, `${rpc}-${protocol}.bin`);
  writeFileSync(path, body);
  return path;
}

/**
 * Calls the RPC once with a real client, @grpc/grpc-js for gRPC or connect-node's Connect
 * transport over HTTP/2, and throws unless the call succeeded with the expected response.
 */
export async function callOnce(baseUrl: string, rpc: RpcName, protocol: Protocol): Promise<void> {
  const definition = RPCS[rpc];
  const response = protocol === "grpc" ? await callWithGrpcJs(baseUrl, definition) : await callWithConnect(baseUrl, definition);
  const problem = definition.checkResponse(response);
  if (problem !== undefined) {
    throw new Error(`sample ${procedureOf(rpc)} call over ${protocol} returned an unexpected response: ${problem}`);
  }
}

async function callWithGrpcJs(baseUrl: string, definition: RpcDefinition<DescMessage, DescMessage>): Promise<MessageShape<DescMessage>> {
  const client = new Client(new URL(baseUrl).host, credentials.createInsecure());
  const path = `/${definition.service.typeName}/${definition.method}`;
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        (message: Uint8Array) => Buffer.from(message),
        (data: Buffer) => data,
        toBinary(definition.requestSchema, definition.request),
        { deadline: Date.now() + 10_000 },
        (error: ServiceError | null, value?: Buffer) => {
          if (error !== null) {
            reject(new Error(`sample ${path} call over gRPC failed with status ${error.code}: ${error.details}`));
          } else {
            resolve(value ?? Buffer.alloc(0));
          }
        },
      );
    });
    return fromBinary(definition.responseSchema, bytes);
  } finally {
    client.close();
  }
}

async function callWithConnect(baseUrl: string, definition: RpcDefinition<DescMessage, DescMessage>): Promise<MessageShape<DescMessage>> {
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createConnectTransport({ baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: true });
  const methodDesc = definition.service.methods.find((method) => method.name === definition.method);
  if (methodDesc === undefined || methodDesc.methodKind !== "unary") {
    throw new Error(`${definition.service.typeName} has no unary method ${definition.method}`);
  }
  try {
    const result = await transport.unary(methodDesc as DescMethodUnary, undefined, 10_000, undefined, definition.request);
    return result.message;
  } finally {
    sessionManager.abort();
  }
}
