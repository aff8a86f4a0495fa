import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeduper } from "../../bot/dedupe.ts";
import { redisCheck } from "../../cli/doctor.ts";
import { ActionUnconfirmed, createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createRedisClient, ReplicationUnconfirmed } from "../../core/state/redis.ts";
import { startRedisHa, type RedisHa } from "../../devenv/redis-ha.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { testRoles } from "../executor/write-env.ts";
import { alice, bob, capture, draft, testPrefix, testSigner } from "../executor/support.ts";

/**
 * Durability on a real Redis in replication with real Sentinels (a primary,
 * two replicas, three sentinels of the test's own): what WAIT confirms
 * survives the primary's death; what it cannot confirm is refused with a
 * sentence and never reaches the cluster; with no replica configured, no
 * WAIT is ever sent.
 */
let ha: RedisHa;
const clients: Redis[] = [];
const prefix = testPrefix("redis-ha");

function client(waitReplicas: number): Redis {
  const redis = createRedisClient(ha.config(prefix, { waitReplicas, waitTimeoutMs: 300 }), {
    maxRetriesPerRequest: 2,
  });
  redis.on("error", () => undefined);
  clients.push(redis);
  return redis;
}

function storeOn(redis: Redis): ActionStore {
  return createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
}

/** An executor whose broker mints nothing and records every credential asked of it. */
function executorOn(store: ActionStore, minted: string[]): ApprovalExecutor {
  const { audit, logger } = capture();
  return createApprovalExecutor({
    store,
    broker: {
      withCredential: (request) => {
        minted.push(request.role.name);
        return Promise.reject(new Error("this test's broker mints nothing"));
      },
      revokeLease: () => Promise.resolve(),
      stats: () => ({ logins: 0, minted: 0, revoked: 0, revokeFailures: 0, renewals: 0, renewFailures: 0 }),
    },
    roles: testRoles(),
    cluster: { server: "https://127.0.0.1:9", caPem: "" },
    audit,
    logger,
    approvers: { slackUserIds: [bob.id], localApproverIds: [] },
    twoPersonRule: { normal: true, high: true },
    protectedNamespaces: ["kube-system"],
    clusterName: "test",
  });
}

/** Replicas that acknowledge nothing until `thaw` (SIGSTOP), as a replica cut off or overloaded. */
async function frozenReplicas<T>(work: () => Promise<T>): Promise<T> {
  const replicas = await ha.replicas();
  for (const node of replicas) ha.freeze(node);
  try {
    return await work();
  } finally {
    for (const node of replicas) ha.thaw(node);
    await ha.waitForReplicas(replicas.length);
  }
}

async function keysOnPrimary(redis: Redis): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== "0");
  return found;
}

beforeAll(async () => {
  ha = await startRedisHa({ replicas: 2 });
});

afterAll(async () => {
  for (const redis of clients) redis.disconnect();
  await ha?.stop();
});

describe("Redis with replicas and Sentinel", () => {
  it("with no replica configured, no WAIT is sent: today's behaviour", async () => {
    const redis = client(0);
    await redis.config("RESETSTAT");
    const store = storeOn(redis);
    const action = await store.create(draft());
    expect((await store.decide(action.id, "approved", bob)).ok).toBe(true);
    expect((await store.beginExecution(action.id, "owner-a")).ok).toBe(true);
    expect(
      (await store.finish(action.id, "succeeded", { message: "done", finishedAt: new Date().toISOString() }))
        .ok,
    ).toBe(true);
    expect(await createDeduper(redis, { prefix }).claim("interaction", "click-0")).toBe(true);
    const stats = await redis.info("commandstats");
    expect(stats).toMatch(/cmdstat_eval(sha)?:/);
    expect(stats).not.toContain("cmdstat_wait:");
  });

  it("a proposal whose replication cannot be confirmed is refused with a sentence and withdrawn", async () => {
    const redis = client(1);
    const store = storeOn(redis);
    const error = await frozenReplicas(() =>
      store.create(draft()).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^Redis could not confirm that the pending action reached 1 replica within 300 ms \(0 confirmed\); if Redis failed over now it could be lost\. So the proposal was withdrawn: nothing is pending approval/,
    );
    expect(await store.list("pending")).toEqual([]);
    expect((await keysOnPrimary(redis)).filter((key) => key.includes(":action:"))).toHaveLength(1);
  });

  it("an approval's click claim that cannot be confirmed is given back, so the next click counts", async () => {
    const redis = client(1);
    const deduper = createDeduper(redis, { prefix });
    const error = await frozenReplicas(() =>
      deduper.claim("interaction", "click-1").then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(error).toBeInstanceOf(ReplicationUnconfirmed);
    expect((error as Error).message).toMatch(/the claim of this click reached 1 replica/);
    expect(await deduper.claim("interaction", "click-1")).toBe(true);
    expect(await deduper.claim("interaction", "click-1")).toBe(false);
  });

  it("an approval the replicas did not confirm is not run: no credential, closed with a sentence", async () => {
    const redis = client(1);
    const store = storeOn(redis);
    const minted: string[] = [];
    const executor = executorOn(store, minted);
    const action = await store.create(draft());
    const result = await frozenReplicas(() =>
      executor.decide({ actionId: action.id, digest: action.digest, approver: bob, decision: "approve" }),
    );
    expect(result.status).toBe("refused");
    expect(result.message).toMatch(
      new RegExp(
        `^Your approval of action ${action.id} was not acted on: Redis could not confirm that action ${action.id} is approved reached 1 replica within 300 ms \\(0 confirmed\\); .* Nothing was run and nothing was changed`,
      ),
    );
    expect(minted).toEqual([]);
    expect(await store.executions(action.id)).toBe(0);
    expect((await store.get(action.id))?.state).toBe("failed");
  });

  it("an executing transition the replicas did not confirm never reaches the API server", async () => {
    // Decisions confirmed by nobody, starts by one replica: the approval goes through, the start does not.
    const unconfirmedDecisions = storeOn(client(0));
    const confirmedStarts = storeOn(client(1));
    const store: ActionStore = { ...unconfirmedDecisions, beginExecution: confirmedStarts.beginExecution };
    const minted: string[] = [];
    const executor = executorOn(store, minted);
    const action = await store.create(draft());
    const result = await frozenReplicas(() =>
      executor.decide({ actionId: action.id, digest: action.digest, approver: bob, decision: "approve" }),
    );
    expect(result.status).toBe("failed");
    expect(result.message).toMatch(
      new RegExp(
        `^Action ${action.id} was not run: Redis could not confirm that action ${action.id} is executing`,
      ),
    );
    expect(minted).toEqual([]);
    expect(await store.executions(action.id)).toBe(0);
    expect(await store.steps(action.id)).toEqual([]);
  });

  it("every state transition is confirmed while the replicas keep up", async () => {
    const redis = client(1);
    await redis.config("RESETSTAT");
    const store = storeOn(redis);
    const action = await store.create(draft({ requester: alice }));
    await store.decide(action.id, "approved", bob);
    await store.beginExecution(action.id, "owner-b");
    await store.finish(action.id, "succeeded", { message: "done", finishedAt: new Date().toISOString() });
    // One WAIT per write that matters: the proposal, approved, executing, succeeded.
    expect(/cmdstat_wait:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1]).toBe("4");
    // An outcome the replicas miss is still the outcome, flagged as unconfirmed.
    const second = await store.create(draft());
    await store.decide(second.id, "approved", bob);
    await store.beginExecution(second.id, "owner-b");
    const error = await frozenReplicas(() =>
      store.finish(second.id, "failed", { message: "it failed", finishedAt: new Date().toISOString() }).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(error).toBeInstanceOf(ActionUnconfirmed);
    expect((error as ActionUnconfirmed).action.state).toBe("failed");
  });

  it("confirmations asked for at once share a WAIT, which blocks its connection while it waits", async () => {
    const redis = client(1);
    await redis.ping();
    await redis.config("RESETSTAT");
    const store = storeOn(redis);
    const actions = await Promise.all(Array.from({ length: 20 }, () => store.create(draft())));
    for (const action of actions) expect(await store.get(action.id)).toMatchObject({ state: "pending" });
    const waits = Number(/cmdstat_wait:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1]);
    expect(waits).toBeGreaterThanOrEqual(1);
    expect(waits).toBeLessThan(20);
  });

  it("deputy doctor names the primary it reached and the replicas attached", async () => {
    const primary = await ha.primary();
    const config = parseConfig({ ...ha.env({ waitReplicas: 1 }), DEPUTY_REDIS_PREFIX: prefix });
    const result = await redisCheck(config).run();
    expect(result.ok, result.sentence).toBe(true);
    expect(result.sentence).toContain(
      `the sentinels name 127.0.0.1:${primary.port} as primary of ${ha.masterName}, 2 replicas attached (2 online); writes wait for 1 replica (up to 500 ms).`,
    );
    const tooMany = await redisCheck(
      parseConfig({ ...ha.env({ waitReplicas: 3 }), DEPUTY_REDIS_PREFIX: prefix }),
    ).run();
    expect(tooMany.ok).toBe(false);
    expect(tooMany.sentence).toMatch(
      /fewer than DEPUTY_REDIS_WAIT_REPLICAS=3: every proposal and approval would be refused/,
    );
  });

  it("a confirmed proposal and click claim are there after the primary is killed and a replica promoted", async () => {
    const redis = client(1);
    const store = storeOn(redis);
    const deduper = createDeduper(redis, { prefix });
    const action = await store.create(draft());
    expect(await deduper.claim("interaction", "click-2")).toBe(true);
    const old = await ha.killPrimary();
    const promoted = await ha.waitForFailover(old);
    expect(promoted.port).not.toBe(old.port);
    // The same client follows the sentinels to the new primary.
    const after = await (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await store.get(action.id);
        } catch (error) {
          if (attempt > 100) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    })();
    expect(after).toMatchObject({ id: action.id, digest: action.digest, state: "pending" });
    expect(await deduper.claim("interaction", "click-2")).toBe(false);
    expect(redis.stream.remotePort).toBe(promoted.port);
    // And the promoted primary has a replica to confirm the approval on.
    await ha.waitForReplicas(1);
    expect((await store.decide(action.id, "approved", bob)).ok).toBe(true);
  });
});
