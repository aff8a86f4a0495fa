import { AppsV1Api, CoreV1Api, PolicyV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Identity } from "../../core/identity/identity.ts";
import { isKubeApiError } from "../../core/kube/errors.ts";
import type { DecisionResult, PendingAction } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { createCredentialBroker, type CredentialBroker } from "../../executor/credential-broker.ts";
import { createKubeWriter } from "../../executor/kube-writer.ts";
import { adminKubeConfig, eventually, seededCopyOfShop, SEED } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import {
  alice,
  bob,
  capture,
  connectRedis,
  dropPrefix,
  dumpPrefix,
  mallory,
  testPrefix,
  signAsExpired,
  testSigner,
  type Captured,
} from "./support.ts";
import { prepareWriteEnv, TEST_MOUNT, type WriteEnv } from "./write-env.ts";
import { freshDeployment } from "../helpers/deployments.ts";

/**
 * The whole write path against the real API server, the OpenBao-compatible
 * dev server and Redis: an MCP write tool proposes, a human approves through
 * the executor, a just-in-time credential does the write and dies right after.
 */
const NS = "deputy-w-exec";
/** A seeded copy of shop for the StatefulSet pod behind its PodDisruptionBudget: the shared shop is never written to. */
const SEEDED = "deputy-w-approvals";
const meta = (requester: Identity = alice) => ({
  "deputy/requester": requester,
  "deputy/conversation": { surface: "slack", teamId: "T1", channel: "C1", thread: "1700000000.0001" },
  "deputy/prompt": "why is web slow? scale it",
  "deputy/reason": "more replicas to absorb load",
});

describe("approval executor: propose → approve → JIT credential → revoke", () => {
  let env: WriteEnv;
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let broker: CredentialBroker;
  let executor: ApprovalExecutor;
  let captured: Captured;
  const tokens: string[] = [];
  const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  const deployment = (name: string, replicas = 1): Promise<void> => freshDeployment(NS, name, { replicas });
  async function propose(tool: string, args: Record<string, unknown>, requester: Identity = alice) {
    const reply = await harness.call(tool, args, meta(requester));
    expect(reply.isError, reply.text).toBe(false);
    const ref = reply.structured?.pendingAction as { id: string };
    expect(reply.text).toMatch(new RegExp(`^pending approval \\(id ${ref.id}, digest [0-9a-f]{12}\\)`));
    // What the tests look at is what the card shows: the stored, verified action.
    const summary = (await store.get(ref.id)) as PendingAction;
    expect(summary).toBeDefined();
    return { reply, summary };
  }

  const decide = (
    actionId: string,
    approver: Identity,
    decision: "approve" | "reject" = "approve",
  ): Promise<DecisionResult> =>
    // As a card click does: the id and the digest of the stored action the card was rendered from.
    store
      .get(actionId)
      .catch(() => undefined)
      .then((action) => executor.decide({ actionId, digest: action?.digest, approver, decision }));

  beforeAll(async () => {
    env = await prepareWriteEnv();
    await seededCopyOfShop(SEEDED);
    redis = connectRedis();
    prefix = testPrefix("executor");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    captured = capture();
    broker = createCredentialBroker({
      openbao: env.openbao,
      logger: captured.logger,
      authMount: env.authMount,
      authRole: env.authRole,
      secretsMount: env.secretsMount,
      jwtPath: env.jwtPath,
      onCredential: (credential) => tokens.push(credential.token),
    });
    executor = createApprovalExecutor({
      store,
      broker,
      roles: env.roles,
      cluster: env.cluster,
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [alice.id, bob.id], localApproverIds: [] },
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

  it("a write tool call changes nothing and stores exactly one pending action", async () => {
    await deployment("web");
    const before = await apps().readNamespacedDeployment({ name: "web", namespace: NS });
    const { summary, reply } = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 3 });
    expect(summary).toMatchObject({
      tool: "scale_deployment",
      target: { kind: "Deployment", namespace: NS, name: "web", uid: before.metadata?.uid },
      requester: alice,
      reason: "more replicas to absorb load",
      risk: { level: "normal", flags: [] },
    });
    expect(reply.text).toContain("spec.replicas: 1 → 3");
    const after = await apps().readNamespacedDeployment({ name: "web", namespace: NS });
    // The controller may update status meanwhile; the spec is what a write would change.
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    expect(after.spec).toEqual(before.spec);
    expect(after.spec?.replicas).toBe(1);
    const pending = await store.list("pending");
    expect(pending.map((action) => action.id)).toEqual([summary.id]);
    expect(pending[0]?.arguments).toEqual({ namespace: NS, name: "web", replicas: 3 });
  });

  it("approved by an authorised other user: the change is on the API server, the credential is dead right after and never leaked", async () => {
    const [action] = await store.list("pending");
    const before = broker.stats();
    const result = await decide(action!.id, bob);
    expect(result.status, result.message).toBe("succeeded");
    expect(result.message).toBe(
      `Deployment ${NS}/web scaled from 1 to 3 replicas. The API server's answer to the write is the approved result.`,
    );
    expect(result.action?.state).toBe("succeeded");
    expect(result.action?.outcome).toMatchObject({
      kubeStatus: 200,
      leaseId: expect.stringMatching(new RegExp(`^${TEST_MOUNT}/creds/deputy-scale-deployment/`)),
    });
    expect((await apps().readNamespacedDeployment({ name: "web", namespace: NS })).spec?.replicas).toBe(3);
    expect(broker.stats()).toMatchObject({
      minted: before.minted + 1,
      revoked: before.revoked + 1,
      revokeFailures: 0,
    });

    // The minted token is refused by the API server now: the lease revocation deleted its account.
    const token = tokens.at(-1)!;
    expect(token.split(".")).toHaveLength(3);
    const writer = createKubeWriter(env.cluster, token, {
      retry: { attempts: 1, baseMs: 1, capMs: 1 },
      settleMs: 0,
    });
    const statusOf = (call: Promise<unknown>) =>
      call.then(
        () => 200,
        (error: unknown) => (isKubeApiError(error) ? error.status : 0),
      );
    const path = `/apis/apps/v1/namespaces/${NS}/deployments/web`;
    // Powerless at once: the lease revocation deleted its Role, binding and account, so the same
    // write it just made is refused. The API server caches a successful token authentication for
    // up to 10 s; after that the token does not authenticate at all.
    expect([401, 403]).toContain(await statusOf(writer.patch(path, { spec: { replicas: 9 } }, "merge")));
    expect([401, 403]).toContain(await statusOf(writer.get(path)));
    await eventually(
      "the minted token to be rejected (401)",
      async () => (await statusOf(writer.get(path))) === 401,
      {
        timeoutMs: 15_000,
        intervalMs: 250,
      },
    );
    writer.close();

    // Never in logs, tool results, audit or Redis.
    const leaked = (text: string) => text.includes(token) || text.includes(token.split(".")[2]!);
    expect(leaked(captured.text())).toBe(false);
    expect(leaked(JSON.stringify(harness.audit))).toBe(false);
    expect(leaked(JSON.stringify(captured.records))).toBe(false);
    expect(leaked(await dumpPrefix(redis, prefix))).toBe(false);
    expect(leaked(JSON.stringify(result))).toBe(false);

    // The whole story is audited with the lease id and the API status.
    const execution = captured.records.find(
      (record) => record.kind === "execution" && record.actionId === action!.id,
    );
    expect(execution).toMatchObject({
      outcome: "succeeded",
      kubeStatus: 200,
      approver: bob,
      actor: alice,
      leaseId: result.action?.outcome?.leaseId,
    });
    expect(
      harness.audit.some((record) => record.kind === "pending_action" && record.actionId === action!.id),
    ).toBe(true);
  });

  it("refuses self-approval, an unauthorised approver, unknown and tampered ids — nothing runs, each audited", async () => {
    await deployment("web", 1);
    const { summary } = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 2 });
    const minted = broker.stats().minted;

    const self = await decide(summary.id, alice);
    expect(self).toMatchObject({ status: "refused", rule: "two-person-rule" });
    const outsider = await decide(summary.id, mallory);
    expect(outsider).toMatchObject({ status: "refused", rule: "approver-not-authorised" });
    const unknown = await decide("act_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", bob);
    expect(unknown).toMatchObject({ status: "refused", rule: "unknown-action", action: undefined });
    const garbage = await executor.decide({ actionId: "../../x", approver: bob, decision: "approve" });
    expect(garbage).toMatchObject({ status: "refused", rule: "unknown-action" });
    const invalid = await executor.decide({
      actionId: summary.id,
      approver: { kind: "bot" } as never,
      decision: "approve",
    });
    expect(invalid).toMatchObject({ status: "refused", rule: "invalid-request" });

    // Someone with Redis access edits the stored arguments: the MAC no longer matches.
    const key = `${prefix}action:${summary.id}`;
    const doc = JSON.parse((await redis.hget(key, "doc"))!) as { arguments: { replicas: number } };
    doc.arguments.replicas = 50;
    await redis.hset(key, "doc", JSON.stringify(doc));
    const tampered = await decide(summary.id, bob);
    expect(tampered).toMatchObject({ status: "refused", rule: "tampered" });

    expect(broker.stats().minted).toBe(minted);
    expect((await apps().readNamespacedDeployment({ name: "web", namespace: NS })).spec?.replicas).toBe(1);
    expect(await redis.hget(key, "state")).toBe("pending");
    const refusals = captured.records
      .filter((record) => record.kind === "approval_decision" && record.decision === "refused")
      .map((record) => record.rule);
    expect(refusals).toEqual(
      expect.arrayContaining([
        "two-person-rule",
        "approver-not-authorised",
        "unknown-action",
        "invalid-request",
        "tampered",
      ]),
    );
  });

  it("refuses an expired or rejected action and never runs it", async () => {
    const { summary } = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 4 });
    await signAsExpired(redis, prefix, summary.id);
    const expired = await decide(summary.id, bob);
    expect(expired).toMatchObject({ status: "refused", rule: "expired" });
    expect(expired.action?.state).toBe("expired");

    const second = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 5 });
    const minted = broker.stats().minted;
    expect(await decide(second.summary.id, bob, "reject")).toMatchObject({ status: "rejected" });
    const late = await decide(second.summary.id, bob);
    expect(late.status).toBe("not_pending");
    expect(late.message).toMatch(/already rejected by bob/);
    expect(broker.stats().minted).toBe(minted);
    expect((await apps().readNamespacedDeployment({ name: "web", namespace: NS })).spec?.replicas).toBe(1);
    expect(await store.executions(second.summary.id)).toBe(0);
  });

  it("two approvals at once, and approve racing reject: exactly one outcome, at most one execution", async () => {
    const { summary } = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 2 });
    const minted = broker.stats().minted;
    const both = await Promise.all([decide(summary.id, bob), decide(summary.id, { ...bob })]);
    expect(both.map((r) => r.status).sort()).toEqual(["not_pending", "succeeded"]);
    expect(await store.executions(summary.id)).toBe(1);
    expect(broker.stats().minted).toBe(minted + 1);

    const race = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 1 });
    const outcomes = await Promise.all([
      decide(race.summary.id, bob),
      decide(race.summary.id, bob, "reject"),
    ]);
    const statuses = outcomes.map((r) => r.status).sort();
    expect([
      ["not_pending", "succeeded"],
      ["not_pending", "rejected"],
    ]).toContainEqual(statuses);
    expect(await store.executions(race.summary.id)).toBe(statuses.includes("succeeded") ? 1 : 0);
  });

  it("an object changed after the proposal: 409, nothing done", async () => {
    await deployment("web", 1);
    const { summary } = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 3 });
    // Someone edits the spec before the approval.
    const edited = await apps().patchNamespacedDeployment({
      name: "web",
      namespace: NS,
      body: [
        { op: "replace", path: "/spec/template/spec/containers/0/image", value: "ghcr.io/example/web:1.0.1" },
      ],
    });
    const result = await decide(summary.id, bob);
    expect(result.status).toBe("failed");
    expect(result.action?.outcome?.kubeStatus).toBe(409);
    // The run's read finds the live object differs from the one the diff was approved against.
    expect(result.message).toBe(
      `Deployment ${NS}/web changed since it was approved (spec.template.spec.containers[name=web].image), so the change shown is no longer the change that would be made; nothing was done. Propose it again to approve the current one.`,
    );
    // Nothing was written: the spec is the edited one, neither scaled nor changed again.
    const after = await apps().readNamespacedDeployment({ name: "web", namespace: NS });
    expect(after.spec?.replicas).toBe(1);
    expect(after.spec?.template.spec?.containers[0]?.image).toBe("ghcr.io/example/web:1.0.1");
    expect(after.metadata?.generation).toBe(edited.metadata?.generation);
    // The credential was still revoked.
    expect(broker.stats().revokeFailures).toBe(0);
  });

  it("PDB allowing 0 disruptions: the eviction is blocked and reported, nothing is deleted", async () => {
    // The disruption controller has counted the db pods: the budget allows nothing.
    await eventually(
      "db-pdb to allow no disruption",
      async () => {
        const pdb = await adminKubeConfig()
          .makeApiClient(PolicyV1Api)
          .readNamespacedPodDisruptionBudget({ name: SEED.statefulSet.pdb, namespace: SEEDED });
        return (
          pdb.status?.currentHealthy === SEED.statefulSet.replicas && pdb.status.disruptionsAllowed === 0
        );
      },
      { timeoutMs: 60_000 },
    );
    const pods = await core().listNamespacedPod({ namespace: SEEDED, labelSelector: "app=db" });
    const pod = pods.items.find((p) => p.metadata?.name === "db-0") ?? pods.items[0]!;
    const { summary } = await propose("delete_pod", { namespace: SEEDED, name: pod.metadata!.name! });
    expect(summary.risk.level).toBe("high");
    expect(summary.risk.flags.map((flag) => flag.rule)).toEqual(
      expect.arrayContaining(["statefulset-pod", "pdb"]),
    );
    const result = await decide(summary.id, bob);
    expect(result.status).toBe("failed");
    expect(result.action?.outcome?.kubeStatus).toBe(429);
    expect(result.message).toMatch(
      new RegExp(
        `^Eviction of pod ${SEEDED}/${pod.metadata!.name} blocked by PodDisruptionBudget ${SEEDED}/db-pdb: The disruption budget db-pdb needs \\d+ healthy pods and has \\d+ currently`,
      ),
    );
    const still = await core().readNamespacedPod({ name: pod.metadata!.name!, namespace: SEEDED });
    expect(still.metadata?.uid).toBe(pod.metadata?.uid);
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
  });

  it("Argo CD–managed catalog: refused live with a Git diff offered; force delete impossible", async () => {
    const refused = await harness.call("restart_deployment", { namespace: "shop", name: "catalog" }, meta());
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(
      /^Refused by rule argocd-managed: Deployment shop\/catalog is managed by Argo CD \(application "shop"\)/,
    );
    expect(refused.text).toMatch(/propose_git_change/);
    const diff = await harness.call(
      "propose_git_change",
      { kind: "Deployment", namespace: "shop", name: "catalog", change: { type: "scale", replicas: 3 } },
      meta(),
    );
    expect(diff.isError, diff.text).toBe(false);
    expect(diff.text).toMatch(/^--- a\/shop\/deployment-catalog\.yaml$/m);
    expect(diff.text).toMatch(/^\+ {2}replicas: 3$/m);

    for (const extra of [{ force: true }, { gracePeriodSeconds: 0 }]) {
      const forced = await harness.call("delete_pod", { namespace: "shop", name: "db-0", ...extra }, meta());
      expect(forced.isError).toBe(true);
      expect(forced.text).toMatch(/^Refused by rule no-force: "(force|gracePeriodSeconds)" is not accepted/);
    }
    expect(
      (await store.list("pending")).filter((a) => a.tool === "delete_pod" || a.target.name === "catalog"),
    ).toEqual([]);
  });

  it("an executor that crashed mid-execution is reconciled without running twice", async () => {
    const { summary } = await propose("scale_deployment", { namespace: NS, name: "web", replicas: 2 });
    await store.decide(summary.id, "approved", bob);
    await store.beginExecution(summary.id, "test-owner");
    await store.recordLease(summary.id, `${TEST_MOUNT}/creds/deputy-scale-deployment/not-a-real-lease`);
    // Its owner is alive (fresh heartbeat): another executor leaves it alone.
    expect((await executor.reconcile()).map((a) => a.id)).not.toContain(summary.id);
    // The owner stops sending heartbeats.
    await redis.hset(`${prefix}action:${summary.id}`, "heartbeatMs", "0");
    // An executor of another cluster sharing the store leaves it to this cluster's executor.
    const elsewhere = createApprovalExecutor({
      store,
      broker,
      roles: env.roles,
      cluster: env.cluster,
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [alice.id, bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "elsewhere",
    });
    expect(await elsewhere.reconcile()).toEqual([]);
    expect((await store.get(summary.id))?.state).toBe("executing");
    const reconciled = await executor.reconcile();
    expect(reconciled.map((a) => a.id)).toContain(summary.id);
    const final = await store.get(summary.id);
    expect(final?.state).toBe("interrupted");
    expect(final?.outcome?.message).toMatch(/not run again/);
    expect(final?.outcome?.message).toContain("Nothing was completed.");
    // It never reached the cluster: nothing was executed.
    expect(await store.executions(summary.id)).toBe(0);
    expect(await decide(summary.id, bob)).toMatchObject({ status: "not_pending" });
    expect((await apps().readNamespacedDeployment({ name: "web", namespace: NS })).spec?.replicas).toBe(1);
  });

  it("the read identity still cannot write or read Secrets after all of this", async () => {
    const token = harness.deps.kube.kubeConfig.getCurrentUser()?.token;
    expect(token).toBeTruthy();
    const reader = createKubeWriter(env.cluster, token!, {
      retry: { attempts: 1, baseMs: 1, capMs: 1 },
      settleMs: 0,
    });
    const write = await reader
      .patch(`/apis/apps/v1/namespaces/${NS}/deployments/web`, { spec: { replicas: 7 } }, "merge")
      .catch((error: unknown) => error);
    const secrets = await reader.get(`/api/v1/namespaces/${NS}/secrets`).catch((error: unknown) => error);
    const evict = await reader
      .post(`/api/v1/namespaces/${SEEDED}/pods/db-0/eviction`, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name: "db-0", namespace: SEEDED },
      })
      .catch((error: unknown) => error);
    reader.close();
    expect(isKubeApiError(write, 403)).toBe(true);
    expect(isKubeApiError(secrets, 403)).toBe(true);
    expect(isKubeApiError(evict, 403)).toBe(true);
  });
});
