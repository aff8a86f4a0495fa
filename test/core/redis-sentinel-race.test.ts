import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisClient } from "../../core/state/redis.ts";
import { startRedisHa, type RedisHa } from "../../devenv/redis-ha.ts";
import { testPrefix } from "../executor/support.ts";
import { eventually } from "../helpers/testenv.ts";

/**
 * After the primary dies, a Sentinel client reconnects by asking the
 * sentinels; if +switch-master arrives meanwhile, ioredis's failover detector
 * disconnects the connector under the attempt in flight, the attempt fails
 * with "Connection is closed." and ioredis ends the client instead of
 * retrying. The race is forced here (the sentinels frozen while the client
 * asks them, the detector's disconnect made then): the client must still
 * reach the promoted primary, not stay ended until a restart.
 */
let ha: RedisHa;
let redis: Redis;
const prefix = testPrefix("sentinel-race");

beforeAll(async () => {
  ha = await startRedisHa({ replicas: 1 });
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await ha?.stop();
});

describe("a Sentinel client caught by the failover detector while reconnecting", () => {
  it("is connected again and reaches the promoted primary", async () => {
    redis = createRedisClient(ha.config(prefix), { maxRetriesPerRequest: 1 });
    redis.on("error", () => undefined);
    const statuses: string[] = [];
    redis.on("end", () => statuses.push("end"));
    expect(await redis.ping()).toBe("PONG");

    const old = await ha.primary();
    // The client's reconnection will hang asking the sentinels until they are thawed.
    for (const sentinel of ha.sentinels) ha.freeze(sentinel);
    process.kill(old.record.pid, "SIGKILL");
    await eventually("the client to be reconnecting", () => Promise.resolve(redis.status === "connecting"), {
      intervalMs: 20,
    });
    await sleep(200);
    // What FailoverDetector does on +switch-master, while the attempt is in flight.
    (redis as unknown as { connector: { disconnect(): void } }).connector.disconnect();
    for (const sentinel of ha.sentinels) ha.thaw(sentinel);

    await eventually("the attempt in flight to fail and end the client", () =>
      Promise.resolve(statuses.includes("end")),
    );
    const promoted = await ha.waitForFailover(old);
    await eventually(
      "the client on the promoted primary",
      async () =>
        (await redis.ping().catch(() => "")) === "PONG" && redis.stream.remotePort === promoted.port,
      { intervalMs: 100, timeoutMs: 30_000 },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)} (client status ${redis.status})`);
    });
    // Writes work there, as before the failover.
    expect(await redis.set(`${prefix}after`, "1", "EX", 60)).toBe("OK");
  });
});
