import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { BadRequestSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import {
  Role,
  TokenService,
  type IssueChatTokenRequestSchema,
  type IssueChatTokenResponse,
  type IssueConferenceTokenRequestSchema,
  type IssueConferenceTokenResponse,
} from "../../gen/ts/red5/token/v1/token_service_pb.js";

/** Conference role names, as Red5's backend SDKs spell them. */
export type ConferenceRoleName = "admin" | "publisher" | "subscriber";

const ROLES: Readonly<Record<ConferenceRoleName, Role>> = {
  admin: Role.ADMIN,
  publisher: Role.PUBLISHER,
  subscriber: Role.SUBSCRIBER,
};

/** Settings of a TokenServiceClient. */
export interface TokenServiceClientOptions {
  /** Base URL of the service, such as "http://127.0.0.1:8080" or "https://tokens.internal:8443". */
  readonly baseUrl: string;
  /** Wire protocol. Default "grpc"; "connect" also works over HTTP/1.1. */
  readonly protocol?: "grpc" | "connect";
  /**
   * API key sent as "authorization: Bearer <key>" on every call.
   * NOTE: the service does not check caller credentials yet, so the key is only passed along.
   */
  readonly credential?: string;
  /** Deadline of each call in milliseconds. Default 10000. */
  readonly timeoutMs?: number;
  /** Options for Node's http2 or https module, such as `ca` for a private certificate authority. */
  readonly nodeOptions?: Parameters<typeof createGrpcTransport>[0]["nodeOptions"];
}

/** One broken input rule, from the google.rpc.BadRequest detail of an INVALID_ARGUMENT error. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
  readonly reason: string;
}

/** A failed call: the gRPC status code and message, and the field violations of invalid input. */
export class TokenServiceError extends Error {
  override readonly name = "TokenServiceError";

  constructor(
    readonly code: Code,
    message: string,
    readonly fieldViolations: readonly FieldViolation[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Converts any error a call throws. */
  static from(error: unknown): TokenServiceError {
    if (error instanceof TokenServiceError) {
      return error;
    }
    const connectError = ConnectError.from(error);
    const violations = connectError
      .findDetails(BadRequestSchema)
      .flatMap((detail) => detail.fieldViolations)
      .map(({ field, description, reason }) => ({ field, description, reason }));
    return new TokenServiceError(connectError.code, connectError.rawMessage, violations, { cause: error });
  }
}

/**
 * A client with the method names of Red5's backend SDKs, so that code written for them changes
 * only where the client is constructed. Every method throws TokenServiceError.
 */
export class TokenServiceClient {
  private readonly client: Client<typeof TokenService>;
  private readonly callOptions: CallOptions;

  constructor(options: TokenServiceClientOptions) {
    this.client = createClient(TokenService, createTransport(options));
    this.callOptions = { timeoutMs: options.timeoutMs ?? 10_000 };
  }

  /**
   * Returns a Red5 conference token for the user in the room. expirationMinutes defaults to 60
   * on the service.
   */
  async getConferenceToken(userId: string, roomId: string, role: ConferenceRoleName, expirationMinutes?: number): Promise<string> {
    const roleValue = ROLES[role];
    if (roleValue === undefined) {
      throw new TokenServiceError(Code.InvalidArgument, `invalid role ${JSON.stringify(role)}: use admin, publisher or subscriber`, [
        { field: "role", description: "must be admin, publisher or subscriber", reason: "client.role" },
      ]);
    }
    const response = await this.issueConferenceToken({ userId, roomId, role: roleValue, expirationMinutes });
    return response.token;
  }

  /** Returns a PubNub chat token for the user on the channel. ttlMinutes defaults to 60 on the service. */
  async getChatToken(userId: string, channelId: string, read: boolean, write: boolean, ttlMinutes?: number): Promise<string> {
    const response = await this.issueChatToken({ userId, channelId, read, write, ttlMinutes });
    return response.token;
  }

  /** Issues a conference token and returns it with its times, role and chat grants. */
  async issueConferenceToken(request: MessageInitShape<typeof IssueConferenceTokenRequestSchema>): Promise<IssueConferenceTokenResponse> {
    try {
      return await this.client.issueConferenceToken(request, this.callOptions);
    } catch (error) {
      throw TokenServiceError.from(error);
    }
  }

  /** Issues a chat token and returns it with its times and grants. */
  async issueChatToken(request: MessageInitShape<typeof IssueChatTokenRequestSchema>): Promise<IssueChatTokenResponse> {
    try {
      return await this.client.issueChatToken(request, this.callOptions);
    } catch (error) {
      throw TokenServiceError.from(error);
    }
  }
}

function createTransport(options: TokenServiceClientOptions): Transport {
  const interceptors: Interceptor[] = [];
  if (options.credential !== undefined) {
    const authorization = `Bearer ${options.credential}`;
    interceptors.push((next) => (request) => {
      request.header.set("authorization", authorization);
      return next(request);
    });
  }

  const settings = { baseUrl: options.baseUrl, interceptors, nodeOptions: options.nodeOptions };
  if (options.protocol === "connect") {
    return createConnectTransport({ ...settings, httpVersion: "2" });
  }
  return createGrpcTransport(settings);
}
