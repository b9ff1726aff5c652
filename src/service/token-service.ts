import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  ChannelGrantSchema,
  IssueChatTokenRequestSchema,
  IssueChatTokenResponseSchema,
  IssueConferenceTokenRequestSchema,
  IssueConferenceTokenResponseSchema,
  Role,
  TokenService,
  type IssueChatTokenRequest,
  type IssueChatTokenResponse,
  type IssueConferenceTokenRequest,
  type IssueConferenceTokenResponse,
} from "../../gen/ts/red5/token/v1/token_service_pb.js";
import type { MasterCredentials } from "../credentials/master-credentials.js";
import type { GrantRequest } from "../pubnub/grant-client.js";
import { channelWithPresence, permissionBits, type ChannelPermission } from "../tokens/chat-permissions.js";
import { signConferenceToken, type ConferenceRole, type ConferenceSigningKey } from "../tokens/conference-token.js";
import { CALLER } from "../auth/caller-context.js";
import {
  chatPermissionsForRole,
  checkChatRequest,
  checkConferenceRequest,
  type PolicyDenial,
  type RoleChatPermissions,
} from "../auth/policy.js";
import { invalidArgument, permissionDenied } from "./errors.js";
import { checkDeclaredRules, checkMaxMinutes, DEFAULT_TOKEN_MINUTES } from "./request-rules.js";

/** Asks PubNub for a token; PubNubGrantClient implements it. */
export interface TokenGranter {
  grantToken(request: GrantRequest, timeoutMs: number, signal?: AbortSignal): Promise<string>;
}

/** Dependencies of the token service. The caller owns each one's lifetime. */
export interface TokenServiceDeps {
  readonly credentials: MasterCredentials;
  readonly conferenceKey: ConferenceSigningKey;
  readonly granter: TokenGranter;
  /** Wall clock in Unix milliseconds. */
  readonly now: () => number;
  /** Maximum token lifetime this deployment issues, in minutes, at most 43200. */
  readonly maxMinutes: number;
  /** Time a call without a deadline may take, in milliseconds. */
  readonly callBudgetMs: number;
  /** Chat permissions embedded in conference tokens, by role. */
  readonly roleChatPermissions: RoleChatPermissions;
}

const ROLE_CLAIMS: ReadonlyMap<Role, ConferenceRole> = new Map([
  [Role.ADMIN, "admin"],
  [Role.PUBLISHER, "publisher"],
  [Role.SUBSCRIBER, "subscriber"],
]);

/** Creates the TokenService handlers. */
export function createTokenService(deps: TokenServiceDeps): ServiceImpl<typeof TokenService> {
  return {
    issueConferenceToken: (request, context) => issueConferenceToken(deps, request, context),
    issueChatToken: (request, context) => issueChatToken(deps, request, context),
  };
}

async function issueConferenceToken(
  deps: TokenServiceDeps,
  request: IssueConferenceTokenRequest,
  context: HandlerContext,
): Promise<IssueConferenceTokenResponse> {
  const minutes = checkRequest(IssueConferenceTokenRequestSchema, request, "expiration_minutes", request.expirationMinutes, deps.maxMinutes);
  const role = ROLE_CLAIMS.get(request.role);
  if (role === undefined) {
    throw new Error(`role ${request.role} passed validation but has no claim value`);
  }
  const caller = context.values.get(CALLER);
  if (caller !== undefined) {
    rejectDenial(checkConferenceRequest(caller.caller.policy, { roomId: request.roomId, role, minutes }));
  }

  const issuedAt = unixSeconds(deps.now());
  const chat = chatPermissionsForRole(deps.roleChatPermissions, role);
  const grants = channelWithPresence(request.roomId, chat.read, chat.write);
  const pubnubToken = await grant(deps, context, request.userId, minutes, grants);
  const token = await signConferenceToken(
    {
      userId: request.userId,
      roomId: request.roomId,
      role,
      pubnubSubscribeKey: deps.credentials.pubnubSubscribeKey,
      pubnubPublishKey: deps.credentials.pubnubPublishKey,
      pubnubToken,
      issuedAt,
      expirationMinutes: minutes,
    },
    deps.conferenceKey,
  );

  return create(IssueConferenceTokenResponseSchema, {
    token,
    issueTime: timestampFromMs(issuedAt * 1000),
    expireTime: timestampFromMs((issuedAt + minutes * 60) * 1000),
    role: request.role,
    chatGrants: grants.map((permission) => create(ChannelGrantSchema, permission)),
  });
}

async function issueChatToken(
  deps: TokenServiceDeps,
  request: IssueChatTokenRequest,
  context: HandlerContext,
): Promise<IssueChatTokenResponse> {
  const minutes = checkRequest(IssueChatTokenRequestSchema, request, "ttl_minutes", request.ttlMinutes, deps.maxMinutes);
  const caller = context.values.get(CALLER);
  if (caller !== undefined) {
    const { channelId, read, write } = request;
    rejectDenial(checkChatRequest(caller.caller.policy, { channelId, read, write, minutes }));
  }
  const issuedAt = unixSeconds(deps.now());
  const grants = channelWithPresence(request.channelId, request.read, request.write);
  const token = await grant(deps, context, request.userId, minutes, grants);

  return create(IssueChatTokenResponseSchema, {
    token,
    issueTime: timestampFromMs(issuedAt * 1000),
    expireTime: timestampFromMs((issuedAt + minutes * 60) * 1000),
    grants: grants.map((permission) => create(ChannelGrantSchema, permission)),
  });
}

/**
 * Checks a request against its declared rules and the deployment's maximum lifetime, and returns
 * the lifetime in minutes, 60 when unset. Throws INVALID_ARGUMENT listing every broken rule.
 */
function checkRequest<Desc extends DescMessage>(
  schema: Desc,
  request: MessageShape<Desc>,
  minutesField: string,
  minutes: number | undefined,
  maxMinutes: number,
): number {
  const violations = [...checkDeclaredRules(schema, request), ...checkMaxMinutes(minutesField, minutes, maxMinutes)];
  if (violations.length > 0) {
    throw invalidArgument(violations);
  }
  return minutes ?? DEFAULT_TOKEN_MINUTES;
}

/** Throws PERMISSION_DENIED for a request outside the caller's policy. */
function rejectDenial(denial: PolicyDenial | undefined): void {
  if (denial !== undefined) {
    throw permissionDenied(denial.rule, denial.message);
  }
}

/** Asks PubNub for a token within the call's deadline, or the server's budget when it has none. */
function grant(
  deps: TokenServiceDeps,
  context: HandlerContext,
  userId: string,
  ttlMinutes: number,
  permissions: readonly ChannelPermission[],
): Promise<string> {
  const channels = Object.fromEntries(permissions.map((permission) => [permission.channel, permissionBits(permission)]));
  const timeoutMs = context.timeoutMs() ?? deps.callBudgetMs;
  return deps.granter.grantToken({ authorizedUuid: userId, ttlMinutes, channels }, timeoutMs, context.signal);
}

function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}
