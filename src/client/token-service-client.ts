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

const ROLES: ReadonlyMap<string, Role> = new Map([
  ["admin", Role.ADMIN],
  ["publisher", Role.PUBLISHER],
  ["subscriber", Role.SUBSCRIBER],
]);

/** Maximum deadline the service honours, in milliseconds: what a Node.js timer can wait. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Largest value a uint32 field can carry. */
const MAX_UINT32 = 4_294_967_295;

/** Settings of a TokenServiceClient. */
export interface TokenServiceClientOptions {
  /** Base URL of the service, such as "http://127.0.0.1:8080" or "https://tokens.internal:8443". */
  readonly baseUrl: string;
  /** Wire protocol. Default "grpc"; "connect" also works over HTTP/1.1. */
  readonly protocol?: "grpc" | "connect";
  /**
   * API key sent as "authorization: Bearer <key>" on every call, for a service with callers
   * configured. Use TLS: over cleartext the key travels unencrypted.
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
    if (isTransportFailure(connectError)) {
      return new TokenServiceError(Code.Unavailable, `cannot reach the token service: ${connectError.rawMessage}`, [], { cause: error });
    }
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

  /** Creates a client. Throws TypeError for an invalid timeoutMs or credential. */
  constructor(options: TokenServiceClientOptions) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
      throw new TypeError(`timeoutMs must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`);
    }
    if (options.credential !== undefined && !/^[\x21-\x7e]+$/.test(options.credential)) {
      // The message leaves the credential out: it is a secret.
      throw new TypeError("credential must be printable ASCII without spaces, as an HTTP header value requires");
    }
    this.client = createClient(TokenService, createTransport(options));
    this.callOptions = { timeoutMs };
  }

  /**
   * Returns a Red5 conference token for the user in the room. expirationMinutes defaults to 60
   * on the service.
   */
  async getConferenceToken(userId: string, roomId: string, role: ConferenceRoleName, expirationMinutes?: number): Promise<string> {
    const roleValue = ROLES.get(role);
    if (roleValue === undefined) {
      throw argumentError("role", `invalid role ${JSON.stringify(String(role))}: use admin, publisher or subscriber`, "must be admin, publisher or subscriber", "enum.defined_only");
    }
    checkArguments({ user_id: userId, room_id: roomId }, {}, { expiration_minutes: expirationMinutes });
    const response = await this.issueConferenceToken({ userId, roomId, role: roleValue, expirationMinutes });
    return response.token;
  }

  /** Returns a PubNub chat token for the user on the channel. ttlMinutes defaults to 60 on the service. */
  async getChatToken(userId: string, channelId: string, read: boolean, write: boolean, ttlMinutes?: number): Promise<string> {
    checkArguments({ user_id: userId, channel_id: channelId }, { read, write }, { ttl_minutes: ttlMinutes });
    const response = await this.issueChatToken({ userId, channelId, read, write, ttlMinutes });
    return response.token;
  }

  /** Issues a conference token and returns it with its times, role and chat grants. */
  async issueConferenceToken(request: MessageInitShape<typeof IssueConferenceTokenRequestSchema>): Promise<IssueConferenceTokenResponse> {
    return this.call(() => this.client.issueConferenceToken(request, this.callOptions));
  }

  /** Issues a chat token and returns it with its times and grants. */
  async issueChatToken(request: MessageInitShape<typeof IssueChatTokenRequestSchema>): Promise<IssueChatTokenResponse> {
    return this.call(() => this.client.issueChatToken(request, this.callOptions));
  }

  /**
   * Makes a call, and makes it once more when the server refused its stream: a server that closes
   * an old connection with GOAWAY refuses the streams that crossed it, and never processed them,
   * so the retry cannot mint twice. grpc-js and grpc-go retry such streams the same way.
   */
  private async call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (first) {
      if (!isRefusedStream(first)) {
        throw TokenServiceError.from(first);
      }
    }
    try {
      return await send();
    } catch (error) {
      throw TokenServiceError.from(error);
    }
  }
}

/** Tells whether the server refused the call's HTTP/2 stream before reading it (RFC 9113, section 8.7). */
function isRefusedStream(error: unknown): boolean {
  // connect-node reports it with varying codes, but always with nghttp2's name for it.
  return /\bNGHTTP2_REFUSED_STREAM\b/.test(ConnectError.from(error).rawMessage);
}

/**
 * Tells a connection failure (TLS mismatch, reset stream, refused connection) from an error the
 * service returned. connect-node reports some of the former as INTERNAL or CANCELED, with the
 * Node.js system error, which carries a string code, as the cause.
 */
function isTransportFailure(error: ConnectError): boolean {
  const cause = error.cause as { code?: unknown } | undefined;
  const systemError = typeof cause?.code === "string";
  return systemError && (error.code === Code.Internal || error.code === Code.Canceled || error.code === Code.Unknown);
}

function argumentError(field: string, message: string, description: string, reason: string): TokenServiceError {
  return new TokenServiceError(Code.InvalidArgument, message, [{ field, description, reason }]);
}

/**
 * Checks what TypeScript's types cannot guarantee for JavaScript callers, and what the protobuf
 * encoder would otherwise turn into an INTERNAL error: ids are strings, flags are booleans, and
 * minutes fit a uint32 field. The service checks everything else.
 */
function checkArguments(
  ids: Record<string, unknown>,
  flags: Record<string, unknown>,
  minutes: Record<string, number | undefined>,
): void {
  for (const [field, value] of Object.entries(ids)) {
    if (typeof value !== "string") {
      throw argumentError(field, `invalid ${field}: must be a string`, "must be a string", "client.type");
    }
  }
  for (const [field, value] of Object.entries(flags)) {
    if (typeof value !== "boolean") {
      throw argumentError(field, `invalid ${field}: must be true or false`, "must be true or false", "client.type");
    }
  }
  for (const [field, value] of Object.entries(minutes)) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= MAX_UINT32)) {
      throw argumentError(field, `invalid ${field}: must be a whole number of minutes`, "must be a whole number from 1 to 43200", "uint32.gte_lte");
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
