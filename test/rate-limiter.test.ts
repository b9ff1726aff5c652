import { describe, expect, it } from "vitest";
import { BUCKET_SWEEP_THRESHOLD, createRateLimiter, type RateLimit, type RateLimiter } from "../src/auth/rate-limiter.js";

/** Creates a clock that moves only when the test advances it. */
function manualClock(start = 1_700_000_000_000) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

function setup() {
  const clock = manualClock();
  return { clock, limiter: createRateLimiter({ now: clock.now }) };
}

/** Takes `count` tokens and checks that every call is allowed. */
function takeAllowed(limiter: RateLimiter, caller: string, limit: RateLimit, count: number): void {
  for (let i = 0; i < count; i++) {
    expect(limiter.take(caller, limit), `call ${i + 1} of ${count}`).toEqual({ allowed: true });
  }
}

const ALLOWED = { allowed: true };
const denied = (retryAfterMs: number) => ({ allowed: false, retryAfterMs });

describe("createRateLimiter", () => {
  it.each([1, 2, 3, 10, 100])("allows a burst of %i then denies", (burst) => {
    const { limiter } = setup();
    const limit = { perSecond: 1, burst };

    takeAllowed(limiter, "billing", limit, burst);

    expect(limiter.take("billing", limit)).toEqual(denied(1000));
  });

  it("allows the integer part of a fractional burst", () => {
    const { limiter } = setup();
    const limit = { perSecond: 1, burst: 2.5 };

    takeAllowed(limiter, "billing", limit, 2);

    expect(limiter.take("billing", limit)).toEqual(denied(500));
  });

  const rates: { perSecond: number; retryAfterMs: number }[] = [
    { perSecond: 2, retryAfterMs: 500 },
    { perSecond: 1, retryAfterMs: 1000 },
    { perSecond: 3, retryAfterMs: 334 },
    { perSecond: 7, retryAfterMs: 143 },
    { perSecond: 10, retryAfterMs: 100 },
    { perSecond: 1000, retryAfterMs: 1 },
    { perSecond: 5000, retryAfterMs: 1 },
    { perSecond: 0.5, retryAfterMs: 2000 },
    { perSecond: 0.3, retryAfterMs: 3334 },
    { perSecond: 1 / 60, retryAfterMs: 60_000 },
  ];

  it.each(rates)("denies for $retryAfterMs ms at $perSecond per second", ({ perSecond, retryAfterMs }) => {
    const { limiter } = setup();
    const limit = { perSecond, burst: 1 };

    expect(limiter.take("billing", limit)).toEqual(ALLOWED);

    expect(limiter.take("billing", limit)).toEqual(denied(retryAfterMs));
  });

  it.each(rates)("recovers after exactly retryAfterMs at $perSecond per second", ({ perSecond, retryAfterMs }) => {
    const { clock, limiter } = setup();
    const limit = { perSecond, burst: 1 };
    limiter.take("billing", limit);

    clock.advance(retryAfterMs - 1);
    expect(limiter.take("billing", limit)).toEqual(denied(1));

    clock.advance(1);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  // At these rates the floating-point estimate of the wait is one millisecond off in either
  // direction, and retryAfterMs must still be the first millisecond at which take() is allowed.
  const roundedWaits: { perSecond: number; idleMs: number; retryAfterMs: number }[] = [
    { perSecond: 1 / 3, idleMs: 2, retryAfterMs: 2998 },
    { perSecond: 1 / 49, idleMs: 13, retryAfterMs: 48_988 },
  ];

  it.each(roundedWaits)("corrects a rounded wait of $retryAfterMs ms", ({ perSecond, idleMs, retryAfterMs }) => {
    const { clock, limiter } = setup();
    const limit = { perSecond, burst: 1 };
    limiter.take("billing", limit);
    clock.advance(idleMs);

    expect(limiter.take("billing", limit)).toEqual(denied(retryAfterMs));
    clock.advance(retryAfterMs - 1);
    expect(limiter.take("billing", limit)).toEqual(denied(1));
    clock.advance(1);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  it("keeps fractional tokens", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 1, burst: 2 };
    takeAllowed(limiter, "billing", limit, 2);

    clock.advance(1500);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
    expect(limiter.take("billing", limit)).toEqual(denied(500));

    clock.advance(500);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  it("keeps exact time after a fractional token", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 1, burst: 2 };
    takeAllowed(limiter, "billing", limit, 2);
    clock.advance(1001);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);

    expect(limiter.take("billing", limit)).toEqual(denied(999));
    clock.advance(998);
    expect(limiter.take("billing", limit)).toEqual(denied(1));
    clock.advance(1);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  it("refills in small steps", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 10, burst: 1 };
    limiter.take("billing", limit);

    clock.advance(30);
    expect(limiter.take("billing", limit)).toEqual(denied(70));
    clock.advance(30);
    expect(limiter.take("billing", limit)).toEqual(denied(40));
    clock.advance(39);
    expect(limiter.take("billing", limit)).toEqual(denied(1));
    clock.advance(1);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  it("refills up to burst only", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 100, burst: 3 };
    takeAllowed(limiter, "billing", limit, 3);

    clock.advance(3_600_000);

    takeAllowed(limiter, "billing", limit, 3);
    expect(limiter.take("billing", limit)).toEqual(denied(10));
  });

  it("takes nothing on a denied call", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 2, burst: 1 };
    limiter.take("billing", limit);

    for (let i = 0; i < 5; i++) {
      expect(limiter.take("billing", limit)).toEqual(denied(500));
    }
    clock.advance(500);

    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  it("keeps callers independent", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 1, burst: 2 };
    takeAllowed(limiter, "billing", limit, 2);

    takeAllowed(limiter, "reports", limit, 2);
    clock.advance(400);

    expect(limiter.take("billing", limit)).toEqual(denied(600));
    expect(limiter.take("reports", limit)).toEqual(denied(600));
    takeAllowed(limiter, "audit", limit, 2);
  });

  it("treats Object.prototype names as plain callers", () => {
    const { limiter } = setup();
    const limit = { perSecond: 1, burst: 1 };

    for (const caller of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(limiter.take(caller, limit), caller).toEqual(ALLOWED);
      expect(limiter.take(caller, limit), caller).toEqual(denied(1000));
    }
    expect(limiter.size).toBe(4);
  });

  it("applies a lower burst to the tokens held", () => {
    const { limiter } = setup();
    limiter.take("billing", { perSecond: 1, burst: 5 });

    expect(limiter.take("billing", { perSecond: 1, burst: 1 })).toEqual(ALLOWED);
    expect(limiter.take("billing", { perSecond: 1, burst: 1 })).toEqual(denied(1000));
  });

  it("adds no tokens when burst rises", () => {
    const { clock, limiter } = setup();
    limiter.take("billing", { perSecond: 1, burst: 1 });
    const raised = { perSecond: 10, burst: 5 };

    expect(limiter.take("billing", raised)).toEqual(denied(100));
    clock.advance(100);
    expect(limiter.take("billing", raised)).toEqual(ALLOWED);
    expect(limiter.take("billing", raised)).toEqual(denied(100));
  });

  it("refills at the rate of each call", () => {
    const { clock, limiter } = setup();
    limiter.take("billing", { perSecond: 1, burst: 1 });
    clock.advance(250);

    expect(limiter.take("billing", { perSecond: 1, burst: 1 })).toEqual(denied(750));
    expect(limiter.take("billing", { perSecond: 2, burst: 1 })).toEqual(denied(250));
    expect(limiter.take("billing", { perSecond: 4, burst: 1 })).toEqual(ALLOWED);
  });

  it("adds no tokens when the clock steps back", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 1, burst: 1 };
    limiter.take("billing", limit);

    clock.advance(-5000);
    expect(limiter.take("billing", limit)).toEqual(denied(6000));

    clock.advance(5999);
    expect(limiter.take("billing", limit)).toEqual(denied(1));
    clock.advance(1);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
  });

  it("allows held tokens when the clock steps back", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 1, burst: 2 };
    limiter.take("billing", limit);

    clock.advance(-5000);
    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
    expect(limiter.take("billing", limit)).toEqual(denied(6000));
  });

  it("refills from the latest call after the clock steps back", () => {
    const { clock, limiter } = setup();
    const limit = { perSecond: 1, burst: 2 };
    limiter.take("billing", limit);
    clock.advance(-5000);
    limiter.take("billing", limit);

    clock.advance(5000);

    expect(limiter.take("billing", limit)).toEqual(denied(1000));
  });

  it("caps retryAfterMs for a tiny rate", () => {
    const { limiter } = setup();
    const limit = { perSecond: 1e-300, burst: 1 };
    limiter.take("billing", limit);

    expect(limiter.take("billing", limit)).toEqual(denied(Number.MAX_SAFE_INTEGER));
  });

  const invalidLimits: { name: string; limit: Record<keyof RateLimit, unknown>; message: string }[] = [
    { name: "perSecond 0", limit: { perSecond: 0, burst: 1 }, message: "limit.perSecond must be a finite number greater than 0; got 0" },
    { name: "negative perSecond", limit: { perSecond: -1, burst: 1 }, message: "limit.perSecond must be a finite number greater than 0; got -1" },
    { name: "perSecond NaN", limit: { perSecond: Number.NaN, burst: 1 }, message: "limit.perSecond must be a finite number greater than 0; got NaN" },
    { name: "infinite perSecond", limit: { perSecond: Infinity, burst: 1 }, message: "limit.perSecond must be a finite number greater than 0; got Infinity" },
    { name: "perSecond as a string", limit: { perSecond: "2", burst: 1 }, message: "limit.perSecond must be a finite number greater than 0; got string" },
    { name: "missing perSecond", limit: { perSecond: undefined, burst: 1 }, message: "limit.perSecond must be a finite number greater than 0; got undefined" },
    { name: "burst 0", limit: { perSecond: 1, burst: 0 }, message: "limit.burst must be a finite number of at least 1; got 0" },
    { name: "burst 0.999", limit: { perSecond: 1, burst: 0.999 }, message: "limit.burst must be a finite number of at least 1; got 0.999" },
    { name: "negative burst", limit: { perSecond: 1, burst: -1 }, message: "limit.burst must be a finite number of at least 1; got -1" },
    { name: "burst NaN", limit: { perSecond: 1, burst: Number.NaN }, message: "limit.burst must be a finite number of at least 1; got NaN" },
    { name: "infinite burst", limit: { perSecond: 1, burst: Infinity }, message: "limit.burst must be a finite number of at least 1; got Infinity" },
    { name: "burst as a string", limit: { perSecond: 1, burst: "3" }, message: "limit.burst must be a finite number of at least 1; got string" },
    { name: "both invalid", limit: { perSecond: 0, burst: 0 }, message: "limit.perSecond must be a finite number greater than 0; got 0" },
  ];

  it.each(invalidLimits)("rejects $name", ({ limit, message }) => {
    const { limiter } = setup();

    expect(() => limiter.take("billing", limit as RateLimit)).toThrow(new TypeError(message));
    expect(limiter.size).toBe(0);
  });

  it("leaves the bucket unchanged on an invalid limit", () => {
    const { limiter } = setup();
    const limit = { perSecond: 2, burst: 1 };
    limiter.take("billing", limit);

    expect(() => limiter.take("billing", { perSecond: 2, burst: 0 })).toThrow(TypeError);

    expect(limiter.take("billing", limit)).toEqual(denied(500));
  });

  it("accepts the smallest valid limit", () => {
    const { limiter } = setup();
    const limit = { perSecond: Number.MIN_VALUE, burst: 1 };

    expect(limiter.take("billing", limit)).toEqual(ALLOWED);
    expect(limiter.take("billing", limit)).toEqual(denied(Number.MAX_SAFE_INTEGER));
  });

  it.each([Number.NaN, Infinity])("rejects a clock that returns %s", (time) => {
    const limiter = createRateLimiter({ now: () => time });

    expect(() => limiter.take("billing", { perSecond: 1, burst: 1 })).toThrow(
      new TypeError(`now() must return a finite number of milliseconds; got ${time}`),
    );
  });
});

/** Creates a seeded pseudo-random number generator over [0, 1), so that a failure can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

/**
 * Creates a reference token bucket for whole rates, bursts and milliseconds. It counts thousandths
 * of a token in exact integer arithmetic, and the limiter must match it call for call.
 */
function exactBucket(perSecond: number, burst: number): (now: number) => { allowed: boolean; retryAfterMs?: number } {
  let units = burst * 1000;
  let updatedAt = 0;
  return (now) => {
    units = Math.min(burst * 1000, units + (now - updatedAt) * perSecond);
    updatedAt = now;
    if (units >= 1000) {
      units -= 1000;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1000 - units) / perSecond) };
  };
}

describe("createRateLimiter over random call sequences", () => {
  it("matches exact arithmetic at whole rates", () => {
    const random = seededRandom(12_345);
    for (let run = 0; run < 1000; run++) {
      const perSecond = 1 + Math.floor(random() * 50);
      const burst = 1 + Math.floor(random() * 5);
      let time = 0;
      const limiter = createRateLimiter({ now: () => time });
      const expected = exactBucket(perSecond, burst);

      for (let step = 0; step < 50; step++) {
        time += Math.floor(random() * 400);
        const context = `run ${run}, step ${step}, perSecond ${perSecond}, burst ${burst}, time ${time}`;
        expect(limiter.take("billing", { perSecond, burst }), context).toEqual(expected(time));
      }
    }
  });

  it("allows exactly retryAfterMs later at fractional rates", () => {
    const random = seededRandom(67_890);
    for (let run = 0; run < 500; run++) {
      const perSecond = random() < 0.5 ? 0.01 + random() * 50 : 1 / (1 + Math.floor(random() * 1000));
      const limit = { perSecond, burst: 1 + random() * 5 };
      const clock = manualClock();
      const limiter = createRateLimiter({ now: clock.now });

      for (let step = 0; step < 50; step++) {
        clock.advance(Math.floor(random() * 400));
        const decision = limiter.take("billing", limit);
        if (decision.allowed) {
          continue;
        }

        const context = `run ${run}, step ${step}, perSecond ${limit.perSecond}, burst ${limit.burst}`;
        expect(Number.isInteger(decision.retryAfterMs), context).toBe(true);
        if (decision.retryAfterMs > 1) {
          clock.advance(decision.retryAfterMs - 1);
          expect(limiter.take("billing", limit), context).toEqual(denied(1));
          clock.advance(1);
        } else {
          clock.advance(decision.retryAfterMs);
        }
        expect(limiter.take("billing", limit), context).toEqual(ALLOWED);
      }
    }
  });
});

describe("createRateLimiter memory bound", () => {
  const limit = { perSecond: 1, burst: 1 };

  /** Sends one call for each of `count` new callers named `${prefix}-${index}`. */
  function addCallers(limiter: RateLimiter, prefix: string, count: number): void {
    for (let i = 0; i < count; i++) {
      limiter.take(`${prefix}-${i}`, limit);
    }
  }

  it("keeps every bucket below the threshold", () => {
    const { clock, limiter } = setup();
    addCallers(limiter, "old", BUCKET_SWEEP_THRESHOLD - 1);
    clock.advance(3_600_000);

    limiter.take("new", limit);

    expect(limiter.size).toBe(BUCKET_SWEEP_THRESHOLD);
  });

  it("drops full buckets at the threshold", () => {
    const { clock, limiter } = setup();
    addCallers(limiter, "old", BUCKET_SWEEP_THRESHOLD);
    clock.advance(1000);

    limiter.take("new", limit);

    expect(limiter.size).toBe(1);
  });

  it("keeps buckets that are still refilling", () => {
    const { clock, limiter } = setup();
    addCallers(limiter, "old", BUCKET_SWEEP_THRESHOLD);
    clock.advance(999);

    limiter.take("new", limit);

    expect(limiter.size).toBe(BUCKET_SWEEP_THRESHOLD + 1);
    expect(limiter.take("old-0", limit)).toEqual(denied(1));
  });

  it("keeps only the buckets not yet full", () => {
    const { clock, limiter } = setup();
    addCallers(limiter, "old", BUCKET_SWEEP_THRESHOLD);
    clock.advance(1000);
    for (let i = 0; i < 100; i++) {
      limiter.take(`old-${i}`, limit);
    }

    limiter.take("new", limit);

    expect(limiter.size).toBe(101);
    expect(limiter.take("old-0", limit)).toEqual(denied(1000));
  });

  it("starts a dropped caller with a full bucket", () => {
    const { clock, limiter } = setup();
    const burstOfThree = { perSecond: 1, burst: 3 };
    limiter.take("billing", burstOfThree);
    addCallers(limiter, "old", BUCKET_SWEEP_THRESHOLD - 1);
    clock.advance(1000);
    limiter.take("new", limit);
    expect(limiter.size).toBe(1);

    takeAllowed(limiter, "billing", burstOfThree, 3);

    expect(limiter.take("billing", burstOfThree)).toEqual(denied(1000));
  });

  it("sweeps with the limit of the latest call", () => {
    const { clock, limiter } = setup();
    limiter.take("billing", { perSecond: 1000, burst: 1 });
    const slow = { perSecond: 1, burst: 1 };
    expect(limiter.take("billing", slow)).toEqual(denied(1000));
    addCallers(limiter, "old", BUCKET_SWEEP_THRESHOLD - 1);
    clock.advance(500);

    limiter.take("new", limit);

    expect(limiter.take("billing", slow)).toEqual(denied(500));
  });

  it("waits for twice the kept buckets before the next sweep", () => {
    const { clock, limiter } = setup();
    addCallers(limiter, "first", BUCKET_SWEEP_THRESHOLD);
    clock.advance(999);
    limiter.take("new", limit);
    clock.advance(1000);

    addCallers(limiter, "second", BUCKET_SWEEP_THRESHOLD - 1);
    expect(limiter.size).toBe(2 * BUCKET_SWEEP_THRESHOLD);

    // The sweep drops the first callers and "new", which are full again, and keeps the second.
    limiter.take("third", limit);
    expect(limiter.size).toBe(BUCKET_SWEEP_THRESHOLD - 1 + 1);
  });
});
