/**
 * Parts shared by the stack servers in bench/stacks: the service's own TokenService handlers and
 * PubNub client, built from the settings that src/main.ts also reads, call counters, and the
 * admin port that bench/profile/drive.ts reads.
 *
 * Settings: PORT (default 8080), ADMIN_PORT (default 9090), RED5_MASTER_KEY and
 * RED5_MASTER_SECRET (required), PUBNUB_ORIGIN (required), PUBNUB_CONNECTIONS (default 64).
 */
import { createServer } from "node:http";
import type { ServiceImpl } from "@connectrpc/connect";
import type { TokenService } from "../../gen/ts/red5/token/v1/token_service_pb.js";
import { decodeMasterCredentials } from "../../src/credentials/master-credentials.js";
import { DEFAULT_ROLE_CHAT_PERMISSIONS } from "../../src/auth/policy.js";
import { PubNubGrantClient } from "../../src/pubnub/grant-client.js";
import { createTokenService } from "../../src/service/token-service.js";
import { importConferenceKey } from "../../src/tokens/conference-token.js";

/** The settings a stack server reads from its environment. */
export interface StackSettings {
  readonly port: number;
  readonly adminPort: number;
}

/** Reads PORT and ADMIN_PORT. */
export function readSettings(): StackSettings {
  return { port: Number(process.env.PORT ?? "8080"), adminPort: Number(process.env.ADMIN_PORT ?? "9090") };
}

/** Builds the service's TokenService handlers over a real PubNub client, with the service's defaults. */
export async function createHandlers(): Promise<ServiceImpl<typeof TokenService>> {
  const credentials = decodeMasterCredentials(requireSetting("RED5_MASTER_KEY"), requireSetting("RED5_MASTER_SECRET"));
  const granter = new PubNubGrantClient({
    origin: requireSetting("PUBNUB_ORIGIN"),
    subscribeKey: credentials.pubnubSubscribeKey,
    publishKey: credentials.pubnubPublishKey,
    secretKey: credentials.pubnubSecretKey,
    serverUuid: "red5-token-service",
    sdkName: "red5-token-service/0.1.0",
    connections: Number(process.env.PUBNUB_CONNECTIONS ?? "64"),
  });
  return createTokenService({
    credentials,
    conferenceKey: await importConferenceKey(credentials.conferenceSecret),
    granter,
    now: Date.now,
    maxMinutes: 43_200,
    callBudgetMs: 10_000,
    roleChatPermissions: DEFAULT_ROLE_CHAT_PERMISSIONS,
  });
}

function requireSetting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set. Start the server with bench/profile/drive.ts, which sets it.`);
  }
  return value;
}

/** Calls finished, by gRPC code name, such as OK or INVALID_ARGUMENT. */
export class CallCounts {
  private readonly counts = new Map<string, number>();

  add(code: string): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
  }

  /** Formats the counts as the production server's token_service_calls_total. */
  toPrometheus(): string {
    return [...this.counts].map(([code, count]) => `token_service_calls_total{code="${code}"} ${count}\n`).join("");
  }
}

/** Serves /readyz and /metrics (the call counts) on the admin port. */
export function startAdmin(adminPort: number, counts: CallCounts): void {
  createServer((request, response) => {
    response.end(request.url === "/metrics" ? counts.toPrometheus() : "ok");
  }).listen(adminPort, "127.0.0.1");
}

/** Stops the process on SIGTERM, so that node --cpu-prof writes its profile. */
export function exitOnSignal(): void {
  process.once("SIGTERM", () => process.exit(0));
}
