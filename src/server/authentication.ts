import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { parseBearerHeader } from "../auth/api-keys.js";
import { CALLER, PEER_CERTIFICATE, type CallerIdentity } from "../auth/caller-context.js";
import type { CallerRegistry } from "../auth/callers.js";
import type { RateLimiter } from "../auth/rate-limiter.js";
import { retryInfo } from "../service/errors.js";

/** Settings of authentication: the configured callers and the rate limiter they share. */
export interface AuthenticationOptions {
  readonly registry: CallerRegistry;
  readonly limiter: RateLimiter;
  /** Fully-qualified names of the services that require a caller, such as TokenService. */
  readonly protectedServices: ReadonlySet<string>;
  /** Called with the caller's name for each call its rate limit rejects. */
  readonly onRateLimited?: (caller: string) => void;
}

/** One message for every authentication failure, so that it reveals nothing about which part failed. */
const UNAUTHENTICATED_MESSAGE = "missing or invalid credentials";

/**
 * Creates the interceptor that identifies the caller of each protected call, by bearer API key or
 * by client certificate, applies the caller's rate limit, and stores the caller for the handlers.
 * Health and reflection stay open to everyone.
 */
export function createAuthenticationInterceptor(options: AuthenticationOptions): Interceptor {
  return (next) => async (request) => {
    if (!options.protectedServices.has(request.service.typeName)) {
      return next(request);
    }

    const identity = identify(request.header.get("authorization"), request.contextValues.get(PEER_CERTIFICATE), options.registry);
    if (identity === undefined) {
      throw new ConnectError(UNAUTHENTICATED_MESSAGE, Code.Unauthenticated);
    }

    // Set before the rate limit, so that the audit record of a rate-limited call names its caller.
    request.contextValues.set(CALLER, identity);
    const limit = identity.caller.rateLimit;
    if (limit !== undefined) {
      const decision = options.limiter.take(identity.caller.name, limit);
      if (!decision.allowed) {
        options.onRateLimited?.(identity.caller.name);
        throw rateLimited(decision.retryAfterMs);
      }
    }

    return next(request);
  };
}

/**
 * Finds the caller. An authorization header, when present, decides alone: a wrong key fails even
 * if a valid certificate came with it. Otherwise a certificate that chains to the client CA
 * identifies the caller by the first of its subject alternative names that is configured.
 */
function identify(
  authorization: string | null,
  certificate: { authorized: boolean; subjectAltNames: readonly string[] } | undefined,
  registry: CallerRegistry,
): CallerIdentity | undefined {
  if (authorization !== null) {
    const key = parseBearerHeader(authorization);
    const verified = key === undefined ? undefined : registry.apiKeys.verify(key);
    const caller = verified === undefined ? undefined : registry.callers.get(verified.caller);
    return caller === undefined || verified === undefined ? undefined : { caller, authenticatedBy: `api-key:${verified.keyId}` };
  }

  if (certificate === undefined || !certificate.authorized) {
    return undefined;
  }
  for (const name of certificate.subjectAltNames) {
    const callerName = registry.tlsIdentities.get(name);
    const caller = callerName === undefined ? undefined : registry.callers.get(callerName);
    if (caller !== undefined) {
      return { caller, authenticatedBy: `mtls:${name}` };
    }
  }
  return undefined;
}

function rateLimited(retryAfterMs: number): ConnectError {
  return new ConnectError(`rate limit exceeded for this caller; retry after ${retryAfterMs} ms`, Code.ResourceExhausted, undefined, [
    retryInfo(retryAfterMs),
  ]);
}
