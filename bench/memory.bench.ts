import { KubeConfig } from "@kubernetes/client-node";
import { SEED, seedCluster as seedWith } from "../devenv/seed.ts";
import { upTestEnv } from "../devenv/testenv.ts";
import { diagnosesOfTroubleshoot } from "../core/memory/diagnosis.ts";
import type { FixRecord } from "../core/memory/fix-record.ts";
import { createFixMemory } from "../core/memory/fix-store.ts";
import { connectRedis, dropPrefix, testPrefix } from "../test/executor/support.ts";
import { countingRedis } from "../test/helpers/fix-records.ts";
import { startHarness, type Harness } from "../test/mcp/harness.ts";
import { interleaved, spreadNote, spreadOf } from "./compare.ts";
import type { BenchLine } from "./run.ts";

/**
 * What remembering costs a diagnosis: troubleshoot_pod through MCP against
 * the seeded crash loop, then the recall of earlier fixes for the causes it
 * names, with 10,000 fixes remembered in the cluster (spread over 50
 * namespaces and 20 causes, some on the diagnosed workload). Side by side
 * with the same diagnosis without the recall, interleaved; and the Redis
 * round trips one recall takes, counted.
 */
const FIXES = 10_000;
const ROUNDS = 30;
const CLUSTER = "bench";

const CAUSES = [
  "crash-loop:missing-config",
  "crash-loop:connection-refused",
  "crash-loop:host-not-found",
  "crash-loop:timeout",
  "crash-loop:permission-denied",
  "crash-loop:out-of-memory",
  "crash-loop:port-in-use",
  "crash-loop:missing-file",
  "crash-loop:program-crash",
  "crash-loop",
  "oom-killed",
  "image-pull:image-not-found",
  "image-pull:registry-auth",
  "image-pull:registry-unreachable",
  "container-config:CreateContainerConfigError",
  "exited",
  "unschedulable:Unschedulable",
  "evicted",
  "probe-failing",
  "image-pull:pull-failed",
];

function record(index: number, namespace: string, workload: string, causeKey: string): FixRecord {
  const at = new Date(Date.now() - (index % 1000) * 60_000).toISOString();
  return {
    v: 1,
    id: `act_benchmemory${String(index).padStart(12, "0")}`,
    cluster: CLUSTER,
    namespace,
    workload: { kind: "Deployment", name: workload },
    cause: { rule: causeKey.split(":")[0]!, key: causeKey, facts: { container: "web" } },
    change: {
      tool: "set_deployment_env",
      input: { container: "web", set: { [`SETTING_${index % 7}`]: "on" }, remove: [] },
    },
    requester: { kind: "slack", id: "U0BENCHALICE" },
    approver: { kind: "slack", id: "U0BENCHBOB" },
    proposedAt: at,
    approvedAt: at,
    ranAt: at,
    result: index % 5 === 0 ? "stuck" : "healthy",
    verifiedSeconds: 40,
    thread: { channel: "C0BENCH", ts: `1765000000.${String(index).padStart(6, "0")}` },
    recordedAt: new Date().toISOString(),
  };
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export async function run(): Promise<BenchLine[]> {
  const state = await upTestEnv({ progress: (line) => process.stderr.write(`testenv: ${line}\n`) });
  const admin = new KubeConfig();
  admin.loadFromFile(state.kubeconfig);
  await seedWith(admin);
  const h: Harness = await startHarness({
    env: { DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "10000", DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: "10000" },
  });
  const redis = connectRedis();
  const prefix = testPrefix("bench-memory");
  try {
    const retentionSeconds = 90 * 24 * 3600;
    const memory = createFixMemory(redis, { prefix, retentionSeconds, maxPerCause: 1000 });
    const ns = SEED.namespace;
    const checkout = SEED.crashLoop.deployment;
    // 10,000 fixes: 50 namespaces (the seeded one among them) × 20 causes, 10 per pair, a few on checkout.
    const namespaces = [ns, ...Array.from({ length: 49 }, (_, i) => `team-${i}`)];
    const started = performance.now();
    for (let batch = 0; batch < FIXES; batch += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => {
          const i = batch + j;
          const namespace = namespaces[i % namespaces.length]!;
          const cause = CAUSES[Math.floor(i / namespaces.length) % CAUSES.length]!;
          const workload = namespace === ns && i % 3 === 0 ? checkout : `svc-${i % 40}`;
          return memory.record(record(i, namespace, workload, cause));
        }),
      );
    }
    const seedMs = performance.now() - started;

    const diagnose = async () => {
      const result = await h.call("troubleshoot_pod", { namespace: ns, name: checkout });
      return diagnosesOfTroubleshoot(result.structured);
    };
    const causes = (await diagnose())[0]?.causes.map((cause) => cause.key) ?? [];
    const { client, trips } = countingRedis(redis);
    const counted = createFixMemory(client, { prefix, retentionSeconds, maxPerCause: 1000 });
    const query = { cluster: CLUSTER, namespace: ns, workload: checkout, causeKeys: causes };
    const found = await counted.recall(query);
    const tripsPerRecall = trips();

    const sides = await interleaved({
      plain: async () => {
        const times: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          const start = performance.now();
          await diagnose();
          times.push(performance.now() - start);
        }
        return { p50: percentile(times, 50), p95: percentile(times, 95) };
      },
      recall: async () => {
        const times: number[] = [];
        const recallTimes: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          const start = performance.now();
          const diagnosed = await diagnose();
          const before = performance.now();
          await memory.recall({
            ...query,
            causeKeys: diagnosed[0]?.causes.map((cause) => cause.key) ?? causes,
          });
          const end = performance.now();
          times.push(end - start);
          recallTimes.push(end - before);
        }
        return {
          p50: percentile(times, 50),
          p95: percentile(times, 95),
          recallP50: percentile(recallTimes, 50),
          recallP95: percentile(recallTimes, 95),
        };
      },
    });
    const of = (side: "plain" | "recall", key: string): number[] => sides[side].map((s) => s[key] ?? NaN);
    const line = (name: string, values: number[]): BenchLine => ({
      name,
      value: Number(spreadOf(values).median.toFixed(2)),
      unit: `ms (median; ${spreadNote(values)})`,
    });
    return [
      {
        name: "fixes remembered in the cluster",
        value: FIXES,
        unit: `fixes (written in ${Math.round(seedMs)} ms)`,
      },
      {
        name: "recall found a fix for the seeded crash loop",
        value: found ? 1 : 0,
        unit: found ? `yes (${found.fix.id}, same workload: ${found.sameWorkload})` : "no",
      },
      {
        name: "Redis round trips per recall",
        value: tripsPerRecall,
        unit: `round trip(s) for ${causes.length} cause(s)`,
      },
      line("troubleshoot_pod checkout p50, without recall", of("plain", "p50")),
      line("troubleshoot_pod checkout p50, with recall", of("recall", "p50")),
      line("troubleshoot_pod checkout p95, without recall", of("plain", "p95")),
      line("troubleshoot_pod checkout p95, with recall", of("recall", "p95")),
      line("recall alone p50", of("recall", "recallP50")),
      line("recall alone p95", of("recall", "recallP95")),
    ];
  } finally {
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await h.close();
  }
}
