import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createTurnLeases } from "../../bot/turn-lease.ts";
import { loadTestEnv } from "../helpers/testenv.ts";

/**
 * The thread's turn lease on the real Redis: one holder at a time; a holder
 * that stops renewing loses the thread within the lease, not after the
 * longest a turn may take; its turn is adopted by exactly one of the
 * replicas looking; the stalled holder then knows it is no longer the
 * holder; a turn that keeps stopping its replicas is not passed on for ever.
 */
const redis = new Redis(process.env.REDIS_URL ?? loadTestEnv().redisUrl);
const prefix = `deputy-test:turn-lease:${randomBytes(4).toString("hex")}:`;
const thread = (n: number) => ({
  surface: "slack" as const,
  teamId: "T1",
  channel: "C0LEASE",
  thread: `1700000000.${String(n).padStart(6, "0")}`,
});

afterAll(async () => {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
  redis.disconnect();
});

describe("turn leases", () => {
  it("lets one turn hold a thread; a finished turn is released and never adopted", async () => {
    const leases = createTurnLeases(redis, { prefix, ttlMs: 5_000 });
    const lease = await leases.lock(thread(1), "q1");
    expect(lease).toBeDefined();
    expect(await leases.lock(thread(1), "q1 again")).toBeUndefined();
    expect(await lease!.renew()).toBe(true);
    await lease!.release();
    expect(await leases.adoptOrphans()).toEqual([]);
    const again = await leases.lock(thread(1), "q2");
    expect(again).toBeDefined();
    await again!.release();
  });

  it("a holder that stops renewing loses the thread within the lease; one of many replicas adopts the turn", async () => {
    const leases = createTurnLeases(redis, { prefix, ttlMs: 2_000 });
    const stalled = (await leases.lock(thread(2), "q-stalled"))!;
    await stalled.remember("q-stalled with status 1.2");
    // While renewed, nobody adopts it, though together the renewals outlast the lease.
    for (let i = 0; i < 5; i++) {
      await sleep(500);
      expect(await stalled.renew()).toBe(true);
      expect(await leases.adoptOrphans()).toEqual([]);
    }
    // It stops renewing (a replica killed): the lease lapses and three replicas look at once.
    await sleep(2_300);
    const looked = await Promise.all([leases.adoptOrphans(), leases.adoptOrphans(), leases.adoptOrphans()]);
    const adopted = looked.flat();
    expect(adopted).toHaveLength(1);
    expect(adopted[0]).toMatchObject({
      conversation: thread(2),
      turn: "q-stalled with status 1.2",
      adoption: 1,
      exhausted: false,
    });
    // The stalled holder, if it wakes, knows the turn is not its own any more.
    expect(await stalled.held()).toBe(false);
    expect(await stalled.renew()).toBe(false);
    await stalled.release();
    expect(await adopted[0]!.lease.held()).toBe(true);
    expect(await leases.lock(thread(2), "someone else")).toBeUndefined();
    await adopted[0]!.lease.release();
    const next = await leases.lock(thread(2), "next question");
    expect(next).toBeDefined();
    await next!.release();
  });

  it("a turn that stops every replica taking it is handed on twice, then given up", async () => {
    const leases = createTurnLeases(redis, { prefix, ttlMs: 100, maxAttempts: 3 });
    await leases.lock(thread(3), "poison");
    const adoptions: { adoption: number; exhausted: boolean }[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(150);
      const [adopted] = await leases.adoptOrphans();
      if (!adopted) break;
      adoptions.push({ adoption: adopted.adoption, exhausted: adopted.exhausted });
      if (adopted.exhausted) await adopted.lease.release();
      // Otherwise the adopter "dies" too: it never renews.
    }
    expect(adoptions).toEqual([
      { adoption: 1, exhausted: false },
      { adoption: 2, exhausted: true },
    ]);
    await sleep(150);
    expect(await leases.adoptOrphans()).toEqual([]);
  });

  it("drops an unreadable entry instead of tripping over it on every sweep", async () => {
    const leases = createTurnLeases(redis, { prefix, ttlMs: 100 });
    await redis.hset(`${prefix}turns:held`, `${prefix}conv:slack:T1:C0LEASE:junk:lock`, "{not json");
    expect(await leases.adoptOrphans()).toEqual([]);
    expect(await redis.hexists(`${prefix}turns:held`, `${prefix}conv:slack:T1:C0LEASE:junk:lock`)).toBe(0);
  });
});
