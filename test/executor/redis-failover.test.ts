import { randomBytes } from "node:crypto";
import { AppsV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecisionResult, PendingActionRef } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createRedisClient } from "../../core/state/redis.ts";
import { startRedisHa, type RedisHa } from "../../devenv/redis-ha.ts";
import type { ApprovalExecutor } from "../../executor/approval-executor.ts";
import { writeExecutor } from "./write-fixture.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { adminKubeConfig, eventually } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { alice, bob, capture, testPrefix, testSigner, type Captured } from "./support.ts";
import { prepareWriteEnv, type WriteEnv } from "./write-env.ts";

/**
 * A Sentinel failover under the approval path, with the real MCP server,
 * executor, OpenBao-compatible server and API server, and a Redis of the
 * test's own in replication (primary, two replicas, three sentinels) with
 * WAIT for one replica: what was acknowledged survives the primary's death,
 * what could not be confirmed is said, and nothing runs twice.
 */
const NS = "deputy-w-exec";
const RUN = randomBytes(3).toString("hex");
const STALE_AFTER_MS = 1500;

interface Rig {
  ha: RedisHa;
  redis: Redis;
  prefix: string;
  store: ActionStore;
  harness: Harness;
  executor: ApprovalExecutor;
  captured: Captured;
  close(): Promise<void>;
}

let env: WriteEnv;
const apps = (): AppsV1Api => adminKubeConfig().makeApiClient(AppsV1Api);

async function startRig(): Promise<Rig> {
  const ha = await startRedisHa({ replicas: 2 });
  const prefix = testPrefix("failover");
  const redis = createRedisClient(ha.config(prefix, { waitReplicas: 1, waitTimeoutMs: 500 }), {
    maxRetriesPerRequest: 2,
  });
  redis.on("error", () => undefined);
  const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
  const harness = await startHarness({
    env: {
      ...ha.env({ waitReplicas: 1, waitTimeoutMs: 500 }),
      DEPUTY_REDIS_PREFIX: prefix,
      DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000",
      DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: "1000",
    },
  });
  const captured = capture();
  const executor = writeExecutor(env, {
    store,
    audit: captured.audit,
    logger: captured.logger,
    staleAfterMs: STALE_AFTER_MS,
  });
  return {
    ha,
    redis,
    prefix,
    store,
    harness,
    executor,
    captured,
    async close() {
      await harness.close().catch(() => undefined);
      redis.disconnect();
      await ha.stop();
    },
  };
}

/** An approver's click on the card of `ref`. */
const approve = (rig: Rig, ref: PendingActionRef): Promise<DecisionResult> =>
  rig.executor.decide({ actionId: ref.id, digest: ref.digest, approver: bob, decision: "approve" });

async function propose(rig: Rig, name: string, replicas: number): Promise<PendingActionRef> {
  const reply = await rig.harness.call(
    "scale_deployment",
    { namespace: NS, name, replicas },
    { "deputy/requester": alice, "deputy/reason": "more capacity" },
  );
  expect(reply.isError, reply.text).toBe(false);
  expect(reply.text).toMatch(/^pending approval \(id act_/);
  return reply.structured?.pendingAction as PendingActionRef;
}

/** Kill the primary, wait for the sentinels to promote a replica, and for the client to reach it. */
async function failOver(rig: Rig): Promise<void> {
  const old = await rig.ha.killPrimary();
  await rig.ha.waitForFailover(old);
  await onNewPrimary(rig);
}

/** The same client, following the sentinels, answers from the promoted primary. */
async function onNewPrimary(rig: Rig): Promise<void> {
  await eventually("the client on the new primary", async () => (await rig.redis.ping()) === "PONG", {
    intervalMs: 100,
  }).catch((error: unknown) => {
    throw new Error(`${String(error)} (client status ${rig.redis.status})`);
  });
}

const replicasOf = async (name: string): Promise<number | undefined> =>
  (await apps().readNamespacedDeployment({ name, namespace: NS })).spec?.replicas;
const generationOf = async (name: string): Promise<number | undefined> =>
  (await apps().readNamespacedDeployment({ name, namespace: NS })).metadata?.generation;

beforeAll(async () => {
  env = await prepareWriteEnv();
}, 180_000);

describe("a failover while an action is pending", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
  });

  it("a proposal whose replication cannot be confirmed is answered with an error, not 'pending approval'", async () => {
    const name = `ha-unconfirmed-${RUN}`;
    await freshDeployment(NS, name);
    const replicas = await rig.ha.replicas();
    for (const node of replicas) rig.ha.freeze(node);
    let reply: Awaited<ReturnType<Harness["call"]>>;
    try {
      reply = await rig.harness.call(
        "scale_deployment",
        { namespace: NS, name, replicas: 2 },
        { "deputy/requester": alice },
      );
    } finally {
      for (const node of replicas) rig.ha.thaw(node);
    }
    expect(reply.isError).toBe(true);
    expect(reply.text).toMatch(
      /^Redis could not confirm that the pending action reached 1 replica within 500 ms \(0 confirmed\); .*the proposal was withdrawn: nothing is pending approval and nothing was changed/,
    );
    expect(reply.text).not.toContain("pending approval (id");
    expect(await rig.store.list("pending")).toEqual([]);
    await rig.ha.waitForReplicas(2);
  });

  it("the primary dies after the proposal; after the promotion, Approve runs it exactly once and reports it", async () => {
    const name = `ha-pending-${RUN}`;
    await freshDeployment(NS, name);
    const ref = await propose(rig, name, 3);
    await failOver(rig);
    // The other replica follows the new primary, so approvals can be confirmed again.
    await rig.ha.waitForReplicas(1);
    const action = await rig.store.get(ref.id);
    expect(action).toMatchObject({ id: ref.id, digest: ref.digest, state: "pending" });

    const result = await approve(rig, ref);
    expect(result.status, result.message).toBe("succeeded");
    expect(await replicasOf(name)).toBe(3);
    expect(await rig.store.executions(ref.id)).toBe(1);
    const again = await approve(rig, ref);
    expect(again.status).toBe("not_pending");
    const runs = rig.captured.records.filter((r) => r.kind === "execution" && r.actionId === ref.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ outcome: "succeeded" });
  });
});

describe("a failover in the middle of approvals", () => {
  const COUNT = 20;
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
  });

  it("20 approvals clicked while the primary is killed: each runs once and is reported, stays pending, or is refused with a sentence", async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `ha-herd-${RUN}-${i}`);
    for (const name of names) await freshDeployment(NS, name);
    const refs = new Map<string, PendingActionRef>();
    for (const name of names) refs.set(name, await propose(rig, name, 2));
    const generations = new Map<string, number | undefined>();
    for (const name of names) generations.set(name, await generationOf(name));

    // All clicked at once; the primary is killed as soon as the first one has run.
    const clicks = names.map((name) => {
      const ref = refs.get(name)!;
      return approve(rig, ref).then(
        (result): { result?: DecisionResult; lost?: string } => ({ result }),
        (error: unknown): { result?: DecisionResult; lost?: string } => ({ lost: String(error) }),
      );
    });
    await eventually(
      "a first approval run",
      async () => rig.captured.records.some((r) => r.kind === "execution"),
      { intervalMs: 20 },
    );
    const old = await rig.ha.killPrimary();
    const answers = await Promise.all(clicks);
    await rig.ha.waitForFailover(old);
    await onNewPrimary(rig);
    await rig.ha.waitForReplicas(1);

    // What the first answers said is true: a success ran, a sentence was given for the rest.
    for (const [i, answer] of answers.entries()) {
      if (answer.lost) continue;
      const result = answer.result!;
      expect(result.message.length, JSON.stringify(result)).toBeGreaterThan(10);
      if (result.status === "succeeded") expect(await replicasOf(names[i]!)).toBe(2);
    }

    // Stopped executors' actions are closed (never re-run); what is still pending is clicked again.
    await new Promise((resolve) => setTimeout(resolve, STALE_AFTER_MS));
    await rig.executor.reconcile();
    for (const name of names) {
      const ref = refs.get(name)!;
      if ((await rig.store.get(ref.id))?.state !== "pending") continue;
      const retry = await approve(rig, ref);
      expect(retry.status, retry.message).toBe("succeeded");
    }

    const tally: Record<string, number> = {};
    for (const [i, name] of names.entries()) {
      const ref = refs.get(name)!;
      const action = await rig.store.get(ref.id);
      const changed = (await replicasOf(name)) === 2;
      const key = `${action?.state ?? "lost"}:${changed ? "ran" : "not run"}`;
      tally[key] = (tally[key] ?? 0) + 1;
      // Never silently lost: the action is still in Redis, in a final state that says what happened.
      expect(action, `${name}: ${JSON.stringify(answers[i])}`).toBeDefined();
      expect(["succeeded", "failed", "interrupted"]).toContain(action!.state);
      if (action!.state === "succeeded") expect(changed).toBe(true);
      if (action!.state === "failed") {
        expect(changed, action!.outcome?.message).toBe(false);
        expect(action!.outcome?.message).toMatch(/nothing was run|was not run|Nothing was changed/i);
      }
      if (action!.state === "interrupted") expect(action!.outcome?.message).toMatch(/^Interrupted: /);
      // Never twice: one execution record at most, and one spec change at most.
      const runs = rig.captured.records.filter((r) => r.kind === "execution" && r.actionId === ref.id);
      expect(runs.filter((r) => r.outcome === "succeeded").length).toBeLessThanOrEqual(1);
      expect((await generationOf(name))! - generations.get(name)!).toBeLessThanOrEqual(1);
    }
    // The first approval ran before the failover, the others were caught in it or after it.
    expect(tally["succeeded:ran"] ?? 0, JSON.stringify(tally)).toBeGreaterThan(0);
  }, 300_000);
});
