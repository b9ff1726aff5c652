import type { ConnectRouter, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { file_google_rpc_error_details } from "../../gen/ts/google/rpc/error_details_pb.js";
import { Health } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { TokenService } from "../../gen/ts/red5/token/v1/token_service_pb.js";
import type { Config } from "../config.js";
import type { MasterCredentials } from "../credentials/master-credentials.js";
import { CircuitBreaker } from "../pubnub/circuit-breaker.js";
import { createMetrics, type ServiceMetrics } from "./metrics.js";
import { createMetricsInterceptor } from "./metrics-interceptor.js";
import { PubNubGrantClient, type GrantClientOptions } from "../pubnub/grant-client.js";
import { createTokenService, type TokenGranter } from "../service/token-service.js";
import { importConferenceKey } from "../tokens/conference-token.js";
import { createCallLogInterceptor } from "./call-log.js";
import { createEdge, MAX_TIMER_MS } from "./edge.js";
import { createAuditInterceptor } from "./audit-interceptor.js";
import { createAuthenticationInterceptor } from "./authentication.js";
import type { AuditLog } from "../auth/audit.js";
import type { CallerRegistry } from "../auth/callers.js";
import { DEFAULT_ROLE_CHAT_PERMISSIONS } from "../auth/policy.js";
import { createRateLimiter, type RateLimiter } from "../auth/rate-limiter.js";
import { HealthStatus, registerHealth, ServingStatus } from "./health.js";
import { listen, type ListenerTls } from "./listener.js";
import type { Logger } from "./logger.js";
import { registerReflection } from "./reflection.js";
import { createNodeAdapter } from "./node-adapter.js";

/**
 * JSON request parsing that rejects misspelled fields, unknown enum names and invalid UTF-8
 * rather than ignoring or replacing them.
 */
const STRICT_JSON = { ignoreUnknownFields: false, textDecoder: new TextDecoder("utf-8", { fatal: true }) };

/** Name and version sent to PubNub as "pnsdk". */
const SDK_NAME = "red5-token-service/0.1.0";

/** Settings taken over from the configuration unchanged; see Config for each one's meaning. */
type ServerSettings = Pick<
  Config,
  | "host"
  | "port"
  | "pubnubServerUuid"
  | "pubnubMaxAttempts"
  | "pubnubAttemptTimeoutMs"
  | "pubnubConnections"
  | "pubnubBreakerFailures"
  | "pubnubBreakerOpenMs"
  | "tokenMaxMinutes"
  | "callBudgetMs"
  | "maxRequestBytes"
  | "http2MaxConcurrentStreams"
> &
  Partial<Pick<Config, "maxConnectionAgeMs">>;

/** Everything the token server needs, resolved from the configuration by the caller. */
export interface TokenServerOptions extends ServerSettings {
  /**
   * PEM certificate chain and private key; without them the server speaks cleartext. clientCa
   * enables client certificates for mutual TLS.
   */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer | undefined };
  readonly credentials: MasterCredentials;
  /** PubNub REST origin: PubNub itself, or the emulator in development mode. */
  readonly pubnubOrigin: string;
  readonly logger: Logger;
  /** Wall clock in Unix milliseconds. Default: Date.now. */
  readonly now?: () => number;
  /** Retry delay tuning of the PubNub client; see GrantClientOptions. */
  readonly retry?: Pick<GrantClientOptions, "retryBaseDelayMs" | "retryMaxDelayMs" | "random">;
  /** Source of PubNub tokens in place of the PubNub client built from the settings above. */
  readonly granter?: TokenGranter;
  /**
   * Callers allowed to mint tokens, each with its policy. Without it, TokenService serves every
   * client; the start-up checks allow that only on loopback or when explicitly enabled.
   */
  readonly callers?: CallerRegistry;
  /** Audit log of every mint attempt. Without it, attempts are not audited. */
  readonly auditLog?: AuditLog;
  /**
   * Serves unary gRPC calls without connect-node's streaming pipeline (see createNodeAdapter).
   * Default: true; the tests turn it off to compare both paths.
   */
  readonly unaryGrpcPath?: boolean;
}

/** Settings a reload may change without a restart. */
export interface ServerReload {
  readonly credentials: MasterCredentials;
  /** The new callers; undefined serves every client, as at start-up without callers. */
  readonly callers: CallerRegistry | undefined;
  /** New certificate, key and client CA, for a server started with TLS. */
  readonly tls?: ListenerTls | undefined;
}

/** A running token server. */
export interface TokenServer {
  readonly port: number;
  /** Prometheus registry of the server's metrics, for the admin server. */
  readonly metrics: ServiceMetrics;
  /** Base URL, such as http://127.0.0.1:8080. */
  readonly url: string;
  readonly health: HealthStatus;
  /**
   * Switches credentials and callers at once for calls that start from now on; calls in flight
   * finish with what they started with. Resolves once the new state serves.
   */
  reload(update: ServerReload): Promise<void>;
  /**
   * Stops accepting calls, lets calls in flight finish for up to graceMs, then stops. Resolves with
   * the number of connections ended at the deadline with calls still open.
   */
  close(graceMs?: number): Promise<number>;
}

/**
 * The part of the server a reload replaces: everything that depends on the credentials or the
 * callers. Each call reads it once, when it starts.
 */
interface MintingState {
  readonly credentials: MasterCredentials;
  readonly pubnub: PubNubGrantClient;
  readonly tokenService: ServiceImpl<typeof TokenService>;
  readonly authentication: Interceptor | undefined;
}

/** Starts the gRPC, gRPC-Web and Connect server for TokenService, with reflection and health. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const now = options.now ?? Date.now;
  const metrics = createMetrics();
  const breaker = new CircuitBreaker({ failureThreshold: options.pubnubBreakerFailures, openMs: options.pubnubBreakerOpenMs, now });
  const limiter = createRateLimiter({ now });
  const buildState = async (update: ServerReload, previous?: MintingState): Promise<MintingState> => {
    const sameCredentials = previous !== undefined && sameMasterCredentials(previous.credentials, update.credentials);
    const pubnub = sameCredentials ? previous.pubnub : createPubNubClient(options, update.credentials, now, breaker, metrics);
    const tokenService = createTokenService({
      credentials: update.credentials,
      conferenceKey: await importConferenceKey(update.credentials.conferenceSecret),
      granter: options.granter ?? pubnub,
      now,
      maxMinutes: options.tokenMaxMinutes,
      callBudgetMs: options.callBudgetMs,
      roleChatPermissions: update.callers?.roleChatPermissions ?? DEFAULT_ROLE_CHAT_PERMISSIONS,
    });
    const authentication = update.callers && createAuthentication(update.callers, limiter, metrics);
    return { credentials: update.credentials, pubnub, tokenService, authentication };
  };
  let state = await buildState({ credentials: options.credentials, callers: options.callers });

  const health = new HealthStatus();
  health.set(TokenService.typeName, ServingStatus.SERVING);
  // The server as a whole ("") stays SERVING, so that probes do not restart replicas for an
  // outage no restart can fix; TokenService reports NOT_SERVING while PubNub's circuit is open.
  breaker.onStateChange((circuit) => {
    health.set(TokenService.typeName, circuit === "open" ? ServingStatus.NOT_SERVING : ServingStatus.SERVING);
    metrics.circuitOpen.set(circuit === "open" ? 1 : 0);
    options.logger.warn({ circuit }, "PubNub circuit breaker changed state");
  });
  const tokenService: ServiceImpl<typeof TokenService> = {
    issueConferenceToken: (request, context) => state.tokenService.issueConferenceToken(request, context),
    issueChatToken: (request, context) => state.tokenService.issueChatToken(request, context),
  };
  const authentication: Interceptor = (next) => (request) => {
    const current = state.authentication;
    return current === undefined ? next(request) : current(next)(request);
  };
  const routes = (router: ConnectRouter) => {
    router.service(TokenService, tokenService);
    registerHealth(router, health);
    registerReflection(router, { services: [TokenService, Health], files: [file_google_rpc_error_details] });
  };
  const edge = createEdge({
    logger: options.logger,
    callBudgetMs: options.callBudgetMs,
    unaryPathPrefix: `/${TokenService.typeName}/`,
    otherUnaryPaths: [`/${Health.typeName}/${Health.method.check.name}`],
  });
  const handler = edge.wrap(createNodeAdapter({
    routes,
    logger: options.logger,
    unaryGrpcPath: options.unaryGrpcPath,
    interceptors: createInterceptors(options, now, metrics, authentication),
    readMaxBytes: options.maxRequestBytes,
    // The edge caps longer deadlines at this value, so this limit only guards against a header
    // the edge could not read.
    maxTimeoutMs: MAX_TIMER_MS,
    jsonOptions: STRICT_JSON,
    contextValues: edge.contextValues,
  }));

  const listener = await listen({
    host: options.host,
    port: options.port,
    tls: options.tls,
    maxConcurrentStreams: options.http2MaxConcurrentStreams,
    maxConnectionAgeMs: options.maxConnectionAgeMs,
    handler,
  });
  const scheme = options.tls ? "https" : "http";
  const host = listener.host.includes(":") ? `[${listener.host}]` : listener.host;

  return {
    port: listener.port,
    url: `${scheme}://${host}:${listener.port}`,
    health,
    metrics,
    reload: async (update) => {
      const previous = state;
      const next = await buildState(update, previous);
      if (update.tls !== undefined) {
        listener.setTls(update.tls);
      }
      state = next;
      if (state.pubnub !== previous.pubnub) {
        // Waits for the old client's requests in flight, in the background.
        void previous.pubnub.close();
      }
    },
    close: async (graceMs = 5000) => {
      health.shutdown();
      const ended = await listener.close(graceMs);
      await state.pubnub.close();
      return ended;
    },
  };
}

function sameMasterCredentials(a: MasterCredentials, b: MasterCredentials): boolean {
  return (
    a.conferenceSecret === b.conferenceSecret &&
    a.pubnubSecretKey === b.pubnubSecretKey &&
    a.pubnubPublishKey === b.pubnubPublishKey &&
    a.pubnubSubscribeKey === b.pubnubSubscribeKey &&
    a.streamManagerHost === b.streamManagerHost
  );
}

function createPubNubClient(
  options: TokenServerOptions,
  credentials: MasterCredentials,
  now: () => number,
  breaker: CircuitBreaker,
  metrics: ServiceMetrics,
): PubNubGrantClient {
  return new PubNubGrantClient({
    origin: options.pubnubOrigin,
    subscribeKey: credentials.pubnubSubscribeKey,
    publishKey: credentials.pubnubPublishKey,
    secretKey: credentials.pubnubSecretKey,
    serverUuid: options.pubnubServerUuid,
    sdkName: SDK_NAME,
    now,
    maxAttempts: options.pubnubMaxAttempts,
    attemptTimeoutMs: options.pubnubAttemptTimeoutMs,
    connections: options.pubnubConnections,
    breaker,
    observer: {
      attempt: (outcome, seconds) => metrics.upstreamSeconds.observe({ outcome }, seconds),
      retry: () => metrics.upstreamRetries.inc(),
      failure: (kind) => metrics.upstreamFailures.inc({ cause: kind }),
    },
    ...options.retry,
  });
}

/**
 * Orders the interceptors from the outside in: metrics and the call log see every outcome, the
 * audit log every mint attempt including unauthenticated ones, and authentication runs last,
 * next to the handlers.
 */
function createInterceptors(options: TokenServerOptions, now: () => number, metrics: ServiceMetrics, authentication: Interceptor): Interceptor[] {
  const interceptors = [createMetricsInterceptor(metrics), createCallLogInterceptor(options.logger)];
  if (options.auditLog) {
    interceptors.push(createAuditInterceptor(options.auditLog, now));
  }
  interceptors.push(authentication);
  return interceptors;
}

function createAuthentication(registry: CallerRegistry, limiter: RateLimiter, metrics: ServiceMetrics): Interceptor {
  return createAuthenticationInterceptor({
    registry,
    limiter,
    protectedServices: new Set([TokenService.typeName]),
    onRateLimited: (caller) => metrics.rateLimited.inc({ caller }),
  });
}
