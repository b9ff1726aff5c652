import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TEST_CREDENTIALS, type Harness } from "./harness.js";

/**
 * Environment for the Go and Java interop suites: where the live server listens and the
 * credentials its tokens must verify with.
 */
export function interopEnv(harness: Harness): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TOKEN_SERVICE_ADDRESS: harness.address,
    TOKEN_SERVICE_CONFERENCE_SECRET: TEST_CREDENTIALS.conferenceSecret,
    TOKEN_SERVICE_PUBNUB_SUBSCRIBE_KEY: TEST_CREDENTIALS.pubnubSubscribeKey,
    TOKEN_SERVICE_PUBNUB_PUBLISH_KEY: TEST_CREDENTIALS.pubnubPublishKey,
  };
}

/**
 * Saves a foreign suite's machine-readable output under TEST_RESULTS_DIR, when set, so that CI can
 * add that suite's own test counts to its total.
 */
export function saveSuiteOutput(fileName: string, content: string): void {
  const directory = process.env.TEST_RESULTS_DIR;
  if (directory === undefined || directory === "") {
    return;
  }
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, fileName), content);
}

/** Outcome of one Go test or subtest, from `go test -json`. */
export interface GoTestResult {
  readonly name: string;
  readonly action: "pass" | "fail" | "skip";
}

/** Reads the per-test outcomes from `go test -json` output. */
export function goTestResults(jsonLines: string): GoTestResult[] {
  return jsonLines
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { Action: string; Test?: string })
    .filter((event) => event.Test !== undefined && ["pass", "fail", "skip"].includes(event.Action))
    .map((event) => ({ name: event.Test as string, action: event.Action as GoTestResult["action"] }));
}
