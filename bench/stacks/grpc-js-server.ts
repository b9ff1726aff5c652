/**
 * Serves TokenService and grpc.health.v1.Health/Check over gRPC with @grpc/grpc-js, using the
 * service's own TokenService handlers (src/service/token-service.ts), for comparison with
 * connect-node. It speaks only gRPC over cleartext HTTP/2, and runs none of the service's
 * interceptors (metrics, call log, audit, authentication); each call increments a counter.
 *
 * For measurement only: it maps errors to a gRPC status and message, with the google.rpc.Status
 * detail, but it does not reproduce every behaviour of src/server (deadline defaults, reflection,
 * Watch, request size limits, logs). See "Serving gRPC" in BENCHMARKS.md.
 */
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { StatusSchema } from "../../gen/ts/google/rpc/status_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { TokenService } from "../../gen/ts/red5/token/v1/token_service_pb.js";
import { toConnectError } from "../../src/service/errors.js";
import { CallCounts, createHandlers, exitOnSignal, readSettings, startAdmin } from "./common.js";

type UnaryHandler = (request: object, context: HandlerContext) => Promise<object> | object;

const counts = new CallCounts();
const settings = readSettings();
const handlers = await createHandlers();
const server = new grpc.Server({ "grpc.max_concurrent_streams": 256 });

server.addService(definition(TokenService.methods), {
  IssueConferenceToken: unary(TokenService.methods[0] as DescMethod, handlers.issueConferenceToken as UnaryHandler),
  IssueChatToken: unary(TokenService.methods[1] as DescMethod, handlers.issueChatToken as UnaryHandler),
});
const check = Health.methods.find((method) => method.name === "Check") as DescMethod;
server.addService(definition([check]), {
  Check: unary(check, () => ({ status: HealthCheckResponse_ServingStatus.SERVING })),
});

await new Promise<void>((resolve, reject) =>
  server.bindAsync(`127.0.0.1:${settings.port}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
);
startAdmin(settings.adminPort, counts);
exitOnSignal();

/** Builds a grpc-js service definition whose messages protobuf-es encodes. */
function definition(methods: readonly DescMethod[]): grpc.ServiceDefinition {
  const result: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of methods) {
    result[method.name] = {
      path: `/${method.parent.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (message: object) => Buffer.from(toBinary(method.input, message as MessageShape<DescMessage>)),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: (message: object) => Buffer.from(toBinary(method.output, create(method.output, message as MessageInitShape<DescMessage>))),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
  }
  return result;
}

/** Adapts a connect-style unary handler to grpc-js, with a minimal HandlerContext. */
function unary(method: DescMethod, handler: UnaryHandler): grpc.handleUnaryCall<object, object> {
  return (call, callback) => {
    const cancel = new AbortController();
    call.once("cancelled", () => cancel.abort(new ConnectError("the call was cancelled", Code.Canceled)));
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const context = {
      method,
      service: method.parent,
      signal: cancel.signal,
      timeoutMs: () => (Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : undefined),
      values: createContextValues(),
    } as unknown as HandlerContext;

    Promise.resolve()
      .then(() => handler(call.request, context))
      .then(
        (response) => {
          counts.add("OK");
          callback(null, response);
        },
        (error: unknown) => {
          const failure = toConnectError(error);
          counts.add(Code[failure.code]);
          callback(toServiceError(failure));
        },
      );
  };
}

function toServiceError(error: ConnectError): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  const status = create(StatusSchema, {
    code: error.code,
    message: error.rawMessage,
    details: error.details.map((detail) => ("desc" in detail ? anyPack(detail.desc, create(detail.desc, detail.value)) : { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value })),
  });
  metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  return { code: error.code as number as grpc.status, details: error.rawMessage, metadata };
}
