import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { rateLimit } from "../../../mcp/policy/rate-limit.ts";
import { connectRedis, dropPrefix, testPrefix } from "../../executor/support.ts";
import { input } from "./support.ts";

describe("rule rate-limit (real Redis, sliding window)", () => {
  let redis: Redis;
  let prefix: string;
  let clock = 1_000_000;
  beforeAll(() => {
    redis = connectRedis();
    prefix = testPrefix("ratelimit");
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("allows N proposals per requester per minute, then refuses with the rule and the wait", async () => {
    const rule = rateLimit({
      redis,
      prefix,
      perUserPerMinute: 3,
      perClusterPerMinute: 100,
      now: () => clock,
    });
    const alice = input();
    for (let i = 0; i < 3; i++) expect(await rule.evaluate(alice)).toEqual({ effect: "allow" });
    const refused = await rule.evaluate(alice);
    expect(refused.effect === "deny" && refused.message).toMatch(
      /^Refused by rule rate-limit-user: 3 write proposals from you in the last minute reach the limit of 3; try again in 60 s\.$/,
    );
    // Someone else is not affected.
    expect(await rule.evaluate(input({ requester: { kind: "local", id: "carol" } }))).toEqual({
      effect: "allow",
    });
    // The window slides.
    clock += 61_000;
    expect(await rule.evaluate(alice)).toEqual({ effect: "allow" });
  });

  it("caps the whole cluster across requesters, atomically under concurrency", async () => {
    const rule = rateLimit({
      redis,
      prefix: `${prefix}c:`,
      perUserPerMinute: 100,
      perClusterPerMinute: 5,
      now: () => clock,
    });
    const verdicts = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rule.evaluate(input({ requester: { kind: "local", id: `user${i}` } })),
      ),
    );
    expect(verdicts.filter((v) => v.effect === "allow")).toHaveLength(5);
    const denied = verdicts.find((v) => v.effect === "deny");
    expect(denied?.effect === "deny" && denied.message).toMatch(
      /^Refused by rule rate-limit-cluster: 5 write proposals on cluster test/,
    );
  });

  it("counts each cluster apart: a requester at the limit in one cluster may still propose in another", async () => {
    const rule = rateLimit({
      redis,
      prefix: `${prefix}per-cluster:`,
      perUserPerMinute: 2,
      perClusterPerMinute: 2,
      now: () => clock,
    });
    const inA = input({ cluster: "prod-eu" });
    for (let i = 0; i < 2; i++) expect(await rule.evaluate(inA)).toEqual({ effect: "allow" });
    expect((await rule.evaluate(inA)).effect).toBe("deny");
    const inB = input({ cluster: "staging" });
    expect(await rule.evaluate(inB)).toEqual({ effect: "allow" });
    expect(await rule.evaluate(inB)).toEqual({ effect: "allow" });
    expect((await rule.evaluate(inB)).effect).toBe("deny");
  });
});
