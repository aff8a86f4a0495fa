import { AppsV1Api, KubeConfig } from "@kubernetes/client-node";
import { createAuditLog } from "../core/audit.ts";
import { createLogger } from "../core/logger.ts";
import type { PendingAction } from "../core/actions/schema.ts";
import { createActionStore } from "../core/actions/store.ts";
import { createApprovalExecutor } from "../executor/approval-executor.ts";
import { createCredentialBroker, type CredentialBroker } from "../executor/credential-broker.ts";
import { upTestEnv } from "../test/env/testenv.ts";
import { loadTestEnv } from "../test/helpers/testenv.ts";
import { alice, bob, connectRedis, dropPrefix, testPrefix, testSigner } from "../test/executor/support.ts";
import { prepareWriteEnv } from "../test/executor/write-env.ts";
import { comparisonLines, interleaved, type Sample } from "./compare.ts";
import type { BenchLine } from "./run.ts";

/**
 * 50 approvals at once, each with its own just-in-time credential: the talk's
 * thundering herd against the secret store. Goal: one OpenBao login while its
 * token is valid, 50 credentials minted and revoked, no failure. Reports the
 * median and p95 time from "approve" to "done" (mint, write, revoke), beside
 * the same herd with one login per approval, interleaved over three runs.
 */
const NS = "deputy-w-bench";
const APPROVALS = 50;
const DEPLOYMENTS = APPROVALS;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function run(): Promise<BenchLine[]> {
  await upTestEnv({ progress: (line) => process.stderr.write(`testenv: ${line}\n`) });
  const env = await prepareWriteEnv();
  const admin = new KubeConfig();
  admin.loadFromFile(loadTestEnv().kubeconfig);
  const apps = admin.makeApiClient(AppsV1Api);

  // One deployment per approval: 50 independent writes, so any failure is the write path's own.
  const targets: PendingAction["target"][] = [];
  for (let i = 0; i < DEPLOYMENTS; i++) {
    const name = `bench-${i}`;
    await apps.deleteNamespacedDeployment({ name, namespace: NS }).catch(() => undefined);
    const created = await (async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          return await apps.createNamespacedDeployment({
            namespace: NS,
            body: {
              metadata: { name, namespace: NS },
              spec: {
                replicas: 0,
                selector: { matchLabels: { app: name } },
                template: {
                  metadata: { labels: { app: name } },
                  spec: { containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
                },
              },
            },
          });
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 200)); // the previous one is still being deleted
        }
      }
      throw new Error(`could not create ${NS}/${name}`);
    })();
    targets.push({ kind: "Deployment", namespace: NS, name, uid: created.metadata?.uid ?? "" });
  }

  const redis = connectRedis();
  const prefix = testPrefix("bench");
  const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
  const logger = createLogger({ level: "silent" });
  const newBroker = (): CredentialBroker =>
    createCredentialBroker({
      openbao: env.openbao,
      logger,
      authMount: env.authMount,
      authRole: env.authRole,
      secretsMount: env.secretsMount,
      jwtPath: env.jwtPath,
    });
  const executorWith = (broker: CredentialBroker): ReturnType<typeof createApprovalExecutor> =>
    createApprovalExecutor({
      store,
      broker,
      roles: env.roles,
      cluster: env.cluster,
      audit: createAuditLog({ destination: { write: () => undefined } }),
      logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "bench",
    });

  const propose = (i: number) =>
    store.create({
      cluster: "bench",
      tool: "scale_deployment",
      arguments: { namespace: NS, name: targets[i % DEPLOYMENTS]!.name, replicas: 1 + (i % 5) },
      target: targets[i % DEPLOYMENTS]!,
      evidence: { currentReplicas: 1, pods: [] },
      risk: { level: "normal", flags: [] },
      requester: alice,
    });

  // One approval alone first: the latency of the path without contention.
  const single = await propose(0);
  const singleStarted = performance.now();
  const singleResult = await executorWith(newBroker()).decide({
    actionId: single.id,
    digest: single.digest,
    approver: bob,
    decision: "approve",
  });
  const singleMs = performance.now() - singleStarted;
  if (singleResult.status !== "succeeded")
    throw new Error(`single approval ${singleResult.status}: ${singleResult.message}`);

  /**
   * The herd from a cold start, so the first login counts: with one broker
   * whose login all approvals share, or (the alternative) a broker of its
   * own per approval, each logging in.
   */
  const herd = async (loginPerApproval: boolean): Promise<Sample> => {
    const shared = newBroker();
    const brokers: CredentialBroker[] = [shared];
    const sharedExecutor = executorWith(shared);
    const actions = await Promise.all(Array.from({ length: APPROVALS }, (_, i) => propose(i)));
    const started = performance.now();
    const timings: number[] = [];
    const results = await Promise.all(
      actions.map(async (action) => {
        let executor = sharedExecutor;
        if (loginPerApproval) {
          const own = newBroker();
          brokers.push(own);
          executor = executorWith(own);
        }
        const t0 = performance.now();
        const result = await executor.decide({
          actionId: action.id,
          digest: action.digest,
          approver: bob,
          decision: "approve",
        });
        timings.push(performance.now() - t0);
        return result;
      }),
    );
    const wall = performance.now() - started;
    const total = (key: "logins" | "minted" | "revoked"): number =>
      brokers.reduce((sum, broker) => sum + broker.stats()[key], 0);
    const failures = results.filter((result) => result.status !== "succeeded");
    for (const failure of failures.slice(0, 3))
      process.stderr.write(`approvals bench: ${failure.status}: ${failure.message}\n`);
    timings.sort((x, y) => x - y);
    return {
      logins: total("logins"),
      minted: total("minted"),
      revoked: total("revoked"),
      failures: failures.length,
      conflicts: failures.filter((result) => result.action?.outcome?.kubeStatus === 409).length,
      median: Math.round(percentile(timings, 50)),
      p95: Math.round(percentile(timings, 95)),
      wall: Math.round(wall),
    };
  };
  const samples = await interleaved({ shared: () => herd(false), perApproval: () => herd(true) });

  await dropPrefix(redis, prefix);
  redis.disconnect();
  return [
    {
      name: "single approval→done",
      value: Math.round(singleMs),
      unit: "ms (mint, write, revoke; cold broker)",
    },
    { name: "concurrent approvals", value: APPROVALS, unit: "approvals per run" },
    ...comparisonLines(samples, { shared: "shared login", perApproval: "login per approval" }, [
      {
        key: "logins",
        name: "OpenBao login calls",
        unit: "calls (goal with shared login: 1 per token lifetime)",
      },
      { key: "minted", name: "credentials minted", unit: "leases" },
      { key: "revoked", name: "leases revoked", unit: "leases" },
      { key: "failures", name: "failures", unit: "actions" },
      { key: "conflicts", name: "write conflicts", unit: "actions" },
      { key: "median", name: "approval→done median", unit: "ms" },
      { key: "p95", name: "approval→done p95", unit: "ms" },
      { key: "wall", name: "wall time for all", unit: "ms" },
    ]),
  ];
}
