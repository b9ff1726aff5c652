import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { BadRequestSchema, type BadRequest } from "../../gen/ts/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/ts/google/rpc/status_pb.js";
import {
  TokenService,
  type IssueChatTokenRequestSchema,
  type IssueChatTokenResponseSchema,
  type IssueConferenceTokenRequestSchema,
  type IssueConferenceTokenResponseSchema,
} from "../../gen/ts/red5/token/v1/token_service_pb.js";

/** A grpc-js unary call that resolves with the response or rejects with the ServiceError. */
export type UnaryCall<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  options?: { deadlineMs?: number; metadata?: grpc.Metadata },
) => Promise<MessageShape<O>>;

/**
 * Builds a grpc-js client for a protobuf-es service: a real second gRPC implementation, with
 * protobuf-es doing only the message encoding. Channel options go to grpc-js unchanged.
 */
export function createGrpcJsClient(service: DescService, address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}) {
  const definition: Record<string, grpc.MethodDefinition<MessageShape<DescMessage>, MessageShape<DescMessage>>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (message: MessageShape<DescMessage>) => Buffer.from(toBinary(method.input, message)),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: (message: MessageShape<DescMessage>) => Buffer.from(toBinary(method.output, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
  }
  const Client = grpc.makeGenericClientConstructor(definition, service.name);
  return new Client(address, credentials, options) as grpc.Client & Record<string, Function>;
}

/** Wraps one unary method of a grpc-js client in a promise. */
export function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client & Record<string, Function>,
  method: string,
): UnaryCall<I, O> {
  return (request, options = {}) =>
    new Promise((resolve, reject) => {
      const callOptions: grpc.CallOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
      const fn = client[method] as Function;
      fn.call(client, request, options.metadata ?? new grpc.Metadata(), callOptions, (error: grpc.ServiceError | null, response: MessageShape<O>) =>
        error ? reject(error) : resolve(response),
      );
    });
}

/**
 * Channel option that gives a client its own connections. By default grpc-js channels to the same
 * address share one subchannel, and so one connection and its failure state.
 */
export const OWN_CONNECTION: grpc.ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

/** Decodes the google.rpc.BadRequest detail from a grpc-js error's grpc-status-details-bin trailer. */
export function badRequestOf(error: grpc.ServiceError): BadRequest | undefined {
  const [bytes] = error.metadata.get("grpc-status-details-bin");
  if (!(bytes instanceof Buffer)) {
    return undefined;
  }
  const status = fromBinary(StatusSchema, bytes);
  for (const detail of status.details) {
    const badRequest = anyUnpack(detail, BadRequestSchema);
    if (badRequest) {
      return badRequest;
    }
  }
  return undefined;
}

/** Typed grpc-js calls of TokenService. */
export interface TokenServiceGrpcJs {
  readonly client: grpc.Client;
  readonly issueConferenceToken: UnaryCall<typeof IssueConferenceTokenRequestSchema, typeof IssueConferenceTokenResponseSchema>;
  readonly issueChatToken: UnaryCall<typeof IssueChatTokenRequestSchema, typeof IssueChatTokenResponseSchema>;
}

/** Creates a grpc-js TokenService client for host:port. */
export function createTokenServiceGrpcJs(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): TokenServiceGrpcJs {
  const client = createGrpcJsClient(TokenService, address, credentials, options);
  return {
    client,
    issueConferenceToken: unary(client, "issueConferenceToken"),
    issueChatToken: unary(client, "issueChatToken"),
  };
}
