import type { Redis } from "ioredis";
import type { PendingActionRef } from "../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../core/actions/store.ts";
import { createAuditLog } from "../core/audit/log.ts";
import { createLogger } from "../core/observability/logger.ts";
import { createRedisClient } from "../core/state/redis.ts";
import { parseRedisConfig, type RedisConfig } from "../core/state/redis-config.ts";
import { startRedisHa } from "../devenv/redis-ha.ts";
import { upTestEnv } from "../devenv/testenv.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../executor/approval-executor.ts";
import { createCredentialBroker } from "../executor/credential-broker.ts";
import { startOwnRedis } from "../test/faults/support.ts";
import { alice, bob, testPrefix, testSigner } from "../test/executor/support.ts";
import { prepareWriteEnv, type WriteEnv } from "../test/executor/write-env.ts";
import { freshDeployment } from "../test/helpers/deployments.ts";
import { startHarness, type Harness } from "../test/mcp/harness.ts";
import { interleaved, spreadNote, spreadOf } from "./compare.ts";
import type { BenchReport } from "./run.ts";

/**
 * The 50-approval herd on a single Redis and on a primary with a replica
 * behind Sentinel with WAIT for that replica (DEPUTY_REDIS_WAIT_REPLICAS=1),
 * interleaved in the same run, each with its own real redis-server processes
 * (never the machine's shared Redis). Then, on the replicated side, the time
 * from the primary's death (SIGKILL) to the first approval served by the
 * promoted replica. And the round trip one WAIT costs, to hold the herd's
 * difference against: at most one replication round trip per transition.
 */
const NS = "deputy-w-bench";
const APPROVALS = 50;
const ROUNDS = 3;
const SIDES = ["single Redis", "primary+replica, WAIT 1"] as const;
type Side = (typeof SIDES)[number];

interface SideRig {
  redis: Redis;
  store: ActionStore;
  harness: Harness;
  executor: ApprovalExecutor;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function rigFor(
  env: WriteEnv,
  redisConfig: RedisConfig,
  harnessEnv: Record<string, string>,
): Promise<SideRig> {
  const redis = createRedisClient(redisConfig, { maxRetriesPerRequest: 2 });
  redis.on("error", () => undefined);
  const store = createActionStore(redis, {
    prefix: redisConfig.prefix,
    ttlSeconds: 900,
    signer: testSigner(),
  });
  const harness = await startHarness({
    env: {
      ...harnessEnv,
      DEPUTY_REDIS_PREFIX: redisConfig.prefix,
      DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "10000",
      DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: "100000",
    },
  });
  const logger = createLogger({ level: "silent" });
  const executor = createApprovalExecutor({
    store,
    broker: createCredentialBroker({
      openbao: env.openbao,
      logger,
      authMount: env.authMount,
      authRole: env.authRole,
      secretsMount: env.secretsMount,
      secretsMounts: env.secretsMounts,
      jwtPath: env.jwtPath,
    }),
    roles: env.roles,
    cluster: env.cluster,
    audit: createAuditLog({ destination: { write: () => undefined } }),
    logger,
    approvers: { slackUserIds: [bob.id], localApproverIds: [] },
    twoPersonRule: { normal: true, high: true },
    protectedNamespaces: ["kube-system"],
    clusterName: "testenv",
  });
  return { redis, store, harness, executor };
}

async function propose(rig: SideRig, name: string, replicas: number): Promise<PendingActionRef> {
  const reply = await rig.harness.call(
    "scale_deployment",
    { namespace: NS, name, replicas },
    { "deputy/requester": alice },
  );
  if (reply.isError) throw new Error(`could not propose: ${reply.text}`);
  return reply.structured?.pendingAction as PendingActionRef;
}

const approve = (rig: SideRig, ref: PendingActionRef) =>
  rig.executor.decide({ actionId: ref.id, digest: ref.digest, approver: bob, decision: "approve" });

export async function run(): Promise<BenchReport> {
  await upTestEnv({ progress: (line) => process.stderr.write(`testenv: ${line}\n`) });
  const env = await prepareWriteEnv();
  const names = Array.from({ length: APPROVALS }, (_, i) => `ha-herd-${i}`);
  for (const name of names) await freshDeployment(NS, name, { replicas: 0 });

  const single = await startOwnRedis();
  const ha = await startRedisHa({ replicas: 2 });
  const rigs: Partial<Record<Side, SideRig>> = {};
  try {
    const singlePrefix = testPrefix("bench-ha-single");
    rigs["single Redis"] = await rigFor(env, parseRedisConfig({ url: single.url, prefix: singlePrefix }), {
      REDIS_URL: single.url,
    });
    const haPrefix = testPrefix("bench-ha-replicated");
    rigs["primary+replica, WAIT 1"] = await rigFor(
      env,
      ha.config(haPrefix, { waitReplicas: 1, waitTimeoutMs: 2000 }),
      ha.env({ waitReplicas: 1, waitTimeoutMs: 2000 }),
    );

    let round = 0;
    const herd = (side: Side) => async () => {
      const rig = rigs[side]!;
      round++;
      const refs = await Promise.all(names.map((name, i) => propose(rig, name, 1 + ((i + round) % 3))));
      const timings: number[] = [];
      const started = performance.now();
      const results = await Promise.all(
        refs.map(async (ref) => {
          const t0 = performance.now();
          const result = await approve(rig, ref);
          timings.push(performance.now() - t0);
          return result;
        }),
      );
      const wall = performance.now() - started;
      const failures = results.filter((result) => result.status !== "succeeded");
      for (const failure of failures.slice(0, 3))
        process.stderr.write(`ha bench (${side}): ${failure.status}: ${failure.message}\n`);
      timings.sort((a, b) => a - b);
      return { p50: percentile(timings, 50), p95: percentile(timings, 95), wall, failures: failures.length };
    };
    const runs = await interleaved({ [SIDES[0]]: herd(SIDES[0]), [SIDES[1]]: herd(SIDES[1]) }, ROUNDS);

    // What one WAIT costs on this machine: a write alone, and a write then WAIT 1.
    const replicated = rigs["primary+replica, WAIT 1"]!.redis;
    const roundTrips = { write: [] as number[], "write + WAIT": [] as number[] };
    for (let i = 0; i < 200; i++) {
      const key = `${haPrefix}rtt`;
      let t0 = performance.now();
      await replicated.set(key, String(i));
      roundTrips.write.push(performance.now() - t0);
      t0 = performance.now();
      await replicated.set(key, String(i));
      await replicated.wait(1, 2000);
      roundTrips["write + WAIT"].push(performance.now() - t0);
    }
    const waitCost = spreadOf(roundTrips["write + WAIT"]).median - spreadOf(roundTrips.write).median;

    // Failover: proposals pending, the primary killed, approvals tried every 50 ms, one action each.
    const rig = rigs["primary+replica, WAIT 1"]!;
    const pending = await Promise.all(
      names.slice(0, 40).map((name, i) => propose(rig, name, 1 + ((i + round + 1) % 3))),
    );
    const old = await ha.killPrimary();
    const killedAt = performance.now();
    let firstServed: number | undefined;
    let attempts = 0;
    for (const ref of pending) {
      attempts++;
      const result = await approve(rig, ref).catch(() => undefined);
      if (result?.status === "succeeded") {
        firstServed = performance.now() - killedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const promoted = await ha.waitForFailover(old);
    if (firstServed === undefined)
      throw new Error(`no approval was served within ${attempts} attempts after the failover`);

    const ms = (value: number): string => `${Math.round(value).toLocaleString("en-US")} ms`;
    const cell = (side: Side, metric: "p50" | "p95" | "wall"): string => {
      const values = runs[side].map((sample) => sample[metric]!);
      return `${ms(spreadOf(values).median)} (${values.map((v) => Math.round(v)).join(" / ")})`;
    };
    const rows: [string, (side: Side) => string][] = [
      ["p50 approval→done (each run)", (side) => cell(side, "p50")],
      ["p95 approval→done (each run)", (side) => cell(side, "p95")],
      ["wall time for 50 (each run)", (side) => cell(side, "wall")],
      ["failures", (side) => String(runs[side].reduce((sum, sample) => sum + sample.failures!, 0))],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    const colWidth = Math.max(
      ...SIDES.map((side) => side.length),
      ...rows.map(([, f]) => f(SIDES[1]).length),
    );
    const p50 = (side: Side): number => spreadOf(runs[side].map((sample) => sample.p50!)).median;
    const perTransition = (p50(SIDES[1]) - p50(SIDES[0])) / 3;
    const text = [
      `${APPROVALS} concurrent approvals, ${ROUNDS} runs per side, interleaved; each approval is 3 confirmed transitions (approved, executing, succeeded)`,
      `${"".padEnd(width)}  ${SIDES.map((side) => side.padEnd(colWidth)).join("  ")}`,
      ...rows.map(
        ([name, f]) => `${name.padEnd(width)}  ${SIDES.map((side) => f(side).padEnd(colWidth)).join("  ")}`,
      ),
      `one write alone ${spreadOf(roundTrips.write).median.toFixed(2)} ms, a write then WAIT 1 ${spreadOf(roundTrips["write + WAIT"]).median.toFixed(2)} ms (median of 200, nothing else running): one WAIT costs ${waitCost.toFixed(2)} ms`,
      `primary killed (SIGKILL) → ${promoted.name} promoted; first approval served ${ms(firstServed)} after the kill (${attempts} attempts, one every 50 ms)`,
      "",
    ].join("\n");
    return {
      text,
      lines: [
        {
          name: "p50 approval→done (single Redis)",
          value: Math.round(p50(SIDES[0])),
          unit: `ms (${spreadNote(runs[SIDES[0]].map((s) => s.p50!))})`,
        },
        {
          name: "p50 approval→done (WAIT 1)",
          value: Math.round(p50(SIDES[1])),
          unit: `ms (${spreadNote(runs[SIDES[1]].map((s) => s.p50!))})`,
        },
        {
          name: "p95 approval→done (single Redis)",
          value: Math.round(spreadOf(runs[SIDES[0]].map((s) => s.p95!)).median),
          unit: `ms (${spreadNote(runs[SIDES[0]].map((s) => s.p95!))})`,
        },
        {
          name: "p95 approval→done (WAIT 1)",
          value: Math.round(spreadOf(runs[SIDES[1]].map((s) => s.p95!)).median),
          unit: `ms (${spreadNote(runs[SIDES[1]].map((s) => s.p95!))})`,
        },
        {
          name: "p50 difference per transition",
          value: Number(perTransition.toFixed(2)),
          unit: "ms (goal ≤ one WAIT round trip)",
        },
        { name: "one WAIT round trip", value: Number(waitCost.toFixed(2)), unit: "ms" },
        { name: "primary loss → first approval served", value: Math.round(firstServed), unit: "ms" },
      ],
    };
  } finally {
    for (const rig of Object.values(rigs)) {
      await rig.harness.close().catch(() => undefined);
      rig.redis.disconnect();
    }
    await ha.stop();
    await single.close();
  }
}
