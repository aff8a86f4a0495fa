import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { actionDigest, createActionSigner } from "../../../core/actions/digest.ts";
import {
  ActionStateRegressed,
  ActionTampered,
  createActionStore,
  type ActionStore,
} from "../../../core/actions/store.ts";
import {
  alice,
  bob,
  connectRedis,
  draft,
  dropPrefix,
  dumpPrefix,
  mallory,
  testPrefix,
  testSigner,
} from "../../executor/support.ts";

describe("pending-action store (real Redis)", () => {
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let clock = Date.now();

  beforeAll(() => {
    redis = connectRedis();
    prefix = testPrefix("store");
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner(), now: () => clock });
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("stores a proposal as pending with a random unguessable id, digest and 15-minute expiry", async () => {
    const created = await Promise.all(Array.from({ length: 50 }, () => store.create(draft())));
    const ids = new Set(created.map((action) => action.id));
    expect(ids.size).toBe(50);
    for (const action of created) {
      expect(action.id).toMatch(/^act_[A-Za-z0-9_-]{32}$/);
      expect(action.state).toBe("pending");
      expect(action.digest).toBe(actionDigest(action));
      expect(Date.parse(action.expiresAt) - Date.parse(action.createdAt)).toBe(900_000);
    }
    const [first] = created;
    expect(await store.get(first!.id)).toEqual(first);
  });

  it("rejects a malformed proposal and leaves nothing behind", async () => {
    const before = await dumpPrefix(redis, prefix);
    await expect(store.create(draft({ evidence: "not an object" as never }))).rejects.toThrow();
    await expect(store.create(draft(), { ttlSeconds: 0 })).rejects.toThrow(/positive number of seconds/);
    expect(await dumpPrefix(redis, prefix)).toBe(before);
  });

  it("answers unknown and malformed ids as missing, without touching Redis keys by pattern", async () => {
    expect(await store.get("act_doesnotexist000000000000000000")).toBeUndefined();
    expect(await store.get("../../etc")).toBeUndefined();
    expect(await store.decide("act_*", "approved", bob)).toEqual({ ok: false, reason: "missing" });
  });

  it("counts live actions per state for the pending-actions gauge", async () => {
    const before = await store.countByState();
    const [a, b] = await Promise.all([store.create(draft()), store.create(draft())]);
    await store.decide(a.id, "approved", bob);
    await store.decide(b.id, "rejected", bob);
    const after = await store.countByState();
    expect((after.pending ?? 0) - (before.pending ?? 0)).toBe(0);
    expect((after.approved ?? 0) - (before.approved ?? 0)).toBe(1);
  });

  it("lets exactly one of twenty concurrent approvals win", async () => {
    const action = await store.create(draft());
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.decide(action.id, "approved", bob)),
    );
    expect(results.filter((result) => result.ok)).toHaveLength(1);
    expect(results.filter((result) => !result.ok && result.reason === "wrong_state")).toHaveLength(19);
    const stored = await store.get(action.id);
    expect(stored?.state).toBe("approved");
    expect(stored?.decidedBy).toEqual(bob);
  });

  it("settles approve racing reject with exactly one outcome", async () => {
    for (let round = 0; round < 10; round++) {
      const action = await store.create(draft());
      const [approve, reject] = await Promise.all([
        store.decide(action.id, "approved", bob),
        store.decide(action.id, "rejected", mallory),
      ]);
      expect([approve.ok, reject.ok].filter(Boolean)).toHaveLength(1);
      const final = await store.get(action.id);
      expect(final?.state).toBe(approve.ok ? "approved" : "rejected");
    }
  });

  it("begins execution at most once and only after approval", async () => {
    const action = await store.create(draft());
    expect((await store.beginExecution(action.id, "test-owner")).ok).toBe(false);
    await store.decide(action.id, "approved", bob);
    const begins = await Promise.all(
      Array.from({ length: 10 }, () => store.beginExecution(action.id, "test-owner")),
    );
    expect(begins.filter((result) => result.ok)).toHaveLength(1);
    // Began, but the cluster was not called yet: nothing counts as executed until a step starts.
    expect(await store.executions(action.id)).toBe(0);
    const at = new Date().toISOString();
    await store.recordStep(action.id, { step: "patch Deployment shop/frontend", status: "started", at });
    await store.recordStep(action.id, { step: "patch Deployment shop/frontend", status: "done", at });
    await store.recordStep(action.id, { step: "second call", status: "started", at });
    expect(await store.executions(action.id)).toBe(1);
    expect((await store.steps(action.id)).map((step) => `${step.step}:${step.status}`)).toEqual([
      "patch Deployment shop/frontend:started",
      "patch Deployment shop/frontend:done",
      "second call:started",
    ]);
    await store.recordLease(action.id, "kubernetes/creds/deputy-scale-deployment/abc");
    const done = await store.finish(action.id, "succeeded", {
      message: "scaled",
      kubeStatus: 200,
      leaseId: "kubernetes/creds/deputy-scale-deployment/abc",
      finishedAt: new Date().toISOString(),
    });
    expect(done.ok && done.action.state).toBe("succeeded");
    expect(done.ok && done.action.outcome?.kubeStatus).toBe(200);
    // A finished action is kept for its story, not forever.
    expect(await redis.ttl(`${prefix}action:${action.id}`)).toBeGreaterThan(0);
    // And a decision on it is answered with its state, never re-run.
    const again = await store.decide(action.id, "approved", bob);
    expect(again.ok === false && again.reason).toBe("wrong_state");
    expect((await store.beginExecution(action.id, "test-owner")).ok).toBe(false);
    expect(await store.executions(action.id)).toBe(1);
  });

  it("finds executing actions whose owner stopped sending heartbeats, and only those", async () => {
    const [live, dead] = await Promise.all([store.create(draft()), store.create(draft())]);
    for (const action of [live, dead]) {
      await store.decide(action.id, "approved", bob);
      await store.beginExecution(action.id, action === live ? "owner-a" : "owner-b");
    }
    clock += 40_000;
    // Only the owner's heartbeat counts: owner-a's refreshes live, owner-a cannot refresh dead.
    await store.heartbeat([live.id, dead.id], "owner-a");
    const orphaned = await store.listOrphaned(30_000);
    clock -= 40_000;
    expect(orphaned.map((action) => action.id)).toContain(dead.id);
    expect(orphaned.map((action) => action.id)).not.toContain(live.id);
    expect(orphaned.find((action) => action.id === dead.id)?.owner).toBe("owner-b");
  });

  it("refuses an approval after expiry and marks the action expired", async () => {
    const action = await store.create(draft(), { ttlSeconds: 60 });
    clock += 61_000;
    const result = await store.decide(action.id, "approved", bob);
    expect(result.ok === false && result.reason).toBe("expired");
    expect((await store.get(action.id))?.state).toBe("expired");
    clock -= 61_000;
  });

  it("sweeps overdue pending actions to expired", async () => {
    const overdue = await store.create(draft(), { ttlSeconds: 30 });
    const fresh = await store.create(draft(), { ttlSeconds: 600 });
    clock += 31_000;
    const expired = await store.expireDue();
    clock -= 31_000;
    expect(expired).toContain(overdue.id);
    expect(expired).not.toContain(fresh.id);
    expect((await store.get(fresh.id))?.state).toBe("pending");
  });

  it("lists actions stuck in approved or executing for crash reconciliation", async () => {
    const stuck = await store.create(draft());
    await store.decide(stuck.id, "approved", bob);
    await store.beginExecution(stuck.id, "test-owner");
    clock += 10 * 60_000;
    const stale = await store.listStale(5 * 60_000);
    clock -= 10 * 60_000;
    expect(stale.map((action) => action.id)).toContain(stuck.id);
    expect((await store.listStale(5 * 60_000)).map((action) => action.id)).not.toContain(stuck.id);
  });

  it("keeps what a requester proposed separate from who decided", async () => {
    const action = await store.create(draft({ requester: alice }));
    await store.decide(action.id, "rejected", bob);
    const stored = await store.get(action.id);
    expect(stored?.requester).toEqual(alice);
    expect(stored?.decidedBy).toEqual(bob);
    expect(stored?.state).toBe("rejected");
  });

  describe("integrity: a Redis writer cannot swap what runs", () => {
    const docOf = async (id: string): Promise<Record<string, unknown>> =>
      JSON.parse((await redis.hget(`${prefix}action:${id}`, "doc")) ?? "{}") as Record<string, unknown>;

    it("refuses a document rewritten in Redis, even with a recomputed plain digest", async () => {
      const action = await store.create(
        draft({ tool: "restart_deployment", arguments: { namespace: "shop", name: "frontend" } }),
      );
      const swapped = {
        ...(await docOf(action.id)),
        tool: "apply_manifest",
        arguments: { namespace: "shop", kind: "Job", name: "warm", manifest: { spec: {} } },
      } as unknown as Parameters<typeof actionDigest>[0] & Record<string, unknown>;
      swapped.digest = actionDigest(swapped);
      await redis.hset(`${prefix}action:${action.id}`, "doc", JSON.stringify(swapped));
      await expect(store.get(action.id)).rejects.toBeInstanceOf(ActionTampered);
      await expect(store.decide(action.id, "approved", bob)).rejects.toThrow(/integrity check/);
    });

    it("refuses a rewritten requester, risk or expiry", async () => {
      for (const change of [
        { requester: mallory },
        { risk: { level: "normal", flags: [] }, _from: "high" },
        { expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
      ]) {
        const action = await store.create(
          draft({ risk: { level: "high", flags: [{ rule: "statefulset-pod", message: "db-0" }] } }),
        );
        const { _from: _ignored, ...patch } = change as Record<string, unknown>;
        await redis.hset(
          `${prefix}action:${action.id}`,
          "doc",
          JSON.stringify({ ...(await docOf(action.id)), ...patch }),
        );
        await expect(store.get(action.id)).rejects.toBeInstanceOf(ActionTampered);
      }
    });

    it("refuses a MAC made with another key, and a missing MAC", async () => {
      const other = createActionStore(redis, {
        prefix,
        ttlSeconds: 900,
        signer: createActionSigner(Buffer.alloc(32, 7)),
      });
      const foreign = await other.create(draft());
      await expect(store.get(foreign.id)).rejects.toBeInstanceOf(ActionTampered);
      const mine = await store.create(draft());
      await redis.hdel(`${prefix}action:${mine.id}`, "mac");
      await expect(store.get(mine.id)).rejects.toBeInstanceOf(ActionTampered);
    });

    it("never moves a finished action back to pending, and never runs it twice", async () => {
      const action = await store.create(draft());
      await store.decide(action.id, "approved", bob);
      expect((await store.beginExecution(action.id, "test-owner")).ok).toBe(true);
      await store.recordStep(action.id, { step: "scale", status: "started", at: new Date().toISOString() });
      await store.finish(action.id, "succeeded", { message: "done", finishedAt: new Date().toISOString() });
      // A Redis writer flips the state back: its signed outcome says succeeded, so it moved backwards.
      await redis.hset(`${prefix}action:${action.id}`, "state", "approved");
      await expect(store.beginExecution(action.id, "test-owner")).rejects.toBeInstanceOf(
        ActionStateRegressed,
      );
      // Even with the outcome erased too, the run's own record and the Lua guard refuse a second run.
      await redis.hdel(`${prefix}action:${action.id}`, "outcome", "outcomeMac", "finalState");
      await expect(store.get(action.id)).rejects.toBeInstanceOf(ActionStateRegressed);
      await redis.hdel(`${prefix}action:${action.id}`, "beganMac");
      const again = await store.beginExecution(action.id, "test-owner");
      expect(again.ok === false && again.reason).toBe("already_ran");
      expect(await store.executions(action.id)).toBe(1);
    });

    it("decides expiry by the signed expiresAt: an unsigned expiresAtMs pushed ahead does not extend it", async () => {
      const action = await store.create(draft(), { ttlSeconds: 30 });
      const key = `${prefix}action:${action.id}`;
      await redis.hset(key, "expiresAtMs", String(clock + 10 * 60_000));
      clock += 40_000;
      const late = await store.decide(action.id, "approved", bob);
      clock -= 40_000;
      expect(late.ok === false && late.reason).toBe("expired");
      expect(await redis.hget(key, "state")).toBe("expired");
      expect(await store.executions(action.id)).toBe(0);
      // And the sweep expires nothing early when the index score is pulled forward.
      const fresh = await store.create(draft(), { ttlSeconds: 600 });
      await redis.zadd(`${prefix}actions:pending`, 0, fresh.id);
      expect(await store.expireDue()).not.toContain(fresh.id);
      expect((await store.get(fresh.id))?.state).toBe("pending");
    });

    it("refuses a rejection flipped back to pending as a state that moved backwards", async () => {
      const action = await store.create(draft());
      await store.decide(action.id, "rejected", bob);
      await redis.hset(`${prefix}action:${action.id}`, "state", "pending");
      await redis.zadd(`${prefix}actions:pending`, clock + 600_000, action.id);
      await expect(store.get(action.id)).rejects.toBeInstanceOf(ActionStateRegressed);
      await expect(store.decide(action.id, "approved", mallory)).rejects.toBeInstanceOf(ActionStateRegressed);
      expect(await redis.hget(`${prefix}action:${action.id}`, "state")).toBe("pending");
      expect((await store.list("pending")).map((a) => a.id)).not.toContain(action.id);
    });

    it("refuses a decider, an outcome or a state that nobody signed", async () => {
      const forgeries: [string, (id: string) => Promise<void>][] = [
        [
          "a decider swapped after a rejection",
          async (id) => {
            await store.decide(id, "rejected", bob);
            await redis.hset(`${prefix}action:${id}`, "decidedBy", JSON.stringify(mallory));
          },
        ],
        [
          "a rejection written without a signature",
          async (id) => {
            await redis.hset(`${prefix}action:${id}`, {
              state: "rejected",
              decidedBy: JSON.stringify(mallory),
              decidedAt: new Date(clock).toISOString(),
            });
          },
        ],
        [
          "an outcome rewritten after a run",
          async (id) => {
            await store.decide(id, "approved", bob);
            await store.beginExecution(id, "test-owner");
            await store.finish(id, "failed", { message: "refused", finishedAt: new Date().toISOString() });
            await redis.hset(`${prefix}action:${id}`, {
              state: "succeeded",
              outcome: JSON.stringify({ message: "all good", finishedAt: new Date().toISOString() }),
            });
          },
        ],
        [
          "a success claimed for an action that never ran",
          async (id) => {
            await store.decide(id, "approved", bob);
            await redis.hset(`${prefix}action:${id}`, "state", "succeeded");
          },
        ],
        [
          "an expiry claimed before the signed expiry",
          async (id) => {
            await redis.hset(`${prefix}action:${id}`, "state", "expired");
          },
        ],
      ];
      for (const [what, forge] of forgeries) {
        const action = await store.create(draft());
        await forge(action.id);
        await expect(store.get(action.id), what).rejects.toBeInstanceOf(ActionTampered);
      }
    });

    it("refuses a signing key shorter than 32 bytes", () => {
      expect(() => createActionSigner(Buffer.alloc(16))).toThrow(/at least 32 bytes/);
    });
  });
});
