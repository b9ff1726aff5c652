import * as grpc from "@grpc/grpc-js";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { IssueChatTokenRequestSchema, TokenService } from "../../gen/ts/red5/token/v1/token_service_pb.js";
import { createTokenServiceGrpcJs, OWN_CONNECTION } from "./grpc-js-client.js";

/** One IssueChatToken call as a load client saw it. */
export interface CallOutcome {
  /** The request's user id, unique per call, so that server records can be matched to it. */
  readonly userId: string;
  readonly client: string;
  /** "OK", or the gRPC code name of the failure, such as "UNAVAILABLE". */
  readonly code: string;
  /** Error message and cause of a failure, or "" for OK. */
  readonly detail: string;
}

/** A client that issues one IssueChatToken call at a time for the load loop. */
export interface LoadClient {
  readonly name: string;
  issueChatToken(userId: string): Promise<CallOutcome>;
  close(): void;
}

/** Deadline of every load call, in milliseconds, long enough that no call in a test reaches it. */
const LOAD_CALL_DEADLINE_MS = 30_000;

/** Creates a grpc-js client with its own connection to address (host:port). */
export function grpcJsLoadClient(name: string, address: string): LoadClient {
  const client = createTokenServiceGrpcJs(address, grpc.credentials.createInsecure(), OWN_CONNECTION);
  return {
    name,
    issueChatToken: async (userId) => {
      try {
        await client.issueChatToken(chatRequest(userId), { deadlineMs: LOAD_CALL_DEADLINE_MS });
        return { userId, client: name, code: "OK", detail: "" };
      } catch (error) {
        const serviceError = error as grpc.ServiceError;
        return { userId, client: name, code: grpc.status[serviceError.code] ?? String(serviceError.code), detail: serviceError.details ?? String(error) };
      }
    },
    close: () => client.client.close(),
  };
}

/** Creates a connect-node client: gRPC over HTTP/2, or Connect over HTTP/1.1. */
export function connectLoadClient(name: string, baseUrl: string, protocol: "grpc" | "connect"): LoadClient {
  const transport: Transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, defaultTimeoutMs: LOAD_CALL_DEADLINE_MS })
      : createConnectTransport({ baseUrl, httpVersion: "1.1", defaultTimeoutMs: LOAD_CALL_DEADLINE_MS });
  const client = createClient(TokenService, transport);
  return {
    name,
    issueChatToken: async (userId) => {
      try {
        await client.issueChatToken(chatRequest(userId));
        return { userId, client: name, code: "OK", detail: "" };
      } catch (error) {
        const connectError = ConnectError.from(error);
        const cause = connectError.cause instanceof Error ? ` (cause: ${describeCause(connectError.cause)})` : "";
        return { userId, client: name, code: grpcCodeName(connectError.code), detail: connectError.rawMessage + cause };
      }
    },
    close: () => undefined,
  };
}

/** Settings of one load run. */
export interface LoadOptions {
  readonly clients: readonly LoadClient[];
  /** Prefix of every user id, so that two runs against one emulator stay apart. */
  readonly userIdPrefix: string;
  /** Calls each client issues at most. */
  readonly maxCallsPerClient: number;
  /** Checked before each call: once it returns true, the client issues no more calls. */
  readonly stop: () => boolean;
  /** Called after each call, with the number of calls finished so far by all clients. */
  readonly onCall?: (finished: number, outcome: CallOutcome) => void;
}

/**
 * Pause of a client after a failed call, in milliseconds, so that a client whose connections are
 * refused does not spin through its calls.
 */
const PAUSE_AFTER_FAILURE_MS = 20;

/**
 * Runs each client in its own loop of sequential IssueChatToken calls, each with a unique user id,
 * until the client has issued maxCallsPerClient calls or stop returns true. Resolves with every
 * outcome, in the order the calls finished, once all loops have ended.
 */
export async function runLoad(options: LoadOptions): Promise<CallOutcome[]> {
  const outcomes: CallOutcome[] = [];
  const loop = async (client: LoadClient) => {
    for (let call = 0; call < options.maxCallsPerClient && !options.stop(); call++) {
      const outcome = await client.issueChatToken(`${options.userIdPrefix}-${client.name}-${call}`);
      outcomes.push(outcome);
      options.onCall?.(outcomes.length, outcome);
      if (outcome.code !== "OK") {
        await new Promise((resolve) => setTimeout(resolve, PAUSE_AFTER_FAILURE_MS));
      }
    }
  };
  await Promise.all(options.clients.map(loop));
  return outcomes;
}

function chatRequest(userId: string) {
  return create(IssueChatTokenRequestSchema, { userId, channelId: "load-channel", read: true, write: true });
}

function describeCause(cause: Error): string {
  const code = (cause as NodeJS.ErrnoException).code;
  const nested = cause.cause instanceof Error ? `; ${describeCause(cause.cause)}` : "";
  return `${code ?? cause.name}: ${cause.message}${nested}`;
}

/** Returns the canonical gRPC name, such as UNAVAILABLE, of a Connect code, which has the gRPC code's number. */
function grpcCodeName(code: number): string {
  return grpc.status[code] ?? String(code);
}
