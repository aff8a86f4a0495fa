import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWritePaused } from "../../core/observability/anomaly.ts";
import { parseConfig } from "../../core/config/config.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { SHARED_PREFIX, sharedPrefixViolations } from "./redis-prefix-guard.ts";

const ROOT = join(import.meta.dirname, "..", "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

describe("own Redis prefix per test file", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(loadTestEnv().redisUrl);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it("refuses any command on the shared default prefix, even one reached through a default", async () => {
    await expect(redis.get(`${SHARED_PREFIX}anything`)).rejects.toThrow(
      `Redis GET ${SHARED_PREFIX}anything: tests must use their own key prefix`,
    );
    // A config built without DEPUTY_REDIS_PREFIX lands on the default.
    await expect(isWritePaused(redis, parseConfig({}).redis.prefix)).rejects.toThrow(/own key prefix/);
    expect(sharedPrefixViolations).toHaveLength(2);
    // Both were this test's own doing; the file must not fail for them.
    sharedPrefixViolations.length = 0;
    expect(await redis.set("deputy-test-guard-ok:probe", "1", "EX", 5)).toBe("OK");
  });

  it("gives every Deputy process a test starts its own DEPUTY_REDIS_PREFIX", () => {
    // Child processes are outside the in-process guard: each file that starts
    // the CLI must name a prefix for it (directly or through localModeEnv).
    const offenders = [...sourceFiles(join(ROOT, "test")), ...sourceFiles(join(ROOT, "bench"))]
      .filter((file) => /cli[/"', ]+deputy\.ts|bin\/deputy\b/.test(readFileSync(file, "utf8")))
      .filter((file) => !/DEPUTY_REDIS_PREFIX|localModeEnv\(/.test(readFileSync(file, "utf8")))
      .map((file) => relative(ROOT, file));
    expect(offenders).toEqual([]);
  });

  it("leaves no shared-prefix literal in tests or benchmarks", () => {
    const guard = join(ROOT, "test", "setup", "redis-prefix-guard.ts");
    const offenders = [...sourceFiles(join(ROOT, "test")), ...sourceFiles(join(ROOT, "bench"))]
      .filter((file) => file !== guard && file !== join(ROOT, "test", "setup", "redis-prefix.test.ts"))
      .filter((file) => /["'`]deputy:(["'`]|[a-z-]+:)/.test(readFileSync(file, "utf8")))
      .map((file) => relative(ROOT, file));
    expect(offenders).toEqual([]);
  });
});
