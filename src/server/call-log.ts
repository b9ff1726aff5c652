import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { GrantError } from "../pubnub/grant-client.js";
import { toConnectError } from "../service/errors.js";
import { CALL_STATE } from "./edge.js";

/** Maximum length of an id copied into a log record. Longer ids are cut, because invalid requests are logged too. */
const MAX_LOGGED_ID_LENGTH = 128;

/** Request fields copied into each call's log record; tokens and other fields never are. */
const LOGGED_FIELDS = ["userId", "roomId", "channelId"] as const;

/**
 * Creates the interceptor that maps every error to what a caller may see (see toConnectError) and
 * writes one log record per call: procedure, code, latency and the user, room or channel id.
 * Failures caused by PubNub also record PubNub's status and reason; unexpected errors record
 * their detail, which the caller never receives.
 */
export function createCallLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    const startedAt = performance.now();
    request.contextValues.get(CALL_STATE).logged = true;
    const record = {
      procedure: `${request.service.typeName}/${request.method.name}`,
      protocol: request.header.get("content-type") ?? "",
      ...(request.stream ? {} : loggedIds(request.message)),
    };

    try {
      const response = await next(request);
      if (!response.stream) {
        logger.info({ ...record, code: "ok", latencyMs: elapsedMs(startedAt) }, "call finished");
        return response;
      }
      return {
        ...response,
        message: logStreamEnd(response.message, {
          onEnd: () => {
            if (request.signal.aborted) {
              logFailure(logger, record, startedAt, mapError(undefined, request.signal));
            } else {
              logger.info({ ...record, code: "ok", latencyMs: elapsedMs(startedAt) }, "call finished");
            }
          },
          onError: (error) => logFailure(logger, record, startedAt, mapError(error, request.signal)),
        }),
      };
    } catch (error) {
      throw logFailure(logger, record, startedAt, mapError(error, request.signal));
    }
  };
}

interface StreamEndHandlers {
  readonly onEnd: () => void;
  readonly onError: (error: unknown) => ConnectError;
}

/** Passes a response stream through, logging once when it ends or fails. */
async function* logStreamEnd<T>(messages: AsyncIterable<T>, handlers: StreamEndHandlers): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw handlers.onError(error);
  }
  handlers.onEnd();
}

function logFailure(logger: Logger, record: object, startedAt: number, error: ConnectError): ConnectError {
  const failure = { ...record, code: Code[error.code], latencyMs: elapsedMs(startedAt) };
  const cause = error.cause;
  // A deadline that passed before PubNub was asked is the caller's, not a failure at PubNub.
  const waitedForPubNub = cause instanceof GrantError && cause.kind === "deadline-exceeded" && cause.attempts > 0;
  if (error.code === Code.Canceled || (error.code === Code.DeadlineExceeded && !waitedForPubNub)) {
    logger.info({ ...failure, reason: error.rawMessage }, "call ended by the caller");
  } else if (cause instanceof GrantError) {
    logger.warn({ ...failure, upstream: { kind: cause.kind, status: cause.status, attempts: cause.attempts, reason: cause.message } }, "call failed at PubNub");
  } else if (error.code === Code.Internal) {
    logger.error({ ...failure, err: cause ?? error }, "call failed unexpectedly");
  } else {
    logger.info({ ...failure, reason: error.rawMessage }, "call rejected");
  }
  return error;
}

/**
 * Maps a handler's error. When the caller cancelled or its deadline passed, whatever the handler
 * threw as a consequence (an aborted PubNub request, an aborted stream) is reported with the
 * reason in the handler context's signal: CANCELED or DEADLINE_EXCEEDED.
 */
function mapError(error: unknown, signal: AbortSignal): ConnectError {
  if (signal.aborted) {
    const reason = ConnectError.from(signal.reason);
    return new ConnectError(reason.rawMessage, reason.code, undefined, undefined, error);
  }
  return toConnectError(error);
}

function loggedIds(message: object): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const field of LOGGED_FIELDS) {
    const value = (message as Record<string, unknown>)[field];
    if (typeof value === "string") {
      ids[field] = value.length > MAX_LOGGED_ID_LENGTH ? `${value.slice(0, MAX_LOGGED_ID_LENGTH)}...` : value;
    }
  }
  return ids;
}

function elapsedMs(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}
