import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * `deputy policy test`, as a team's CI runs it: the shipped worked examples
 * pass against their cases, and a wrong expectation fails with exit 1 naming
 * the case and what differs.
 */
const ROOT = join(import.meta.dirname, "../../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const CLI = join(ROOT, "cli/deputy.ts");
const EXAMPLES = join(ROOT, "docs/approval-policy");

function deputy(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  // `deputy policy test` reads no Redis; the prefix keeps it off the shared one if that ever changes.
  const env = { PATH: process.env.PATH ?? "", DEPUTY_REDIS_PREFIX: "deputy-test-policy-cli:" };
  const result = spawnSync(NODE, [CLI, ...args], { encoding: "utf8", env });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("deputy policy test", () => {
  const examples = readdirSync(EXAMPLES)
    .filter((file) => file.endsWith(".cases.yaml"))
    .map((file) => file.replace(/\.cases\.yaml$/, ""));

  it("ships the three worked examples with their cases", () => {
    expect(examples.sort()).toEqual(["change-freeze", "on-call-restarts", "production-deletes"]);
  });

  it.each(examples)("the shipped example %s passes its cases", (name) => {
    const run = deputy(
      "policy",
      "test",
      join(EXAMPLES, `${name}.yaml`),
      join(EXAMPLES, `${name}.cases.yaml`),
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^PASS: (\d+) of \1 cases match /m);
    expect(run.stdout).not.toContain("FAIL");
  });

  it("a wrong expectation fails with exit 1, naming the case and the difference", () => {
    const dir = mkdtempSync(join(tmpdir(), "deputy-policy-"));
    const cases = join(dir, "cases.yaml");
    writeFileSync(
      cases,
      [
        'at: "2026-12-22T09:00:00Z"',
        "cases:",
        "  - name: a restart in the freeze",
        "    action: { tool: restart_deployment, namespace: shop, name: checkout }",
        "    expect: { outcome: approve, rule: on-call }",
        "  - name: a rollback in the freeze",
        "    action: { tool: rollback_deployment, namespace: shop, name: checkout }",
        "    expect: { outcome: approve, rule: on-call, count: 2 }",
        "  - name: a rollback, as it is",
        "    action: { tool: rollback_deployment, namespace: shop, name: checkout }",
        "    expect: { outcome: approve, rule: on-call, count: 1, groups: [oncall] }",
      ].join("\n"),
    );
    const run = deputy("policy", "test", join(EXAMPLES, "change-freeze.yaml"), cases);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(
      'FAIL  a restart in the freeze: expected approve, got refuse; expected rule "on-call", got "holiday freeze"',
    );
    expect(run.stdout).toContain("FAIL  a rollback in the freeze: expected 2 approvers, got 1");
    expect(run.stdout).toContain('ok    a rollback, as it is (rule "on-call")');
    expect(run.stdout).toMatch(/^FAIL: 1 of 3 cases match /m);
  });

  it("a broken policy or cases file is a sentence, exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "deputy-policy-"));
    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, "version: 1\nrules:\n  - name: r\n    when: action.tool == 1\n    refuse: no\n");
    const run = deputy("policy", "test", policy, join(EXAMPLES, "change-freeze.cases.yaml"));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `deputy: CONFIG_INVALID: The approval policy is invalid: ${policy}:4: rule "r": when does not type-check: no such overload: string == int`,
    );
  });
});
