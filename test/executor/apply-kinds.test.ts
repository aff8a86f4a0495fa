import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { KubernetesObjectApi } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { APPLY_KINDS, type ApplyKind } from "../../core/actions/apply-kinds.ts";
import { resultDigest } from "../../core/actions/effect.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { adminKubeConfig, loadTestEnv } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { createRbacBroker } from "./rbac-broker.ts";
import { alice, bob, capture, connectRedis, dropPrefix, testPrefix, testSigner } from "./support.ts";
import { prepareNamespaces, testRoles } from "./write-env.ts";

/**
 * One object of every kind apply_manifest allows, proposed over MCP (read by
 * the read identity, dry-run by the preview identity), approved and applied
 * by the executor with a credential of that kind's role: every allowed kind
 * can really be applied, and what is created is the approved result.
 */
const NS = "deputy-w-effect";
const RUN = randomBytes(3).toString("hex");
const meta = { "deputy/requester": alice };

function objectOf(kind: ApplyKind, name: string): Record<string, unknown> {
  const labels = { app: name };
  const podSpec = {
    containers: [{ name: "app", image: "registry.example.com/app:1" }],
    restartPolicy: kind === "Job" || kind === "CronJob" ? "Never" : "Always",
  };
  const specs: Record<ApplyKind, unknown> = {
    ConfigMap: undefined,
    Service: { selector: labels, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    Deployment: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: podSpec },
    },
    StatefulSet: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: podSpec },
    },
    DaemonSet: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } },
    Job: { template: { metadata: { labels }, spec: podSpec } },
    CronJob: {
      schedule: "0 3 * * *",
      jobTemplate: { spec: { template: { metadata: { labels }, spec: podSpec } } },
    },
    HorizontalPodAutoscaler: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `deployment-${RUN}` },
      minReplicas: 1,
      maxReplicas: 3,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ],
    },
    PodDisruptionBudget: { maxUnavailable: 1, selector: { matchLabels: labels } },
    Ingress: {
      rules: [
        {
          host: `${name}.example.com`,
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }],
          },
        },
      ],
    },
  };
  return {
    apiVersion: APPLY_KINDS[kind].apiVersion,
    kind,
    metadata: { name, namespace: NS },
    ...(kind === "ConfigMap" ? { data: { mode: "safe" } } : { spec: specs[kind] }),
  };
}

describe("apply_manifest of every allowed kind, end to end", () => {
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let executor: ApprovalExecutor;

  beforeAll(async () => {
    await prepareNamespaces();
    const env = loadTestEnv();
    redis = connectRedis();
    prefix = testPrefix("apply-kinds");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    const captured = capture();
    executor = createApprovalExecutor({
      store,
      broker: createRbacBroker(),
      roles: testRoles(),
      cluster: { server: env.server, caPem: readFileSync(env.caFile, "utf8") },
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "testenv",
    });
  });

  afterAll(async () => {
    await harness?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it("the executor refuses to run a stored change whose view Slack could not show whole", async () => {
    const name = `toolong-${RUN}`;
    const data = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${i}`, "x".repeat(2500)]));
    const manifest = { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: NS }, data };
    // Stored as if a proposer had skipped the size check (the action key signs it, so it verifies).
    const result = { metadata: { name, namespace: NS }, data, apiVersion: "v1", kind: "ConfigMap" };
    const action = await store.create({
      cluster: "testenv",
      tool: "apply_manifest",
      arguments: { namespace: NS, kind: "ConfigMap", name, manifest },
      evidence: {},
      target: { kind: "ConfigMap", namespace: NS, name },
      effect: {
        object: { kind: "ConfigMap", namespace: NS, name },
        result,
        warnings: [],
        digest: resultDigest(result, { created: true }),
      },
      risk: { level: "normal", flags: [] },
      requester: alice,
    });
    const decided = await executor.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(decided.status).toBe("failed");
    expect(decided.message).toBe(
      "The stored apply_manifest change is longer than Slack can show whole, so nobody saw all of it; nothing was done.",
    );
    await expect(
      KubernetesObjectApi.makeApiClient(adminKubeConfig()).read({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, namespace: NS },
      }),
    ).rejects.toThrow();
  });

  for (const kind of Object.keys(APPLY_KINDS) as ApplyKind[]) {
    it(`${kind}: proposed with the API server's answer, approved and created as approved`, async () => {
      const name = `${kind.toLowerCase()}-${RUN}`;
      const reply = await harness.call("apply_manifest", { manifest: stringify(objectOf(kind, name)) }, meta);
      expect(reply.isError, reply.text).toBe(false);
      const { id, digest } = reply.structured?.pendingAction as PendingActionRef;
      const stored = (await store.get(id))!;
      expect(stored.effect?.live).toBeUndefined();
      const result = await executor.decide({ actionId: id, digest, approver: bob, decision: "approve" });
      expect(result.status, result.message).toBe("succeeded");
      const created: unknown = JSON.parse(
        JSON.stringify(
          await KubernetesObjectApi.makeApiClient(adminKubeConfig()).read({
            apiVersion: APPLY_KINDS[kind].apiVersion,
            kind,
            metadata: { name, namespace: NS },
          }),
        ),
      );
      // What exists is the approved answer (values the API server allocates anew, such as a
      // Service's cluster IP or a Job's uid-derived selector, aside).
      expect(resultDigest(created, { created: true })).toBe(stored.effect!.digest);
      expect(result.message).toContain("The API server's answer to the write is the approved result.");
    });
  }
});
