import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Many tests start servers, child processes, git clones or buf; on a busy 2-core machine a
    // few take several seconds, so vitest's 5 s default is too tight. These are limits, not
    // speed targets.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
