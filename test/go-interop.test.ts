import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goTestResults, interopEnv, saveSuiteOutput } from "./support/foreign-suite.js";
import { startHarness, type Harness } from "./support/harness.js";
import { run } from "./support/process.js";

// The Go suites compare token times with the real clock, so this server runs on it too.
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ now: Date.now, emulatorNow: Date.now });
});

afterAll(async () => {
  await harness.close();
});

const GO_TIMEOUT_MS = 300_000;

describe("Go", () => {
  it("builds and vets the generated module", async () => {
    // On a machine without the modules in its cache, go reports each download on stderr, so the
    // modules are fetched first and only vet and build must be silent.
    const download = await run("bash", ["-c", "cd gen/go && go mod download"], { timeoutMs: GO_TIMEOUT_MS });
    const result = await run("bash", ["-c", "cd gen/go && go vet ./... && go build ./..."], { timeoutMs: GO_TIMEOUT_MS });

    expect(download.code, download.stderr).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  }, GO_TIMEOUT_MS);

  it.each(["clients/go", "examples/go"])("passes %s against the live server", async (directory) => {
    const result = await run("bash", ["-c", `cd ${directory} && go vet ./... && go test -count=1 -json ./...`], {
      env: interopEnv(harness),
      timeoutMs: GO_TIMEOUT_MS,
    });
    saveSuiteOutput(`go-${directory.replace("/", "-")}.jsonl`, result.stdout);

    const results = goTestResults(result.stdout);
    const failed = results.filter((test) => test.action === "fail").map((test) => test.name);
    const skipped = results.filter((test) => test.action === "skip").map((test) => test.name);
    expect(failed, result.stderr).toEqual([]);
    // The interop cases skip themselves without a server: none may skip here.
    expect(skipped).toEqual([]);
    expect(result.code).toBe(0);
    expect(results.filter((test) => test.action === "pass").length).toBeGreaterThan(0);
  }, GO_TIMEOUT_MS);
});
