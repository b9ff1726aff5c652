import { createContextKey } from "@connectrpc/connect";
import type { AuditCaller } from "./audit.js";
import type { Caller } from "./callers.js";

/** The authenticated caller of a call, and how it authenticated. */
export interface CallerIdentity {
  readonly caller: Caller;
  readonly authenticatedBy: AuditCaller["authenticatedBy"];
}

/**
 * The caller of the current call, set by the authentication interceptor. Undefined when the
 * server runs without caller authentication.
 */
export const CALLER = createContextKey<CallerIdentity | undefined>(undefined, { description: "authenticated caller" });

/** The client certificate of a TLS connection, as the TLS layer checked it. */
export interface PeerCertificate {
  /** Whether the certificate chains to the configured client CA and is within its validity. */
  readonly authorized: boolean;
  /** Subject alternative names as Node.js writes them, such as "URI:spiffe://..." or "DNS:name". */
  readonly subjectAltNames: readonly string[];
}

/** The client certificate of the current call, when it came over TLS with one. */
export const PEER_CERTIFICATE = createContextKey<PeerCertificate | undefined>(undefined, { description: "peer certificate" });
