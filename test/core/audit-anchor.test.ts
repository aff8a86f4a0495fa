import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { auditAnchorObserver, readAuditAnchors } from "../../core/audit/anchor.ts";
import { createAuditLog } from "../../core/audit/log.ts";
import { verifyAuditChain } from "../../core/audit/verify.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { recordAction, tempAuditFile } from "./audit-fixtures.ts";

function redisUrl(): string {
  try {
    return loadTestEnv().redisUrl;
  } catch {
    return "redis://127.0.0.1:6379";
  }
}

const redis = new Redis(redisUrl());
afterAll(async () => {
  await redis.quit();
});

async function settle(prefix: string, chain: string, seq: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await readAuditAnchors(redis, prefix))[chain]?.seq === seq) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("anchor never reached the head");
}

describe("audit anchors in Redis", () => {
  it("keeps each chain's head, and deputy audit verify --anchors catches a truncated file", async () => {
    const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
    const file = tempAuditFile();
    const audit = createAuditLog({ file, chain: "mcp-0", onRecord: auditAnchorObserver(redis, prefix) });
    recordAction(audit, "act_ANCHORxxxxxxxxxxxxxxxxx", "approved");
    await settle(prefix, "mcp-0", 4);
    const anchors = await readAuditAnchors(redis, prefix);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(verifyAuditChain(lines, { anchors }).ok).toBe(true);

    writeFileSync(file, `${lines.slice(0, 3).join("\n")}\n`);
    const root = join(import.meta.dirname, "../..");
    const run = async (...args: string[]): Promise<{ code: number; stdout: string }> => {
      try {
        const { stdout } = await promisify(execFile)(
          join(root, "node_modules/.bin/node"),
          [join(root, "cli/deputy.ts"), ...args],
          {
            env: { ...process.env, REDIS_URL: redisUrl(), DEPUTY_REDIS_PREFIX: prefix },
          },
        );
        return { code: 0, stdout };
      } catch (error) {
        const e = error as { code: number; stdout: string };
        return { code: e.code, stdout: e.stdout };
      }
    };
    expect((await run("audit", "verify", file)).code).toBe(0);
    const anchored = await run("audit", "verify", file, "--anchors");
    expect(anchored.code).toBe(1);
    expect(anchored.stdout).toContain("broken at line 4 (truncated)");
  });

  it("never moves a head backwards", async () => {
    const prefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
    const observe = auditAnchorObserver(redis, prefix);
    const audit = createAuditLog({
      destination: new Writable({ write: (_c, _e, cb) => cb() }),
      chain: "c",
    });
    const first = audit.record({ kind: "tool_call" });
    const second = audit.record({ kind: "tool_call" });
    observe(second);
    await settle(prefix, "c", 1);
    observe(first);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await readAuditAnchors(redis, prefix)).c).toMatchObject({ seq: 1, hash: second.hash });
  });
});
