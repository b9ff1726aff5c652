import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { interopEnv, saveSuiteOutput } from "./support/foreign-suite.js";
import { startHarness, type Harness } from "./support/harness.js";
import { REPO_ROOT, run } from "./support/process.js";

// The Java suites compare token times with the real clock, so this server runs on it too.
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ now: Date.now, emulatorNow: Date.now });
});

afterAll(async () => {
  await harness.close();
});

/** Maven's first run downloads its plugins and dependencies from Maven Central. */
const MAVEN_TIMEOUT_MS = 600_000;

interface SurefireTotals {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

/** Sums the Surefire XML reports of a project and saves them for CI's count. */
function surefireTotals(project: string): SurefireTotals {
  const directory = join(REPO_ROOT, project, "target/surefire-reports");
  const totals: SurefireTotals = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const name of readdirSync(directory).filter((file) => file.endsWith(".xml"))) {
    const text = readFileSync(join(directory, name), "utf8");
    saveSuiteOutput(`java-${project.replace("/", "-")}-${name}`, text);
    const suite = /<testsuite\b[^>]*>/.exec(text)?.[0] ?? "";
    for (const key of Object.keys(totals) as (keyof SurefireTotals)[]) {
      totals[key] += Number(new RegExp(`\\b${key}="(\\d+)"`).exec(suite)?.[1] ?? 0);
    }
  }
  return totals;
}

describe("Java", () => {
  it("builds the generated stubs jar", async () => {
    const result = await run("mvn", ["-B", "-q", "-f", "gen/java/pom.xml", "install"], { timeoutMs: MAVEN_TIMEOUT_MS });

    expect(result.code, result.stdout + result.stderr).toBe(0);
  }, MAVEN_TIMEOUT_MS);

  it.each(["clients/java", "examples/java"])("passes %s against the live server", async (project) => {
    const result = await run("mvn", ["-B", "-f", `${project}/pom.xml`, "clean", "install"], {
      env: interopEnv(harness),
      timeoutMs: MAVEN_TIMEOUT_MS,
    });

    expect(result.code, result.stdout.slice(-4000)).toBe(0);
    const totals = surefireTotals(project);
    expect(totals.failures + totals.errors).toBe(0);
    // The interop cases skip themselves without a server: none may skip here.
    expect(totals.skipped).toBe(0);
    expect(totals.tests).toBeGreaterThan(0);
  }, MAVEN_TIMEOUT_MS);
});
