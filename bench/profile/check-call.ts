/**
 * Sends one call of a load scenario with a real client and checks that it succeeds, because
 * h2load counts every HTTP 200 as a success, gRPC errors included.
 */
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { Health } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { TokenService } from "../../gen/ts/red5/token/v1/token_service_pb.js";
import type { Scenario } from "./drive.js";

/**
 * Sends the scenario's request once, with grpc-js for gRPC and connect-node for Connect, and
 * throws unless the call succeeds and, for a token RPC, returns a token.
 */
export async function checkOneCall(baseUrl: string, scenario: Scenario): Promise<void> {
  const [service, method] = describeMethod(scenario.path);
  const request = fromBinary(method.input, scenario.body);
  const response =
    scenario.protocol === "grpc"
      ? await callWithGrpcJs(baseUrl, scenario.path, method.output, scenario.body)
      : await callWithConnect(createConnectTransport({ baseUrl, httpVersion: "2" }), service, method.localName, request);
  const token = (response as { token?: unknown }).token;
  if (service === TokenService && (typeof token !== "string" || token === "")) {
    throw new Error(`${scenario.name}: the response carries no token`);
  }
}

function describeMethod(urlPath: string) {
  for (const service of [Health, TokenService]) {
    const method = service.methods.find((candidate) => `/${service.typeName}/${candidate.name}` === urlPath);
    if (method !== undefined) {
      return [service, method] as const;
    }
  }
  throw new Error(`no method is served at ${urlPath}`);
}

async function callWithConnect(transport: Transport, service: typeof Health | typeof TokenService, method: string, request: object): Promise<object> {
  const client = createClient(service, transport) as unknown as Record<string, (request: object) => Promise<object>>;
  const call = client[method];
  if (call === undefined) {
    throw new Error(`the client has no method ${method}`);
  }
  return call(request);
}

/** Calls one unary method through grpc-js with the request already encoded. */
function callWithGrpcJs(baseUrl: string, urlPath: string, output: DescMessage, body: Uint8Array): Promise<object> {
  const client = new grpc.Client(new URL(baseUrl).host, grpc.credentials.createInsecure());
  return new Promise<object>((resolve, reject) => {
    client.makeUnaryRequest(
      urlPath,
      (bytes: Uint8Array) => Buffer.from(bytes),
      (bytes: Buffer) => fromBinary(output, bytes),
      body,
      (error, response) => {
        client.close();
        if (error) {
          reject(new Error(`${urlPath} over grpc-js failed: ${error.code} ${error.details}`));
        } else {
          resolve(response as object);
        }
      },
    );
  });
}
