import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The service's Prometheus metrics. Labels carry names and codes only, never ids or tokens. */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** Finished calls by procedure and gRPC code name. */
  readonly calls: Counter<"procedure" | "code">;
  /** Call latency by procedure, in seconds. */
  readonly callSeconds: Histogram<"procedure">;
  /** Calls in progress by procedure. */
  readonly callsInFlight: Gauge<"procedure">;
  /** Tokens issued by kind ("conference" or "chat") and role ("" for chat tokens). */
  readonly tokensIssued: Counter<"kind" | "role">;
  /** Latency of each PubNub grant attempt by outcome, in seconds. */
  readonly upstreamSeconds: Histogram<"outcome">;
  /** PubNub grant retries. */
  readonly upstreamRetries: Counter;
  /** Failed PubNub grants by cause (unavailable, deadline-exceeded, rejected, invalid, cancelled). */
  readonly upstreamFailures: Counter<"cause">;
  /** Calls rejected by a caller's rate limit, by caller name. */
  readonly rateLimited: Counter<"caller">;
  /** 1 while the PubNub circuit breaker is open, else 0. */
  readonly circuitOpen: Gauge;
}

/** Latency buckets in seconds, from 1 ms to 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Creates the metrics on a registry of their own, with Node.js process metrics. */
export function createMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  return {
    registry,
    calls: new Counter({ name: "token_service_calls_total", help: "Finished calls by procedure and gRPC code.", labelNames: ["procedure", "code"], registers }),
    callSeconds: new Histogram({ name: "token_service_call_duration_seconds", help: "Call latency in seconds.", labelNames: ["procedure"], buckets: LATENCY_BUCKETS, registers }),
    callsInFlight: new Gauge({ name: "token_service_calls_in_flight", help: "Calls in progress.", labelNames: ["procedure"], registers }),
    tokensIssued: new Counter({ name: "token_service_tokens_issued_total", help: "Tokens issued by kind and role.", labelNames: ["kind", "role"], registers }),
    upstreamSeconds: new Histogram({ name: "token_service_pubnub_grant_attempt_duration_seconds", help: "PubNub grant attempt latency in seconds, by outcome.", labelNames: ["outcome"], buckets: LATENCY_BUCKETS, registers }),
    upstreamRetries: new Counter({ name: "token_service_pubnub_grant_retries_total", help: "PubNub grant retries.", registers }),
    upstreamFailures: new Counter({ name: "token_service_pubnub_grant_failures_total", help: "Failed PubNub grants by cause.", labelNames: ["cause"], registers }),
    rateLimited: new Counter({ name: "token_service_rate_limited_total", help: "Calls rejected by a caller's rate limit.", labelNames: ["caller"], registers }),
    // "max": summed over cluster workers, the gauge would count workers rather than read 1.
    circuitOpen: new Gauge({ name: "token_service_pubnub_circuit_open", help: "1 while the PubNub circuit breaker is open.", registers, aggregator: "max" }),
  };
}
