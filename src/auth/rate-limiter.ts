/** Rate limit of one caller: a token bucket. */
export interface RateLimit {
  /** Tokens added per second, continuously. Positive and finite, and may be a fraction. */
  readonly perSecond: number;
  /**
   * Bucket capacity: the number of calls allowed at once after an idle period. Finite and at
   * least 1. A fractional capacity allows its integer part at once.
   */
  readonly burst: number;
}

/** Outcome of RateLimiter.take. */
export type RateLimitDecision =
  | { readonly allowed: true }
  /** retryAfterMs is the whole number of milliseconds until the caller's bucket contains one token. */
  | { readonly allowed: false; readonly retryAfterMs: number };

/** Dependencies of the rate limiter. */
export interface RateLimiterOptions {
  /** Current time in milliseconds, such as Date.now. */
  readonly now: () => number;
}

/** Per-caller token buckets. */
export interface RateLimiter {
  /**
   * Takes one token from the caller's bucket if it contains one. A denied call takes nothing.
   * Throws TypeError for an invalid limit, before any bucket changes.
   */
  take(caller: string, limit: RateLimit): RateLimitDecision;
  /** Number of buckets held, for monitoring and tests. */
  readonly size: number;
}

/**
 * Minimum number of buckets that a new caller must find before the limiter drops full buckets.
 * After each sweep, the next one waits for twice the buckets kept, or this number if that is larger.
 */
export const BUCKET_SWEEP_THRESHOLD = 1024;

/**
 * Buckets count thousandths of a token. With a whole rate, a whole burst and a clock in whole
 * milliseconds, refill is then exact integer arithmetic, and no rounding error builds up over calls.
 */
const UNITS_PER_TOKEN = 1000;

interface Bucket {
  /** Thousandths of a token at updatedAt, from 0 up to 1000 times the burst of the last call. */
  units: number;
  /** Time of the latest allowed call in milliseconds. A clock that steps back does not lower it. */
  updatedAt: number;
  /** Limit of the last call, which the sweep uses to decide whether the bucket is full. */
  limit: RateLimit;
}

/**
 * Creates a rate limiter with one token bucket per caller. A new caller's bucket starts full. Each
 * bucket refills continuously at perSecond up to burst, and each allowed call takes one token.
 * Buckets of different callers are independent. The limit is passed on every call, and a changed
 * limit applies to the tokens already in the bucket.
 *
 * Memory stays bounded: when a new caller arrives and the bucket count has reached the sweep
 * threshold (see BUCKET_SWEEP_THRESHOLD), every bucket that has refilled to its burst is dropped.
 * So the limiter keeps at most twice the buckets that were not full at the last sweep, or the
 * threshold if that is larger. Each sweep visits every bucket, but sweeps are at least as many new
 * callers apart as the buckets they keep, so the average cost per new caller stays constant.
 *
 * A dropped bucket behaves exactly like a kept one, because a new bucket also starts full. The
 * exception is a caller whose next call raises its burst. Its new bucket starts full at the new
 * burst, where a kept one would have to refill up to it.
 *
 * A clock that steps back adds no tokens, and the bucket refills again once the clock passes the
 * last allowed call.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const buckets = new Map<string, Bucket>();
  let sweepAtSize = BUCKET_SWEEP_THRESHOLD;

  function take(caller: string, limit: RateLimit): RateLimitDecision {
    validateLimit(limit);
    const current: RateLimit = { perSecond: limit.perSecond, burst: limit.burst };
    const now = readClock(options.now);

    let bucket = buckets.get(caller);
    if (bucket === undefined) {
      if (buckets.size >= sweepAtSize) {
        dropFullBuckets(buckets, now);
        sweepAtSize = Math.max(BUCKET_SWEEP_THRESHOLD, 2 * buckets.size);
      }
      bucket = { units: current.burst * UNITS_PER_TOKEN, updatedAt: now, limit: current };
      buckets.set(caller, bucket);
    }
    bucket.limit = current;

    const units = unitsAt(bucket, now, current);
    if (units < UNITS_PER_TOKEN) {
      return { allowed: false, retryAfterMs: msUntilOneToken(bucket, now, current) };
    }
    bucket.units = units - UNITS_PER_TOKEN;
    bucket.updatedAt = Math.max(bucket.updatedAt, now);
    return { allowed: true };
  }

  return {
    take,
    get size() {
      return buckets.size;
    },
  };
}

function validateLimit(limit: RateLimit): void {
  const { perSecond, burst } = limit;
  if (typeof perSecond !== "number" || !Number.isFinite(perSecond) || perSecond <= 0) {
    throw new TypeError(`limit.perSecond must be a finite number greater than 0; got ${formatValue(perSecond)}`);
  }
  if (typeof burst !== "number" || !Number.isFinite(burst) || burst < 1) {
    throw new TypeError(`limit.burst must be a finite number of at least 1; got ${formatValue(burst)}`);
  }
}

function formatValue(value: unknown): string {
  return typeof value === "number" ? String(value) : typeof value;
}

function readClock(now: () => number): number {
  const time = now();
  if (typeof time !== "number" || !Number.isFinite(time)) {
    throw new TypeError(`now() must return a finite number of milliseconds; got ${formatValue(time)}`);
  }
  return time;
}

/** Thousandths of a token in the bucket at time `at` under `limit`. take() and msUntilOneToken both use it. */
function unitsAt(bucket: Bucket, at: number, limit: RateLimit): number {
  const elapsedMs = Math.max(0, at - bucket.updatedAt);
  return Math.min(limit.burst * UNITS_PER_TOKEN, bucket.units + elapsedMs * limit.perSecond);
}

/**
 * Returns the smallest whole number of milliseconds after `now` at which the bucket contains one
 * token. With the same limit and no calls in between, a take() at now + retryAfterMs is allowed
 * and one millisecond earlier is denied. The result is capped at Number.MAX_SAFE_INTEGER for
 * rates so low that the wait exceeds it.
 */
function msUntilOneToken(bucket: Bucket, now: number, limit: RateLimit): number {
  const refillFrom = Math.max(now, bucket.updatedAt);
  const missingUnits = UNITS_PER_TOKEN - unitsAt(bucket, refillFrom, limit);
  let waitMs = Math.ceil(refillFrom - now + missingUnits / limit.perSecond);
  if (waitMs >= Number.MAX_SAFE_INTEGER) {
    return Number.MAX_SAFE_INTEGER;
  }

  // With a fractional rate or clock, rounding can put the estimate one millisecond off the wait
  // at which unitsAt, computed the same way as in take(), first reaches one token.
  if (waitMs > 1 && unitsAt(bucket, now + waitMs - 1, limit) >= UNITS_PER_TOKEN) {
    waitMs -= 1;
  } else if (unitsAt(bucket, now + waitMs, limit) < UNITS_PER_TOKEN) {
    waitMs += 1;
  }
  return waitMs;
}

function dropFullBuckets(buckets: Map<string, Bucket>, now: number): void {
  for (const [caller, bucket] of buckets) {
    if (unitsAt(bucket, now, bucket.limit) >= bucket.limit.burst * UNITS_PER_TOKEN) {
      buckets.delete(caller);
    }
  }
}
