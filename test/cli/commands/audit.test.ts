import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { createAuditLog } from "../../../core/audit/log.ts";
import { recordAction, tempAuditFile } from "../../core/audit-fixtures.ts";

const root = join(import.meta.dirname, "../../..");
const node = join(root, "node_modules/.bin/node");
const cli = join(root, "cli/deputy.ts");
const prefix = `deputy-test-audit-cli-${randomBytes(4).toString("hex")}:`;

async function deputy(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(node, [cli, ...args], {
      cwd: root,
      // Its own Redis prefix: audit anchors of a running `npm start` are not this test's.
      env: { ...process.env, DEPUTY_AUDIT_FILE: "", DEPUTY_REDIS_PREFIX: prefix },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function auditFile(): { file: string; lines: string[] } {
  const file = tempAuditFile();
  const audit = createAuditLog({ file });
  recordAction(audit, "act_APPROVEDxxxxxxxxxxxxxxx", "approved");
  recordAction(audit, "act_REJECTEDxxxxxxxxxxxxxxx", "rejected");
  return { file, lines: readFileSync(file, "utf8").trimEnd().split("\n") };
}

describe("deputy audit", () => {
  it("verify exits 0 on an intact chain", async () => {
    const { file } = auditFile();
    const result = await deputy("audit", "verify", file);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok: 9 records verified in 1 chain/);
  });

  it("verify exits 1 naming a deleted, an altered and a reordered line", async () => {
    const { file, lines } = auditFile();

    writeFileSync(file, [...lines.slice(0, 3), ...lines.slice(4)].join("\n") + "\n");
    let result = await deputy("audit", "verify", file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("broken at line 4 (deleted)");

    writeFileSync(
      file,
      lines.map((line, i) => (i === 5 ? line.replace('"shop"', '"kube-system"') : line)).join("\n"),
    );
    result = await deputy("audit", "verify", file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("broken at line 6 (edited)");

    const swapped = [...lines];
    [swapped[6], swapped[7]] = [swapped[7]!, swapped[6]!];
    writeFileSync(file, swapped.join("\n"));
    result = await deputy("audit", "verify", file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("broken at line 7 (reordered)");
  });

  it("show prints the story of one action", async () => {
    const { file } = auditFile();
    const result = await deputy("audit", "show", "act_REJECTEDxxxxxxxxxxxxxxx", "--file", file);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Action act_REJECTEDxxxxxxxxxxxxxxx on cluster local: rejected");
    expect(result.stdout).toMatch(/bob .* rejected it/);
  });

  it("show exits 1 with a clear message for an unknown action, 2 for bad usage", async () => {
    const { file } = auditFile();
    const missing = await deputy("audit", "show", "act_NOPExxxxxxxxxxxxxxxxxxx", "--file", file);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no audit records for action act_NOPE");
    expect((await deputy("audit", "verify")).code).toBe(2);
    const unreadable = await deputy("audit", "verify", join(file, "nope"));
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain("cannot read audit file");
  });
});
