import { describe, expect, it } from "vitest";
import { run } from "./support/process.js";

describe("cluster metrics", () => {
  it("counts a worker whose channel closed before it exited", async () => {
    const result = await run("node", ["--import", "tsx", "test/fixtures/cluster-metrics.ts"], { timeoutMs: 30_000 });

    expect(result.code, result.stderr).toBe(0);
    // A missing value means the series vanished from the sum, which Prometheus reads as a reset.
    expect(JSON.parse(result.stdout)).toEqual({ before: 10, whileClosed: 10, after: 10 });
  });
});
