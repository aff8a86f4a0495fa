import { AppsV1Api, KubeConfig } from "@kubernetes/client-node";
import { createAuditLog } from "../core/audit.ts";
import { createLogger } from "../core/logger.ts";
import type { PendingAction } from "../core/actions/schema.ts";
import { createActionStore } from "../core/actions/store.ts";
import { createApprovalExecutor } from "../executor/approval-executor.ts";
import { createCredentialBroker } from "../executor/credential-broker.ts";
import { upTestEnv } from "../test/env/testenv.ts";
import { loadTestEnv } from "../test/helpers/testenv.ts";
import { alice, bob, connectRedis, dropPrefix, testPrefix, testSigner } from "../test/executor/support.ts";
import { prepareWriteEnv } from "../test/executor/write-env.ts";
import type { BenchLine } from "./run.ts";

/**
 * 50 approvals at once, each with its own just-in-time credential: the talk's
 * thundering herd against the secret store. Goal: one OpenBao login while its
 * token is valid, 50 credentials minted and revoked, no failure. Reports the
 * median and p95 time from "approve" to "done" (mint, write, revoke).
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
  const broker = createCredentialBroker({
    openbao: env.openbao,
    logger,
    authMount: env.authMount,
    authRole: env.authRole,
    secretsMount: env.secretsMount,
    jwtPath: env.jwtPath,
  });
  const executor = createApprovalExecutor({
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

  // One approval alone first: the latency of the path without contention (and a warm login).
  const single = await propose(0);
  const singleStarted = performance.now();
  const singleResult = await executor.decide({
    actionId: single.id,
    digest: single.digest,
    approver: bob,
    decision: "approve",
  });
  const singleMs = performance.now() - singleStarted;
  if (singleResult.status !== "succeeded")
    throw new Error(`single approval ${singleResult.status}: ${singleResult.message}`);
  const warm = broker.stats();

  const actions = await Promise.all(Array.from({ length: APPROVALS }, (_, i) => propose(i)));

  const started = performance.now();
  const timings: number[] = [];
  const results = await Promise.all(
    actions.map(async (action) => {
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
  const after = broker.stats();
  const stats = {
    logins: after.logins - warm.logins,
    minted: after.minted - warm.minted,
    revoked: after.revoked - warm.revoked,
  };
  const failures = results.filter((result) => result.status !== "succeeded");
  const conflicts = failures.filter((result) => result.action?.outcome?.kubeStatus === 409).length;
  for (const failure of failures.slice(0, 3))
    process.stderr.write(`approvals bench: ${failure.status}: ${failure.message}\n`);
  timings.sort((a, b) => a - b);

  await dropPrefix(redis, prefix);
  redis.disconnect();
  return [
    { name: "single approval→done", value: Math.round(singleMs), unit: "ms (mint, write, revoke)" },
    { name: "concurrent approvals", value: APPROVALS, unit: "approvals" },
    { name: "OpenBao login calls", value: stats.logins, unit: "calls (goal: 1 per token lifetime)" },
    { name: "credentials minted", value: stats.minted, unit: "leases" },
    { name: "leases revoked", value: stats.revoked, unit: "leases" },
    { name: "failures", value: failures.length, unit: `actions (${conflicts} write conflicts)` },
    { name: "approval→done median", value: Math.round(percentile(timings, 50)), unit: "ms" },
    { name: "approval→done p95", value: Math.round(percentile(timings, 95)), unit: "ms" },
    { name: "wall time for all", value: Math.round(wall), unit: "ms" },
  ];
}
