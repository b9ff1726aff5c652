import { startPubNubEmulator, type PubNubEmulator } from "../../src/emulator/pubnub-emulator.js";
import { TEST_CREDENTIALS, TEST_MASTER_KEY, TEST_MASTER_SECRET } from "./harness.js";
import type { CallOutcome } from "./load.js";
import { startService, type ServiceProcess } from "./process.js";

/** Settings removed from the inherited environment, so that a developer's own settings do not reach the replicas. */
const SERVICE_SETTINGS = [
  "HOST",
  "PORT",
  "ADMIN_HOST",
  "ADMIN_PORT",
  "CALLERS_FILE",
  "CONFIG_FILE",
  "RED5_MASTER_KEY_FILE",
  "RED5_MASTER_SECRET_FILE",
  "TLS_CERT_FILE",
  "TLS_KEY_FILE",
  "TLS_CLIENT_CA_FILE",
  "SHUTDOWN_DELAY_MS",
  "SHUTDOWN_DRAIN_MS",
  "WORKERS",
];

/**
 * Starts a PubNub emulator for the tests' credentials that keeps up to historySize requests
 * (default 20000), so that every grant of a load run can be matched to its call.
 */
export async function startLoadEmulator(historySize = 20_000): Promise<PubNubEmulator> {
  return startPubNubEmulator({
    subscribeKey: TEST_CREDENTIALS.pubnubSubscribeKey,
    publishKey: TEST_CREDENTIALS.pubnubPublishKey,
    secretKey: TEST_CREDENTIALS.pubnubSecretKey,
    historySize,
  });
}

/**
 * Starts the service as its own process (`node --import tsx src/main.ts`) with the tests' master
 * credentials, PubNub at the emulator, free loopback ports for the listener and the admin server,
 * and the given settings on top.
 */
export async function startReplica(emulator: PubNubEmulator, settings: Record<string, string> = {}): Promise<ServiceProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SERVICE_SETTINGS) {
    delete env[name];
  }
  Object.assign(env, {
    RED5_MASTER_KEY: TEST_MASTER_KEY,
    RED5_MASTER_SECRET: TEST_MASTER_SECRET,
    PUBNUB_ORIGIN: emulator.origin,
    PORT: "0",
    ADMIN_PORT: "0",
    LOG_LEVEL: "info",
    ...settings,
  });
  return startService("node", ["--import", "tsx", "src/main.ts"], env);
}

/** Returns host:port of a replica, for grpc-js. */
export function addressOf(replica: ServiceProcess): string {
  return new URL(replica.url).host;
}

/** Server-side evidence of the IssueChatToken calls a replica accepted, keyed by user id. */
export interface AcceptedCalls {
  /** Code in each call's "call finished" or failure record of the call log ("ok", "Canceled", ...). */
  readonly callLog: Map<string, string>;
  /** Code in each call's audit record ("OK", "CANCELLED", ...). */
  readonly audit: Map<string, string>;
  /** Records of calls that connect-node rejected before any interceptor ran. */
  readonly rejectedBeforeService: number;
}

/**
 * Collects, from a replica's stdout, the IssueChatToken calls whose user id starts with
 * userIdPrefix. A call is accepted once the server has read it and passed it to the interceptors,
 * and then it gets exactly one call log record and one audit record whatever its outcome.
 */
export function acceptedCalls(records: readonly Record<string, unknown>[], userIdPrefix: string): AcceptedCalls {
  const callLog = new Map<string, string>();
  const audit = new Map<string, string>();
  let rejectedBeforeService = 0;
  for (const record of records) {
    const userId = typeof record.userId === "string" ? record.userId : "";
    if (record.msg === "call rejected before reaching the service") {
      rejectedBeforeService++;
    }
    if (!userId.startsWith(userIdPrefix)) {
      continue;
    }
    if (record.log === "audit") {
      addOnce(audit, userId, String(record.code));
    } else if (record.procedure === "red5.token.v1.TokenService/IssueChatToken") {
      addOnce(callLog, userId, String(record.code));
    }
  }
  return { callLog, audit, rejectedBeforeService };
}

/** Returns the user ids of the grant requests the emulator received, in order, repeats included. */
export function grantedUserIds(emulator: PubNubEmulator, userIdPrefix: string): string[] {
  const userIds: string[] = [];
  for (const request of emulator.recentRequests()) {
    if (request.method !== "POST" || request.body === "") {
      continue;
    }
    const body = JSON.parse(request.body) as { permissions?: { uuid?: string } };
    const userId = body.permissions?.uuid ?? "";
    if (userId.startsWith(userIdPrefix)) {
      userIds.push(userId);
    }
  }
  return userIds;
}

/**
 * Failures that show the server never read the call: the connection was refused, or the stream
 * was refused (REFUSED_STREAM, or beyond the last stream id of a GOAWAY). grpc-js retries these
 * itself. connect-node reports them, and reports a refused stream as INTERNAL.
 */
const NEVER_ACCEPTED = /ECONNREFUSED|REFUSED_STREAM|refused by server|GOAWAY/i;

/**
 * Failures of an HTTP/1.1 request written to a kept-alive connection that the server closed at
 * that moment. The client cannot tell whether the server read it, so the server-side records decide.
 */
const CONNECTION_CLOSED = /EPIPE|ECONNRESET|socket hang up/;

/** Returns the failures that are neither refused nor, for HTTP/1.1 clients, a closed connection. */
export function unexplainedFailures(outcomes: readonly CallOutcome[], http1Clients: readonly string[] = []): CallOutcome[] {
  return outcomes.filter((outcome) => {
    if (outcome.code === "OK" || NEVER_ACCEPTED.test(outcome.detail)) {
      return false;
    }
    return !(http1Clients.includes(outcome.client) && CONNECTION_CLOSED.test(outcome.detail));
  });
}

function addOnce(map: Map<string, string>, userId: string, code: string): void {
  if (map.has(userId)) {
    throw new Error(`two records for user id ${userId}; each call must have exactly one`);
  }
  map.set(userId, code);
}
