import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

import {
  create,
  fromBinary,
  getExtension,
  hasExtension,
  toBinary,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { field as fieldRules } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Health } from "../gen/ts/grpc/health/v1/health_pb.js";
import * as v1 from "../gen/ts/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";
import { TokenService } from "../gen/ts/red5/token/v1/token_service_pb.js";
import { HealthStatus, registerHealth } from "../src/server/health.js";
import { registerReflection } from "../src/server/reflection.js";
import { startServer, stopServer, type RunningServer } from "./support/connect-server.js";

const BUF = fileURLToPath(new URL("../node_modules/.bin/buf", import.meta.url));

/** Maximum wait for one reflection response before a test fails. */
const WAIT_MS = 2000;

/** Maximum run time of one buf curl process, generous because the Go binary starts cold on a fresh machine. */
const BUF_TIMEOUT_MS = 20_000;

const TOKEN_SERVICE_FILE = "red5/token/v1/token_service.proto";

/** Transitive imports of token_service.proto: buf/validate/validate.proto and its own imports. */
const TOKEN_SERVICE_IMPORTS = [
  "buf/validate/validate.proto",
  "google/protobuf/descriptor.proto",
  "google/protobuf/duration.proto",
  "google/protobuf/field_mask.proto",
  "google/protobuf/timestamp.proto",
];

const SERVICE_NAMES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "red5.token.v1.TokenService",
];

const METHOD_NAMES = [
  "grpc.health.v1.Health/Check",
  "grpc.health.v1.Health/Watch",
  "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  "red5.token.v1.TokenService/IssueChatToken",
  "red5.token.v1.TokenService/IssueConferenceToken",
];

/** Exit code of buf curl for an RPC that fails with UNIMPLEMENTED: the gRPC code 12 shifted left by 3. */
const BUF_EXIT_UNIMPLEMENTED = 12 << 3;

function bidiMethod<I extends DescMessage, O extends DescMessage>(
  path: string,
  input: I,
  output: O,
): grpc.MethodDefinition<MessageShape<I>, MessageShape<O>> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: (message) => Buffer.from(toBinary(input, message)),
    requestDeserialize: (bytes) => fromBinary(input, bytes),
    responseSerialize: (message) => Buffer.from(toBinary(output, message)),
    responseDeserialize: (bytes) => fromBinary(output, bytes),
  };
}

const reflectionV1Definition = {
  serverReflectionInfo: bidiMethod(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    v1.ServerReflectionRequestSchema,
    v1.ServerReflectionResponseSchema,
  ),
} satisfies grpc.ServiceDefinition;

const reflectionV1alphaDefinition = {
  serverReflectionInfo: bidiMethod(
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    v1alpha.ServerReflectionRequestSchema,
    v1alpha.ServerReflectionResponseSchema,
  ),
} satisfies grpc.ServiceDefinition;

const ReflectionV1Client = grpc.makeGenericClientConstructor(reflectionV1Definition, "ServerReflection");
const ReflectionV1alphaClient = grpc.makeGenericClientConstructor(reflectionV1alphaDefinition, "ServerReflection");

/** One open reflection stream: each `request` writes a message and waits for its response. */
interface ReflectionStream<Request, Response> {
  request(message: Request): Promise<Response>;
  /** Half-closes the stream and resolves with whether the server then ended it with no more responses. */
  end(): Promise<boolean>;
}

function openStream<Request, Response>(
  client: grpc.Client,
  method: grpc.MethodDefinition<Request, Response>,
): ReflectionStream<Request, Response> {
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
  const responses = call[Symbol.asyncIterator]() as AsyncIterator<Response>;
  return {
    async request(message) {
      call.write(message);
      const result = await withTimeout(responses.next(), "a reflection response");
      if (result.done === true) {
        throw new Error("reflection stream ended before the response");
      }
      return result.value;
    },
    async end() {
      call.end();
      const result = await withTimeout(responses.next(), "the end of the reflection stream");
      return result.done === true;
    },
  };
}

async function withTimeout<T>(promise: Promise<T>, awaited: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${awaited}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type ReflectionResponse = v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse;

/** Decodes the files of a file_descriptor_response, failing on any other response. */
function describedFiles(response: ReflectionResponse): FileDescriptorProto[] {
  const messageResponse = response.messageResponse;
  if (messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected a file_descriptor_response, got ${messageResponse.case ?? "nothing"}`);
  }
  return messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

function describedFileNames(response: ReflectionResponse): string[] {
  return describedFiles(response).map((file) => file.name);
}

interface BufResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `buf curl` with the arguments and resolves with its exit code and output, whatever the code. */
function runBufCurl(args: readonly string[]): Promise<BufResult> {
  return new Promise((resolve, reject) => {
    execFile(BUF, ["curl", ...args], { timeout: BUF_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") {
        reject(new Error(`buf curl did not run to completion: ${error.message}\n${stderr}`));
        return;
      }
      resolve({ exitCode: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

function outputLines(output: string): string[] {
  return output.split("\n").filter((line) => line !== "");
}


let running: RunningServer;
let baseUrl: string;

beforeAll(async () => {
  running = await startServer((router) => {
    registerHealth(router, new HealthStatus());
    registerReflection(router, { services: [Health, TokenService] });
    router.service(TokenService, {});
  });
  baseUrl = `http://${running.address}`;
});

afterAll(async () => {
  await stopServer(running);
});

describe("reflection through buf curl", () => {
  const grpcArgs = ["--http2-prior-knowledge", "--protocol", "grpc"];

  it("lists services with the default protocol", { timeout: BUF_TIMEOUT_MS }, async () => {
    const result = await runBufCurl([...grpcArgs, "--list-services", baseUrl]);

    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(outputLines(result.stdout)).toEqual(SERVICE_NAMES);
  });

  const versions = ["v1", "v1alpha"];

  it.each(versions)("lists services and methods with grpc-%s", { timeout: BUF_TIMEOUT_MS }, async (version) => {
    const otherVersion = version === "v1" ? "v1alpha" : "v1";
    const reflectArgs = [...grpcArgs, "--reflect-protocol", `grpc-${version}`, "--verbose"];

    const services = await runBufCurl([...reflectArgs, "--list-services", baseUrl]);
    const methods = await runBufCurl([...reflectArgs, "--list-methods", baseUrl]);

    expect(services.exitCode).toBe(0);
    expect(outputLines(services.stdout)).toEqual(SERVICE_NAMES);
    expect(methods.exitCode).toBe(0);
    expect(outputLines(methods.stdout)).toEqual(METHOD_NAMES);
    expect(outputLines(methods.stdout)).toContain("red5.token.v1.TokenService/IssueConferenceToken");
    expect(outputLines(methods.stdout)).toContain("red5.token.v1.TokenService/IssueChatToken");
    expect(methods.stderr).toContain(`POST /grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`);
    expect(methods.stderr).not.toContain(`POST /grpc.reflection.${otherVersion}.ServerReflection/`);
    expect(methods.stderr).toContain(`Server reflection has resolved file "${TOKEN_SERVICE_FILE}"`);
  });

  it.each(versions)("calls a TokenService method with grpc-%s", { timeout: BUF_TIMEOUT_MS }, async (version) => {
    const result = await runBufCurl([
      ...grpcArgs,
      "--reflect-protocol",
      `grpc-${version}`,
      "--data",
      "{}",
      `${baseUrl}/red5.token.v1.TokenService/IssueChatToken`,
    ]);

    expect(result.exitCode).toBe(BUF_EXIT_UNIMPLEMENTED);
    expect(result.stdout).toBe("");
    expect(JSON.parse(result.stderr)).toEqual({
      code: "unimplemented",
      message: "red5.token.v1.TokenService.IssueChatToken is not implemented",
    });
  });
});

describe("reflection through grpc-js", () => {
  let v1Client: grpc.Client;
  let v1alphaClient: grpc.Client;

  beforeAll(() => {
    v1Client = new ReflectionV1Client(running.address, grpc.credentials.createInsecure());
    v1alphaClient = new ReflectionV1alphaClient(running.address, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    v1Client.close();
    v1alphaClient.close();
  });

  function openV1Stream() {
    return openStream(v1Client, reflectionV1Definition.serverReflectionInfo);
  }

  function v1Request(init: MessageInitShape<typeof v1.ServerReflectionRequestSchema>) {
    return create(v1.ServerReflectionRequestSchema, { host: "reflection.test", ...init });
  }

  it("serves many requests on one stream", async () => {
    const stream = openV1Stream();
    const sentImports: string[] = [];
    const ask = async (messageRequest: v1.ServerReflectionRequest["messageRequest"]) => {
      const request = v1Request({ messageRequest });
      const response = await stream.request(request);
      expect(response.validHost).toBe("reflection.test");
      expect(response.originalRequest).toEqual(request);
      if (response.messageResponse.case === "fileDescriptorResponse") {
        sentImports.push(...describedFileNames(response).slice(1));
      }
      return response;
    };

    const services = await ask({ case: "listServices", value: "*" });
    expect(services.messageResponse.case).toBe("listServicesResponse");
    const serviceNames =
      services.messageResponse.case === "listServicesResponse"
        ? services.messageResponse.value.service.map((service) => service.name)
        : [];
    expect([...serviceNames].sort()).toEqual(SERVICE_NAMES);

    const tokenService = describedFiles(
      await ask({ case: "fileContainingSymbol", value: "red5.token.v1.TokenService" }),
    );
    expect(tokenService.map((file) => file.name)[0]).toBe(TOKEN_SERVICE_FILE);
    expect(tokenService.map((file) => file.name).slice(1).sort()).toEqual(TOKEN_SERVICE_IMPORTS);
    expect(tokenService[0]?.package).toBe("red5.token.v1");
    expect(tokenService[0]?.service.map((service) => service.name)).toEqual(["TokenService"]);
    expect(tokenService[0]?.service[0]?.method.map((method) => method.name)).toEqual([
      "IssueConferenceToken",
      "IssueChatToken",
    ]);

    const symbolLookups: [string, string][] = [
      ["red5.token.v1.IssueChatTokenRequest", TOKEN_SERVICE_FILE],
      ["red5.token.v1.TokenService.IssueChatToken", TOKEN_SERVICE_FILE],
      ["red5.token.v1.IssueChatTokenRequest.channel_id", TOKEN_SERVICE_FILE],
      ["red5.token.v1.Role", TOKEN_SERVICE_FILE],
      ["red5.token.v1.ROLE_ADMIN", TOKEN_SERVICE_FILE],
      ["google.protobuf.DescriptorProto.ExtensionRange", "google/protobuf/descriptor.proto"],
      ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
      ["grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"],
      ["buf.validate.field", "buf/validate/validate.proto"],
    ];
    for (const [symbol, expectedFile] of symbolLookups) {
      const response = await ask({ case: "fileContainingSymbol", value: symbol });
      expect(describedFileNames(response), `files for symbol ${symbol}`).toEqual([expectedFile]);
    }

    const timestamp = await ask({ case: "fileByFilename", value: "google/protobuf/timestamp.proto" });
    expect(describedFileNames(timestamp)).toEqual(["google/protobuf/timestamp.proto"]);

    const fieldExtension = await ask({
      case: "fileContainingExtension",
      value: create(v1.ExtensionRequestSchema, {
        containingType: "google.protobuf.FieldOptions",
        extensionNumber: 1159,
      }),
    });
    expect(describedFileNames(fieldExtension)).toEqual(["buf/validate/validate.proto"]);

    const fieldOptionsExtensions = await ask({
      case: "allExtensionNumbersOfType",
      value: "google.protobuf.FieldOptions",
    });
    expect(fieldOptionsExtensions.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "google.protobuf.FieldOptions", extensionNumber: [1159, 1160] },
    });
    const channelGrantExtensions = await ask({
      case: "allExtensionNumbersOfType",
      value: "red5.token.v1.ChannelGrant",
    });
    expect(channelGrantExtensions.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "red5.token.v1.ChannelGrant", extensionNumber: [] },
    });

    expect(sentImports.sort()).toEqual(TOKEN_SERVICE_IMPORTS);
    expect(await stream.end()).toBe(true);
  });

  it("returns NOT_FOUND for unknown names", async () => {
    const stream = openV1Stream();
    const symbolHint = 'Give a fully-qualified name without a leading dot, such as "grpc.health.v1.Health".';
    const cases: [v1.ServerReflectionRequest["messageRequest"], number, string][] = [
      [
        { case: "fileContainingSymbol", value: "red5.token.v1.Missing" },
        grpc.status.NOT_FOUND,
        `symbol "red5.token.v1.Missing" not found. ${symbolHint}`,
      ],
      [
        { case: "fileContainingSymbol", value: ".red5.token.v1.TokenService" },
        grpc.status.NOT_FOUND,
        `symbol ".red5.token.v1.TokenService" not found. ${symbolHint}`,
      ],
      [
        { case: "fileByFilename", value: "red5/token/v1/missing.proto" },
        grpc.status.NOT_FOUND,
        'file "red5/token/v1/missing.proto" not found. ' +
          "This server describes only the files of its services and their imports.",
      ],
      [
        {
          case: "fileContainingExtension",
          value: create(v1.ExtensionRequestSchema, {
            containingType: "google.protobuf.FieldOptions",
            extensionNumber: 4242,
          }),
        },
        grpc.status.NOT_FOUND,
        'extension 4242 of message "google.protobuf.FieldOptions" not found',
      ],
      [
        { case: "allExtensionNumbersOfType", value: "red5.token.v1.Missing" },
        grpc.status.NOT_FOUND,
        'message type "red5.token.v1.Missing" not found',
      ],
      [
        { case: undefined },
        grpc.status.INVALID_ARGUMENT,
        "request has no message_request. Set one of file_by_filename, file_containing_symbol, " +
          "file_containing_extension, all_extension_numbers_of_type or list_services.",
      ],
    ];

    for (const [messageRequest, code, message] of cases) {
      const response = await stream.request(v1Request({ messageRequest }));
      const description = `response to ${messageRequest.case} ${JSON.stringify(messageRequest.value)}`;
      expect(response.messageResponse, description).toMatchObject({
        case: "errorResponse",
        value: { errorCode: code, errorMessage: message },
      });
    }

    const afterErrors = await stream.request(
      v1Request({ messageRequest: { case: "fileContainingSymbol", value: "red5.token.v1.TokenService" } }),
    );
    expect(describedFileNames(afterErrors)[0]).toBe(TOKEN_SERVICE_FILE);
    expect(await stream.end()).toBe(true);
  });

  it("sends imports again on a new stream", async () => {
    const first = openV1Stream();
    const second = openV1Stream();
    const request = v1Request({ messageRequest: { case: "fileByFilename", value: TOKEN_SERVICE_FILE } });

    const firstNames = describedFileNames(await first.request(request));
    const repeatedNames = describedFileNames(await first.request(request));
    const secondNames = describedFileNames(await second.request(request));

    expect(firstNames[0]).toBe(TOKEN_SERVICE_FILE);
    expect(firstNames.slice(1).sort()).toEqual(TOKEN_SERVICE_IMPORTS);
    expect(repeatedNames).toEqual([TOKEN_SERVICE_FILE]);
    expect(secondNames).toEqual(firstNames);
    expect(await first.end()).toBe(true);
    expect(await second.end()).toBe(true);
  });

  it("keeps the validation rules in the described file", async () => {
    const stream = openV1Stream();

    const response = await stream.request(
      v1Request({ messageRequest: { case: "fileContainingSymbol", value: "red5.token.v1.IssueChatTokenRequest" } }),
    );

    const file = describedFiles(response)[0];
    const request = file?.messageType.find((message) => message.name === "IssueChatTokenRequest");
    const userId = request?.field.find((field) => field.name === "user_id");
    expect(userId?.options).toBeDefined();
    if (userId?.options === undefined) {
      return;
    }
    expect(hasExtension(userId.options, fieldRules)).toBe(true);
    expect(getExtension(userId.options, fieldRules).type).toMatchObject({
      case: "string",
      value: { minLen: 1n, maxLen: 92n },
    });
    expect(await stream.end()).toBe(true);
  });

  it("keeps request order when pipelined", async () => {
    const call = v1Client.makeBidiStreamRequest(
      reflectionV1Definition.serverReflectionInfo.path,
      reflectionV1Definition.serverReflectionInfo.requestSerialize,
      reflectionV1Definition.serverReflectionInfo.responseDeserialize,
    );
    const symbols = ["grpc.health.v1.Health", "red5.token.v1.TokenService", "grpc.reflection.v1.ServerReflection"];

    for (const symbol of symbols) {
      call.write(v1Request({ messageRequest: { case: "fileContainingSymbol", value: symbol } }));
    }
    call.end();
    const responses: v1.ServerReflectionResponse[] = [];
    for await (const response of call as AsyncIterable<v1.ServerReflectionResponse>) {
      responses.push(response);
    }

    expect(responses.map((response) => describedFileNames(response)[0])).toEqual([
      "grpc/health/v1/health.proto",
      TOKEN_SERVICE_FILE,
      "grpc/reflection/v1/reflection.proto",
    ]);
  });

  it("serves grpc.reflection.v1alpha too", async () => {
    const stream = openStream(v1alphaClient, reflectionV1alphaDefinition.serverReflectionInfo);
    const request = (messageRequest: v1alpha.ServerReflectionRequest["messageRequest"]) =>
      create(v1alpha.ServerReflectionRequestSchema, { host: "reflection.test", messageRequest });

    const listRequest = request({ case: "listServices", value: "" });
    const services = await stream.request(listRequest);
    const tokenService = await stream.request(
      request({ case: "fileContainingSymbol", value: "red5.token.v1.TokenService" }),
    );
    const missing = await stream.request(request({ case: "fileContainingSymbol", value: "red5.token.v1.Missing" }));

    expect(services.validHost).toBe("reflection.test");
    expect(services.originalRequest).toEqual(listRequest);
    expect(services.messageResponse.case).toBe("listServicesResponse");
    const serviceNames =
      services.messageResponse.case === "listServicesResponse"
        ? services.messageResponse.value.service.map((service) => service.name)
        : [];
    expect([...serviceNames].sort()).toEqual(SERVICE_NAMES);
    expect(describedFileNames(tokenService)[0]).toBe(TOKEN_SERVICE_FILE);
    expect(describedFileNames(tokenService).slice(1).sort()).toEqual(TOKEN_SERVICE_IMPORTS);
    expect(missing.messageResponse).toMatchObject({
      case: "errorResponse",
      value: { errorCode: grpc.status.NOT_FOUND },
    });
    expect(await stream.end()).toBe(true);
  });
});
