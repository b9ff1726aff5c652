/** State of a circuit breaker. */
export type CircuitState = "closed" | "open" | "half-open";

/** Settings of a circuit breaker. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. At least 1. */
  readonly failureThreshold: number;
  /** Time the circuit stays open before one trial call may pass, in milliseconds. */
  readonly openMs: number;
  /** Clock in milliseconds, such as Date.now. */
  readonly now: () => number;
}

/** Whether a call may go ahead, and if not, when to try again. */
export type CircuitDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/**
 * A circuit breaker around an upstream. After failureThreshold consecutive failures it opens and
 * rejects calls at once for openMs. Then it lets one trial call through (half-open): its success
 * closes the circuit, its failure opens it again.
 */
export class CircuitBreaker {
  private currentState: CircuitState = "closed";
  private consecutiveFailures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private readonly listeners = new Set<(state: CircuitState) => void>();

  constructor(private readonly options: CircuitBreakerOptions) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
      throw new TypeError(`failureThreshold must be a whole number of at least 1; got ${options.failureThreshold}`);
    }
    if (!Number.isFinite(options.openMs) || options.openMs <= 0) {
      throw new TypeError(`openMs must be a positive number of milliseconds; got ${options.openMs}`);
    }
  }

  get state(): CircuitState {
    return this.currentState;
  }

  /** Decides whether a call may go ahead; a call that may must report its outcome. */
  check(): CircuitDecision {
    if (this.currentState === "closed") {
      return { allowed: true };
    }
    const retryAfterMs = this.openedAt + this.options.openMs - this.options.now();
    if (this.currentState === "open" && retryAfterMs > 0) {
      return { allowed: false, retryAfterMs: Math.ceil(retryAfterMs) };
    }
    if (this.trialInFlight) {
      return { allowed: false, retryAfterMs: this.options.openMs };
    }
    this.setState("half-open");
    this.trialInFlight = true;
    return { allowed: true };
  }

  /** Records that the upstream responded, which closes the circuit. */
  recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.trialInFlight = false;
    this.setState("closed");
  }

  /** Records that the upstream failed; enough failures in a row, or a failed trial, open the circuit. */
  recordFailure(): void {
    this.consecutiveFailures++;
    if (this.currentState === "half-open" || this.consecutiveFailures >= this.options.failureThreshold) {
      this.trialInFlight = false;
      this.openedAt = this.options.now();
      this.setState("open");
    }
  }

  /** Records a call that ended without a response either way, such as one the caller cancelled. */
  recordAbandoned(): void {
    this.trialInFlight = false;
  }

  /** Calls listener on every state change; returns a function that removes it. */
  onStateChange(listener: (state: CircuitState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setState(state: CircuitState): void {
    if (state === this.currentState) {
      return;
    }
    this.currentState = state;
    for (const listener of this.listeners) {
      listener(state);
    }
  }
}
