import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO_ROOT, run } from "./support/process.js";

const PROTO = "proto/red5/token/v1/token_service.proto";

let clone: string;

beforeEach(() => {
  clone = join(mkdtempSync(join(tmpdir(), "contract-")), "repo");
  execFileSync("git", ["clone", "--quiet", REPO_ROOT, clone]);
  execFileSync("git", ["-C", clone, "config", "user.email", "test@example.invalid"]);
  execFileSync("git", ["-C", clone, "config", "user.name", "contract test"]);
  symlinkSync(join(REPO_ROOT, "node_modules"), join(clone, "node_modules"));
});

afterEach(() => {
  rmSync(join(clone, ".."), { recursive: true, force: true });
});

function editContract(from: string, to: string): void {
  const path = join(clone, PROTO);
  const text = readFileSync(path, "utf8");
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
}

function commit(message: string): void {
  execFileSync("git", ["-C", clone, "commit", "--quiet", "-am", message]);
}

const checkBreaking = () => run("bash", [join(clone, "scripts/check-breaking.sh")]);

describe("check-breaking.sh", () => {
  it("passes on the current history", async () => {
    const result = await checkBreaking();

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("fails on a committed field number change", async () => {
    editContract("  bool write = 4;\n", "  bool write = 6;\n");
    commit("Renumber write");

    const result = await checkBreaking();

    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Previously present field "4" with name "write"');
    expect(result.stderr).toContain("Renumber write breaks the contract");
  });

  it("fails on an uncommitted field rename", async () => {
    editContract("  bool write = 4;\n", "  bool publish = 4;\n");

    const result = await checkBreaking();

    expect(result.code).toBe(1);
    expect(result.stdout).toContain("publish");
    expect(result.stderr).toContain("uncommitted changes break the contract");
  });

  it.each([
    { name: "a removed method", from: "  rpc IssueChatToken(IssueChatTokenRequest) returns (IssueChatTokenResponse);\n", to: "" },
    { name: "a renamed service", from: "service TokenService {", to: "service TokenIssuer {" },
    { name: "a field that loses its presence", from: "  optional uint32 ttl_minutes = 5", to: "  uint32 ttl_minutes = 5" },
  ])("fails on $name", async ({ from, to }) => {
    editContract(from, to);
    commit("Change the contract");

    const result = await checkBreaking();

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Change the contract breaks the contract");
  });

  it("accepts a new optional field", async () => {
    editContract("  bool write = 4;\n", "  bool write = 4;\n\n  // Test field.\n  string note = 6;\n");
    commit("Add a note field");

    const result = await checkBreaking();

    expect(result.code).toBe(0);
  });
});
