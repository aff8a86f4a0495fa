import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createAgentUsageLimit, whenAgain } from "../../../bot/agent/usage-limit.ts";
import { createMetrics } from "../../../core/observability/metrics.ts";
import { loadTestEnv } from "../../helpers/testenv.ts";

/**
 * A person's hourly agent turns and model tokens, per cluster, in real Redis
 * with a clock the test moves: the limit holds over any hour (not per
 * calendar hour), frees as the oldest use leaves the window, counts each
 * cluster apart, and the refusal says when to ask again.
 */
const redis = new Redis(loadTestEnv().redisUrl);
const prefix = `deputy-test-agent-limit-${randomBytes(4).toString("hex")}:`;
const alice = { kind: "slack" as const, id: "U0LIMALICE" };
const bob = { kind: "slack" as const, id: "U0LIMBOB" };

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe("agent turns per hour", () => {
  it("refuses the turn past the limit until the oldest leaves the sliding hour, per person and per cluster", async () => {
    let now = Date.UTC(2026, 11, 7, 14, 0, 0);
    const metrics = createMetrics();
    const limit = createAgentUsageLimit({
      redis,
      prefix: `${prefix}turns:`,
      limits: { turnsPerHour: 2, tokensPerHour: 1_000_000 },
      metrics,
      now: () => now,
    });
    expect(await limit.admit(alice, "prod")).toEqual({ allowed: true });
    now += 20 * 60_000;
    expect(await limit.admit(alice, "prod")).toEqual({ allowed: true });
    now += 20 * 60_000;
    const refused = await limit.admit(alice, "prod");
    expect(refused).toMatchObject({ allowed: false, limit: "turns", retryMs: 20 * 60_000 });
    expect(refused.allowed === false && refused.message).toBe(
      "You asked me 2 questions in the last hour on cluster prod, which reaches the limit of 2 per hour; you can ask again in 20 min (at 15:00 UTC). Direct commands (/deputy help) still work.",
    );
    // Another person, or the same person on another cluster, has a budget of their own.
    expect(await limit.admit(bob, "prod")).toEqual({ allowed: true });
    expect(await limit.admit(alice, "staging")).toEqual({ allowed: true });
    // A refused turn used nothing: once the first leaves the window, one more is let through.
    now += 20 * 60_000 + 1;
    expect(await limit.admit(alice, "prod")).toEqual({ allowed: true });
    expect(await limit.admit(alice, "prod")).toMatchObject({ allowed: false });
    const text = await metrics.registry.metrics();
    expect(text).toContain('deputy_agent_turn_admissions_total{outcome="allowed"} 5');
    expect(text).toContain('deputy_agent_turn_admissions_total{outcome="turns_limit"} 2');
  });
});

describe("model tokens per hour", () => {
  it("refuses new turns once the hour's tokens reach the limit, until enough of them leave the window", async () => {
    let now = Date.UTC(2026, 11, 7, 9, 0, 0);
    const limit = createAgentUsageLimit({
      redis,
      prefix: `${prefix}tokens:`,
      limits: { turnsPerHour: 100, tokensPerHour: 10_000 },
      now: () => now,
    });
    expect(await limit.admit(alice, "prod")).toEqual({ allowed: true });
    await limit.charge(alice, "prod", 6_000);
    now += 10 * 60_000;
    expect(await limit.admit(alice, "prod")).toEqual({ allowed: true });
    await limit.charge(alice, "prod", 4_500);
    now += 5 * 60_000;
    const refused = await limit.admit(alice, "prod");
    // 10,500 in the window; it drops below 10,000 when the first 6,000 leave, 45 min from now.
    expect(refused).toMatchObject({ allowed: false, limit: "tokens", retryMs: 45 * 60_000 });
    expect(refused.allowed === false && refused.message).toContain(
      "Your questions in the last hour used 10,500 model tokens on cluster prod, which reaches the limit of 10,000 per hour; you can ask again in 45 min (at 10:00 UTC)",
    );
    expect(await limit.admit(alice, "staging")).toEqual({ allowed: true });
    now += 45 * 60_000 + 1;
    expect(await limit.admit(alice, "prod")).toEqual({ allowed: true });
  });

  it("words short waits in seconds", () => {
    expect(whenAgain(42_000, Date.UTC(2026, 0, 1, 8, 59, 30))).toBe("in 42 s (at 09:00 UTC)");
  });
});
