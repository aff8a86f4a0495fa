import { randomBytes } from "node:crypto";
import { resultDigest, type Effect } from "../../core/actions/effect.ts";
import { AppsV1Api, BatchV1Api, CoreV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalCardBlocks, fullChangeModal } from "../../bot/blocks/approval-card.ts";
import type { Alert } from "../../core/observability/alerts.ts";
import { createAnomalyDetector } from "../../core/observability/anomaly.ts";
import { actionDigest, createActionSigner } from "../../core/actions/digest.ts";
import type { PendingAction, PendingActionRef } from "../../core/actions/schema.ts";
import type { ActionStore } from "../../core/actions/store.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { createAuditLog, type AuditRecord } from "../../core/audit/log.ts";
import type { Identity } from "../../core/identity/identity.ts";
import { createLogger } from "../../core/observability/logger.ts";
import type { ApprovalExecutor } from "../../executor/approval-executor.ts";
import { adminKubeConfig, eventually } from "../helpers/testenv.ts";
import { storedProposal, type Harness } from "../mcp/harness.ts";
import { alice, bob, executorOfAnotherCluster, dumpPrefix, TEST_ACTION_KEY } from "./support.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { type WriteEnv } from "./write-env.ts";
import { startWriteFixture, writeExecutor, type WriteFixture } from "./write-fixture.ts";

/**
 * "No write other than the one the approver saw", tried as an attacker would,
 * against the real API server, the OpenBao-compatible dev server and Redis:
 * a pod that reaches into its node is refused before anyone is asked; a
 * Secret it reads makes it high risk and is named; a stored action swapped in
 * Redis is refused and raises an alarm; a click on an old card is refused; a
 * drain evicts exactly the pods its card listed.
 */
const NS = "deputy-w-exec";
const OTHER_NS = "deputy-w-tools";
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-integrity-${RUN}`;
const meta = (requester: Identity = alice) => ({
  "deputy/requester": requester,
  "deputy/conversation": { surface: "slack", teamId: "T1", channel: "C1", thread: "1700000000.0002" },
  "deputy/reason": "integrity test",
});

function job(name: string, podSpec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: NS },
    spec: { template: { spec: { restartPolicy: "Never", ...podSpec } } },
  });
}

describe("approval integrity: the approver sees exactly what runs, and the click is bound to it", () => {
  let fixture: WriteFixture | undefined;
  let env: WriteEnv;
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let executor: ApprovalExecutor;
  const records: AuditRecord[] = [];
  const alerts: Alert[] = [];
  const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  const decide = (action: Pick<PendingAction, "id">, digest: string | undefined, approver = bob) =>
    executor.decide({ actionId: action.id, digest, approver, decision: "approve" });

  beforeAll(async () => {
    fixture = await startWriteFixture("integrity", NS);
    ({ env, harness, redis, prefix, store } = fixture);
    const logger = createLogger({ level: "silent" });
    const detector = createAnomalyDetector({
      redis,
      prefix,
      thresholds: { deletesPerWindow: 100, denialsPerWindow: 100, protectedNamespaces: ["kube-system"] },
      sink: { postAlert: async (alert) => void alerts.push(alert) },
      logger,
    });
    const audit = createAuditLog({
      destination: { write: () => true } as never,
      onRecord: [(record) => records.push(record), detector.observer],
    });
    executor = writeExecutor(env, { store, audit, logger, approverIds: [alice.id, bob.id] });
  });

  afterAll(async () => {
    await core()
      .deleteNode({ name: NODE })
      .catch(() => undefined);
    await fixture?.close();
  });

  it("refuses a Job that is privileged, mounts the node's / and reads a Secret, by rule, storing nothing", async () => {
    const before = await dumpPrefix(redis, prefix);
    const reply = await harness.call(
      "apply_manifest",
      {
        manifest: job("warm", {
          volumes: [{ name: "host", hostPath: { path: "/" } }],
          containers: [
            {
              name: "warm",
              image: "busybox:1.36",
              command: ["sh", "-c", "echo warming caches"],
              securityContext: { privileged: true },
              envFrom: [{ secretRef: { name: "payment-gateway" } }],
              volumeMounts: [{ name: "host", mountPath: "/host" }],
            },
          ],
        }),
      },
      meta(),
    );
    expect(reply.isError).toBe(true);
    expect(reply.text).toMatch(
      /^Refused by rule host-access: Job deputy-w-exec\/warm would get access to its node: /,
    );
    expect(reply.text).toContain("container warm is privileged");
    expect(reply.text).toContain("volume host mounts the node's path / (hostPath)");
    expect(reply.structured?.pendingAction).toBeUndefined();
    expect(await dumpPrefix(redis, prefix)).toBe(before);
    await expect(
      adminKubeConfig().makeApiClient(BatchV1Api).readNamespacedJob({ name: "warm", namespace: NS }),
    ).rejects.toThrow();
  });

  it("makes a Job reading a Secret high risk and names the Secret; a long manifest's field past the cut is one click away", async () => {
    const env = Array.from({ length: 300 }, (_, i) => ({
      name: `SETTING_${i}`,
      value: `v${i}-${"y".repeat(24)}`,
    }));
    const reply = await harness.call(
      "apply_manifest",
      {
        manifest: job(`secretive-${RUN}`, {
          containers: [
            {
              name: "warm",
              image: "busybox:1.36",
              env,
              envFrom: [{ secretRef: { name: "payment-gateway" } }],
              // The API server answers a container's fields in its own order: this one comes after env.
              terminationMessagePath: "/dev/FIELD-PAST-THE-CUT",
            },
          ],
        }),
      },
      meta(),
    );
    const action = await storedProposal(store, reply);
    expect(action.risk.level).toBe("high");
    const secretFlag = action.risk.flags.find((flag) => flag.rule === "secret-reference");
    expect(secretFlag?.message).toContain("Secret payment-gateway (envFrom of container warm)");
    const view = approvalViewOf(action);
    const card = JSON.stringify(approvalCardBlocks(action, view, { approverMention: undefined }));
    expect(card).toContain("payment-gateway");
    expect(card).toContain("High risk");
    expect(card).not.toContain("FIELD-PAST-THE-CUT");
    expect(card).toContain("View full change");
    const modal = JSON.stringify(fullChangeModal(action, view));
    expect(modal).toContain("FIELD-PAST-THE-CUT");
    expect(modal).toContain("SETTING_299");
  });

  it("refuses a stored restart swapped in Redis for an apply_manifest, audits it as tampering and raises an alert", async () => {
    await apps()
      .deleteNamespacedDeployment({ name: "swap", namespace: NS })
      .catch(() => undefined);
    await eventually("old swap gone", () =>
      apps()
        .readNamespacedDeployment({ name: "swap", namespace: NS })
        .then(
          () => false,
          () => true,
        ),
    );
    await apps().createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: "swap", namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "swap" } },
          template: {
            metadata: { labels: { app: "swap" } },
            spec: { containers: [{ name: "app", image: "ghcr.io/example/swap:1.0.0" }] },
          },
        },
      },
    });
    const reply = await harness.call("restart_deployment", { namespace: NS, name: "swap" }, meta());
    const ref = reply.structured?.pendingAction as PendingActionRef;
    const key = `${prefix}action:${ref.id}`;
    const doc = JSON.parse((await redis.hget(key, "doc"))!) as Record<string, unknown>;
    const swapped: Record<string, unknown> = {
      ...doc,
      tool: "apply_manifest",
      arguments: {
        namespace: NS,
        kind: "Job",
        name: `evil-${RUN}`,
        manifest: JSON.parse(job(`evil-${RUN}`, { containers: [{ name: "x", image: "busybox:1.36" }] })),
      },
      evidence: {},
      target: { kind: "Job", namespace: NS, name: `evil-${RUN}` },
    };
    // The attacker can recompute a plain digest; without the key they cannot recompute the MAC.
    swapped.digest = actionDigest(swapped as never);
    await redis.hset(key, "doc", JSON.stringify(swapped));

    const result = await decide({ id: ref.id }, swapped.digest as string);
    expect(result).toMatchObject({ status: "refused", rule: "tampered" });
    expect(result.message).toContain("failed its integrity check");
    expect(await redis.hget(key, "state")).toBe("pending");
    expect(await store.executions(ref.id)).toBe(0);
    await expect(
      adminKubeConfig()
        .makeApiClient(BatchV1Api)
        .readNamespacedJob({ name: `evil-${RUN}`, namespace: NS }),
    ).rejects.toThrow();
    expect(records.some((r) => r.kind === "anomaly" && r.rule === "tampered" && r.actionId === ref.id)).toBe(
      true,
    );
    expect(
      records.some(
        (r) => r.kind === "approval_decision" && r.decision === "refused" && r.rule === "tampered",
      ),
    ).toBe(true);
    await eventually("the tampering alert", async () =>
      alerts.some((alert) => alert.rule === "action-tampered"),
    );
  });

  it("refuses a click on an old card after the action was re-proposed under the same id, and one without a digest", async () => {
    const reply = await harness.call(
      "scale_deployment",
      { namespace: NS, name: "swap", replicas: 2 },
      meta(),
    );
    const ref = reply.structured?.pendingAction as PendingActionRef;
    const original = (await store.get(ref.id))!;
    // Re-proposed with a valid MAC (as the MCP server would sign it): the old card's digest no longer matches.
    const key = `${prefix}action:${ref.id}`;
    const doc = JSON.parse((await redis.hget(key, "doc"))!) as Record<string, unknown>;
    // A real re-proposal carries the API server's answer for 7 replicas too.
    const effect = structuredClone(doc.effect) as Effect;
    (effect.result.spec as { replicas: number }).replicas = 7;
    effect.digest = resultDigest(effect.result, { created: false });
    const reproposed: Record<string, unknown> = {
      ...doc,
      arguments: { namespace: NS, name: "swap", replicas: 7 },
      effect,
    };
    reproposed.digest = actionDigest(reproposed as never);
    await redis.hset(key, {
      doc: JSON.stringify(reproposed),
      mac: createActionSigner(TEST_ACTION_KEY).mac(reproposed as never),
    });
    const stale = await decide(original, original.digest);
    expect(stale).toMatchObject({ status: "refused", rule: "stale-card" });
    const bare = await decide(original, undefined);
    expect(bare).toMatchObject({ status: "refused", rule: "digest-required" });
    expect((await apps().readNamespacedDeployment({ name: "swap", namespace: NS })).spec?.replicas).toBe(1);
    // The current card's digest works, and the action runs exactly once.
    const current = (await store.get(ref.id))!;
    expect((await decide(current, current.digest)).status).toBe("succeeded");
    expect((await decide(current, current.digest)).status).toBe("not_pending");
    expect(await store.executions(ref.id)).toBe(1);
    expect((await apps().readNamespacedDeployment({ name: "swap", namespace: NS })).spec?.replicas).toBe(7);
  });

  it("does not run an action past its signed expiry, whatever the unsigned expiresAtMs says", async () => {
    const reply = await harness.call(
      "scale_deployment",
      { namespace: NS, name: "swap", replicas: 9 },
      meta(),
    );
    const ref = reply.structured?.pendingAction as PendingActionRef;
    const key = `${prefix}action:${ref.id}`;
    // As signed by the MCP server 15 minutes ago: its window closed 40 s ago.
    const doc = JSON.parse((await redis.hget(key, "doc"))!) as Record<string, unknown>;
    const signedLongAgo: Record<string, unknown> = {
      ...doc,
      createdAt: new Date(Date.now() - 900_000 - 40_000).toISOString(),
      expiresAt: new Date(Date.now() - 40_000).toISOString(),
    };
    signedLongAgo.digest = actionDigest(signedLongAgo as never);
    await redis.hset(key, {
      doc: JSON.stringify(signedLongAgo),
      mac: createActionSigner(TEST_ACTION_KEY).mac(signedLongAgo as never),
      // A Redis writer pushes the unsigned field ten minutes ahead.
      expiresAtMs: String(Date.now() + 600_000),
    });
    const before = (await apps().readNamespacedDeployment({ name: "swap", namespace: NS })).spec?.replicas;
    const result = await decide({ id: ref.id }, signedLongAgo.digest as string);
    expect(result).toMatchObject({ status: "refused", rule: "expired" });
    expect(await redis.hget(key, "state")).toBe("expired");
    expect(await store.executions(ref.id)).toBe(0);
    expect((await apps().readNamespacedDeployment({ name: "swap", namespace: NS })).spec?.replicas).toBe(
      before,
    );
  });

  it("refuses a rejected action flipped back to pending in Redis, and raises the alarm", async () => {
    const reply = await harness.call(
      "scale_deployment",
      { namespace: NS, name: "swap", replicas: 8 },
      meta(),
    );
    const action = await storedProposal(store, reply);
    const rejected = await executor.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "reject",
    });
    expect(rejected.status).toBe("rejected");
    const key = `${prefix}action:${action.id}`;
    const before = (await apps().readNamespacedDeployment({ name: "swap", namespace: NS })).spec?.replicas;

    // Only the state field goes back: the signed rejection still says otherwise.
    await redis.hset(key, "state", "pending");
    await redis.zadd(`${prefix}actions:pending`, Date.now() + 600_000, action.id);
    const flipped = await decide(action, action.digest);
    expect(flipped).toMatchObject({ status: "refused", rule: "state-regressed" });
    expect(flipped.message).toContain("moved backwards");
    expect(
      records.some((r) => r.kind === "anomaly" && r.rule === "state-regressed" && r.actionId === action.id),
    ).toBe(true);
    await eventually("the alert", async () =>
      alerts.some((alert) => alert.rule === "action-tampered" && alert.text.includes("moved backwards")),
    );

    // Rolled back whole (the signed rejection erased too): the executor remembers what it decided.
    await redis.hdel(key, "decision", "decidedBy", "decidedAt", "decisionMac");
    expect((await store.get(action.id))?.state).toBe("pending");
    const rolledBack = await decide(action, action.digest);
    expect(rolledBack).toMatchObject({ status: "refused", rule: "state-regressed" });
    expect(await store.executions(action.id)).toBe(0);
    expect((await apps().readNamespacedDeployment({ name: "swap", namespace: NS })).spec?.replicas).toBe(
      before,
    );
  });

  it("does not repeat a decider, outcome or state nobody signed", async () => {
    const reply = await harness.call(
      "scale_deployment",
      { namespace: NS, name: "swap", replicas: 6 },
      meta(),
    );
    const action = await storedProposal(store, reply);
    await executor.decide({ actionId: action.id, digest: action.digest, approver: bob, decision: "reject" });
    const key = `${prefix}action:${action.id}`;
    await redis.hset(key, {
      decidedBy: JSON.stringify({ kind: "slack", teamId: "T1", id: "U_MALLORY", name: "mallory" }),
      outcome: JSON.stringify({ message: "All good, nothing to see", finishedAt: new Date().toISOString() }),
    });
    const click = await decide(action, action.digest);
    expect(click).toMatchObject({ status: "refused", rule: "tampered" });
    expect(click.message).not.toContain("mallory");
    expect(click.message).not.toContain("All good");
    await expect(store.get(action.id)).rejects.toThrow(/integrity check/);
    // A forged "succeeded" on a pending action: not listed as pending, not shown as done.
    const other = await storedProposal(
      store,
      await harness.call("scale_deployment", { namespace: NS, name: "swap", replicas: 5 }, meta()),
    );
    await redis.hset(`${prefix}action:${other.id}`, "state", "succeeded");
    expect((await store.list("pending")).map((a) => a.id)).not.toContain(other.id);
    await expect(store.get(other.id)).rejects.toThrow(/not backed by its signed records/);
  });

  it("refuses a decision sent to another cluster's executor", async () => {
    const reply = await harness.call(
      "scale_deployment",
      { namespace: NS, name: "swap", replicas: 3 },
      meta(),
    );
    const action = await storedProposal(store, reply);
    const minted: string[] = [];
    const otherCluster = executorOfAnotherCluster({
      store,
      roles: env.roles,
      cluster: env.cluster,
      clusterName: "prod-eu",
      minted,
    });
    const result = await otherCluster.decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    expect(result).toMatchObject({ status: "refused", rule: "wrong-cluster" });
    expect(result.message).toContain("proposed for cluster testenv");
    expect(minted).toEqual([]);
    expect((await store.get(action.id))?.state).toBe("pending");
  });

  it("drains exactly the pods on the card: a later pod, a bare pod and a pod outside the writable namespaces stay", async () => {
    const kc = adminKubeConfig();
    await ensure(kc, { apiVersion: "v1", kind: "Node", metadata: { name: NODE } });
    const owner = await core().createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: `owner-${RUN}` } },
    });
    const controlled = [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        name: `owner-${RUN}`,
        uid: owner.metadata!.uid!,
        controller: true,
      },
    ];
    const pod = async (name: string, namespace: string, owned: boolean): Promise<void> => {
      await core().createNamespacedPod({
        namespace,
        body: {
          metadata: { name, namespace, ...(owned ? { ownerReferences: controlled } : {}) },
          spec: { nodeName: NODE, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
        },
      });
    };
    await pod(`carded-${RUN}`, NS, true);
    await pod(`bare-${RUN}`, NS, false);
    await pod(`elsewhere-${RUN}`, OTHER_NS, false);

    const reply = await harness.call("drain_node", { name: NODE }, meta());
    const proposal = await storedProposal(store, reply);
    expect(proposal.arguments).toMatchObject({ evict: [{ namespace: NS, name: `carded-${RUN}` }] });
    const left = proposal.preview.find((line) => line.startsWith("Left in place:"))!;
    expect(left).toContain(`${NS}/bare-${RUN} (no controller: nothing would recreate it)`);
    expect(left).toContain(`${OTHER_NS}/elsewhere-${RUN} (outside the namespaces Deputy may change)`);
    expect(proposal.preview).toContain("The node will not be empty after the drain.");

    // A pod arrives after the card was built: it is not on the card.
    await pod(`latecomer-${RUN}`, NS, true);
    const result = await decide(proposal, proposal.digest);
    expect(result.status, result.message).toBe("succeeded");
    // Pods stay on the node, so it is not "drained": it is drained except those, each named.
    const head = result.message.split(": evicted 1 pod(s)")[0]!;
    expect(head).toMatch(new RegExp(`^Node ${NODE} cordoned and drained except `));
    for (const pod of [`${NS}/bare-${RUN}`, `${OTHER_NS}/elsewhere-${RUN}`, `${NS}/latecomer-${RUN}`])
      expect(head).toContain(pod);
    expect(result.message).toContain(`evicted 1 pod(s) (${NS}/carded-${RUN})`);
    expect(result.message).toContain(
      `Left in place, as the card said: ${NS}/bare-${RUN} (no controller: nothing would recreate it)`,
    );
    expect(result.message).toContain(
      `Not on the approved card, so not evicted (a new approval is needed): ${NS}/latecomer-${RUN}`,
    );
    const terminating = async (name: string, namespace = NS) =>
      core()
        .readNamespacedPod({ name, namespace })
        .then(
          (p) => p.metadata?.deletionTimestamp !== undefined,
          () => true,
        );
    expect(await terminating(`carded-${RUN}`)).toBe(true);
    expect(await terminating(`latecomer-${RUN}`)).toBe(false);
    expect(await terminating(`bare-${RUN}`)).toBe(false);
    expect(await terminating(`elsewhere-${RUN}`, OTHER_NS)).toBe(false);
  });
});
