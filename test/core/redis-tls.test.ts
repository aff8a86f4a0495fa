import { TLSSocket } from "node:tls";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisCheck } from "../../cli/doctor.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createRedisClient, writeReplicated } from "../../core/state/redis.ts";
import { startRedisHa, type RedisHa } from "../../devenv/redis-ha.ts";
import { testPrefix } from "../executor/support.ts";

/**
 * Redis reached over TLS only, as a managed Redis or a Sentinel set with TLS
 * is: real redis-server data nodes and sentinels of the test's own that close
 * their plain ports, speak TLS to each other, and present a certificate from
 * a CA made for the set. Deputy reaches the primary through the sentinels, or
 * by a rediss:// URL, trusting that CA; a failover is followed over TLS; an
 * untrusted certificate or a plain connection is refused, in a sentence.
 */
let ha: RedisHa;
const clients: Redis[] = [];
const prefix = testPrefix("redis-tls");

function config(env: Record<string, string>) {
  return parseConfig({ DEPUTY_REDIS_PREFIX: prefix, ...env });
}

function client(env: Record<string, string>): Redis {
  const redis = createRedisClient(config(env).redis, { maxRetriesPerRequest: 2 });
  redis.on("error", () => undefined);
  clients.push(redis);
  return redis;
}

beforeAll(async () => {
  ha = await startRedisHa({ replicas: 1, tls: true });
}, 120_000);

afterAll(async () => {
  for (const redis of clients) redis.disconnect();
  await ha?.stop();
});

describe("Redis over TLS", () => {
  it("reaches the primary through TLS-only sentinels, and a write waits for its replica over TLS", async () => {
    const redis = client(ha.env({ waitReplicas: 1, waitTimeoutMs: 2_000 }));
    expect(await redis.ping()).toBe("PONG");
    expect(redis.stream).toBeInstanceOf(TLSSocket);
    expect(redis.stream.remotePort).toBe((await ha.primary()).port);
    await writeReplicated(redis, { replicas: 1, timeoutMs: 2_000 }, "a test key", () =>
      redis.set(`${prefix}tls`, "1", "EX", 60),
    );

    const check = await redisCheck(config(ha.env({ waitReplicas: 1 }))).run();
    expect(check.ok, check.sentence).toBe(true);
    expect(check.sentence).toMatch(
      /the sentinels name 127\.0\.0\.1:\d+ as primary .* 1 replica attached \(1 online\)/,
    );
  });

  it("reaches one node by a rediss:// URL with the CA file", async () => {
    const primary = await ha.primary();
    const redis = client({
      REDIS_URL: `rediss://127.0.0.1:${primary.port}`,
      DEPUTY_REDIS_TLS_CA_FILE: ha.caFile!,
    });
    expect(await redis.ping()).toBe("PONG");
    expect(redis.stream).toBeInstanceOf(TLSSocket);
  });

  it("an untrusted certificate or a plain connection is a sentence from deputy doctor", async () => {
    const { DEPUTY_REDIS_TLS_CA_FILE: _ca, ...withoutCa } = ha.env();
    const untrusted = await redisCheck(config(withoutCa)).run();
    expect(untrusted.ok).toBe(false);
    expect(untrusted.sentence).toMatch(/TLS certificate .* not trusted.*DEPUTY_REDIS_TLS_CA_FILE/);

    const primary = await ha.primary();
    const plain = await redisCheck(config({ REDIS_URL: `redis://127.0.0.1:${primary.port}` })).run();
    expect(plain.ok).toBe(false);
    expect(plain.sentence).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+ does not answer/);
  });

  it("follows a failover over TLS: the promoted replica is reached with the same trust", async () => {
    const redis = client(ha.env());
    await redis.set(`${prefix}before`, "1", "EX", 60);
    const old = await ha.killPrimary();
    const promoted = await ha.waitForFailover(old);
    await expect
      .poll(async () => redis.set(`${prefix}after`, "1", "EX", 60).catch(() => "not yet"), {
        timeout: 30_000,
        interval: 200,
      })
      .toBe("OK");
    expect(redis.stream).toBeInstanceOf(TLSSocket);
    expect(redis.stream.remotePort).toBe(promoted.port);
  });
});
