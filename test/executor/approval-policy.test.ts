import { randomBytes } from "node:crypto";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { webApi } from "@slack/bolt";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserGroupChecker } from "../../bot/approvers.ts";
import type { Alert } from "../../core/observability/alerts.ts";
import { parseApprovalPolicy, type ApprovalPolicy } from "../../core/actions/approval-policy.ts";
import type { Identity } from "../../core/identity/identity.ts";
import type { DecisionResult, PendingAction, PendingActionRef } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import type { ApprovalExecutor } from "../../executor/approval-executor.ts";
import { writeExecutor } from "./write-fixture.ts";
import { startSlackFake, type SlackFake } from "../fakes/slack.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { adminKubeConfig, eventually } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { capture, connectRedis, dropPrefix, testPrefix, testSigner, type Captured } from "./support.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareWriteEnv, type WriteEnv } from "./write-env.ts";

/**
 * The approval policy, enforced by the executor on the stored action at each
 * click, against the real API server, the OpenBao-compatible server, Redis
 * and Slack's user groups (the fake, over HTTP): N-of-M approvals recorded
 * against the action's digest and run once, a change freeze read from an
 * injected clock, group membership judged at the click, break-glass with a
 * reason and an alert, and a condition that fails to evaluate refusing.
 */
const NS = "deputy-w-exec";
const RUN = randomBytes(3).toString("hex");
const SRE = "S0SRE";
const ONCALL = "S0ONCALL";
const COMMANDERS = "S0IC";
const person = (name: string): Identity => ({
  kind: "slack",
  teamId: "T1",
  id: `U0${name.toUpperCase()}`,
  name,
});
const alice = person("alice");
const bob = person("bob");
const carol = person("carol");
const frank = person("frank");
const dave = person("dave");
const grace = person("grace");
const erin = person("erin");

const POLICY = `version: 1
timeZone: Europe/Berlin
groups:
  sre: ${SRE}
  oncall: ${ONCALL}
  commanders: ${COMMANDERS}
rules:
  - name: holiday freeze
    when: >-
      time.date >= "2026-12-21" && time.date <= "2027-01-04"
      && action.tool != "rollback_deployment"
    refuse: Change freeze until 4 January; only rollbacks are approved
  - name: numbered
    when: action.name.startsWith("numbered") && int(action.name) > 1
    approve:
      users: [${bob.id}]
  - name: drains need two SREs
    when: action.tool == "drain_node"
    approve:
      groups: [sre]
      count: 2
      breakGlass: commanders
  - name: on-call
    when: "true"
    approve:
      groups: [oncall]
`;

describe("approval policy: enforced by the executor at each click", () => {
  let env: WriteEnv;
  let harness: Harness;
  let redis: Redis;
  let prefix: string;
  let store: ActionStore;
  let slack: SlackFake;
  let executor: ApprovalExecutor;
  let captured: Captured;
  let policy: ApprovalPolicy;
  const alerts: Alert[] = [];
  let clock = new Date("2026-12-07T10:00:00Z");
  const nodes: string[] = [];
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);
  const apps = () => adminKubeConfig().makeApiClient(AppsV1Api);

  const meta = {
    "deputy/requester": alice,
    "deputy/conversation": { surface: "slack", teamId: "T1", channel: "C0OPS", thread: "1700000000.0001" },
    "deputy/reason": "policy test",
  };
  async function propose(tool: string, args: Record<string, unknown>): Promise<PendingAction> {
    const reply = await harness.call(tool, args, meta);
    expect(reply.isError, reply.text).toBe(false);
    const ref = reply.structured?.pendingAction as PendingActionRef;
    return (await store.get(ref.id))!;
  }
  const decide = (
    action: PendingAction,
    approver: Identity,
    options: { digest?: string; breakGlass?: string; decision?: "approve" | "reject" } = {},
  ): Promise<DecisionResult> =>
    executor.decide({
      actionId: action.id,
      digest: options.digest ?? action.digest,
      approver,
      decision: options.decision ?? "approve",
      ...(options.breakGlass !== undefined ? { breakGlass: options.breakGlass } : {}),
    });
  async function emptyNode(label: string): Promise<string> {
    const name = `deputy-test-node-policy-${label}-${RUN}`;
    await ensure(adminKubeConfig(), { apiVersion: "v1", kind: "Node", metadata: { name } });
    nodes.push(name);
    return name;
  }
  const cordoned = async (node: string): Promise<boolean> =>
    (await core().readNode({ name: node })).spec?.unschedulable === true;
  const restartedAt = async (name: string): Promise<string | undefined> =>
    (await apps().readNamespacedDeployment({ name, namespace: NS })).spec?.template.metadata?.annotations?.[
      "kubectl.kubernetes.io/restartedAt"
    ];

  beforeAll(async () => {
    env = await prepareWriteEnv();
    redis = connectRedis();
    prefix = testPrefix("approval-policy");
    harness = await startHarness({
      env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
    });
    store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
    slack = await startSlackFake({
      userGroups: {
        [SRE]: [alice.id, bob.id, carol.id, frank.id],
        [ONCALL]: [dave.id],
        [COMMANDERS]: [erin.id],
      },
    });
    const web = new webApi.WebClient(slack.botToken, {
      slackApiUrl: `${slack.apiUrl.replace(/\/$/, "")}/`,
    });
    // No cache: whatever Slack says at the click is the answer.
    const checkers = new Map<string, (identity: Identity) => Promise<boolean>>();
    const isMemberOf = (identity: Identity, group: string): Promise<boolean> => {
      if (!checkers.has(group)) checkers.set(group, createUserGroupChecker(web, group, 0));
      return checkers.get(group)!(identity);
    };
    policy = parseApprovalPolicy(POLICY, "approval-policy.yaml");
    captured = capture();
    executor = writeExecutor(env, {
      store,
      audit: captured.audit,
      logger: captured.logger,
      approvers: { slackUserIds: [], localApproverIds: [], isMemberOf },
      policy,
      now: () => clock,
      alerts: { postAlert: async (alert) => void alerts.push(alert) },
    });
  });

  afterAll(async () => {
    for (const name of nodes)
      await core()
        .deleteNode({ name })
        .catch(() => undefined);
    await harness?.close();
    await slack?.close();
    if (redis) {
      await dropPrefix(redis, prefix);
      redis.disconnect();
    }
  });

  it("two of two for a drain: one approval runs nothing, the same person twice counts once, an older digest never counts, the second runs it once", async () => {
    const node = await emptyNode("two");
    const drain = await propose("drain_node", { name: node });

    const first = await decide(drain, bob);
    expect(first.status, first.message).toBe("awaiting");
    expect(first.message).toMatch(/^1 of 2 approvals: bob\./);
    expect(first).toMatchObject({
      approval: {
        rule: "drains need two SREs",
        required: 2,
        mayApprove: [`<!subteam^${SRE}>`],
        breakGlass: `<!subteam^${COMMANDERS}>`,
        policyHash: policy.hash,
      },
    });
    expect(await cordoned(node)).toBe(false);
    expect(await store.executions(drain.id)).toBe(0);
    expect((await store.get(drain.id))?.state).toBe("pending");

    // Bob again: still one person.
    const again = await decide(drain, bob);
    expect(again.status).toBe("awaiting");
    expect(again.message).toMatch(/^1 of 2 approvals: bob\./);

    // The requester is an SRE too, and never counts.
    const own = await decide(drain, alice);
    expect(own).toMatchObject({ status: "refused", rule: "two-person-rule" });

    // Carol approved an earlier version of this action (another digest): that does not count.
    const older = "e".repeat(64);
    await store.recordApproval(
      { ...drain, digest: older },
      { approver: carol, digest: older, at: clock.toISOString() },
    );
    const stillOne = await decide(drain, bob);
    expect(stillOne.message).toMatch(/^1 of 2 approvals: bob\./);
    // A click on a card of another version is refused and counts for nothing.
    const stale = await decide(drain, carol, { digest: older });
    expect(stale).toMatchObject({ status: "refused", rule: "stale-card" });
    expect(await cordoned(node)).toBe(false);

    const second = await decide(drain, carol);
    expect(second.status, second.message).toBe("succeeded");
    expect(second).toMatchObject({
      approval: {
        approvals: expect.arrayContaining([
          expect.objectContaining({ id: bob.id }),
          expect.objectContaining({ id: carol.id }),
        ]),
      },
    });
    expect(await cordoned(node)).toBe(true);
    expect(await store.executions(drain.id)).toBe(1);

    const late = await decide(drain, frank);
    expect(late.status).toBe("not_pending");
    expect(await store.executions(drain.id)).toBe(1);

    const approved = captured.records.find(
      (record) =>
        record.kind === "approval_decision" && record.actionId === drain.id && record.decision === "approved",
    );
    expect(approved).toMatchObject({
      rule: "drains need two SREs",
      details: { policy: { hash: policy.hash }, approvers: expect.arrayContaining([bob.id, carol.id]) },
    });
    const partial = captured.records.filter(
      (record) =>
        record.kind === "approval_decision" && record.actionId === drain.id && record.decision === "pending",
    );
    expect(partial.length).toBe(3);
  });

  it("two approvals completing the quorum at once run the drain exactly once", async () => {
    const node = await emptyNode("race");
    const drain = await propose("drain_node", { name: node });
    expect((await decide(drain, bob)).status).toBe("awaiting");
    const results = await Promise.all([decide(drain, carol), decide(drain, frank)]);
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual(["not_pending", "succeeded"]);
    expect(await store.executions(drain.id)).toBe(1);
    expect(await cordoned(node)).toBe(true);
  });

  it("after the requester withdraws a drain, an approval is neither counted nor run", async () => {
    const node = await emptyNode("withdrawn");
    const drain = await propose("drain_node", { name: node });
    expect((await decide(drain, alice, { decision: "reject" })).status).toBe("rejected");
    const late = await decide(drain, bob);
    expect(late.status).toBe("not_pending");
    expect(await store.approvals(drain)).toEqual([]);
    expect(await cordoned(node)).toBe(false);
  });

  it("a freeze window refuses a restart and allows a rollback; time is the executor's clock", async () => {
    const name = `freeze-${RUN}`;
    await freshDeployment(NS, name);
    // A second revision, so that there is something to roll back to.
    await apps().patchNamespacedDeployment({
      name,
      namespace: NS,
      body: [{ op: "add", path: "/spec/template/metadata/annotations", value: { revision: "two" } }],
    });
    await eventually("two ReplicaSets", async () => {
      const sets = await apps().listNamespacedReplicaSet({ namespace: NS, labelSelector: `app=${name}` });
      return sets.items.length >= 2;
    });
    const restart = await propose("restart_deployment", { namespace: NS, name });
    const rollback = await propose("rollback_deployment", { namespace: NS, name });

    clock = new Date("2026-12-22T09:00:00Z");
    const refused = await decide(restart, dave);
    expect(refused).toMatchObject({
      status: "refused",
      rule: "policy-refused",
      message:
        'Change freeze until 4 January; only rollbacks are approved (approval policy, rule "holiday freeze"). Nothing was run.',
    });
    expect(await restartedAt(name)).toBeUndefined();
    const rolledBack = await decide(rollback, dave);
    expect(rolledBack.status, rolledBack.message).toBe("succeeded");

    // After the freeze the same restart is the on-call's to approve.
    clock = new Date("2027-01-05T08:00:00Z");
    const fresh = await propose("restart_deployment", { namespace: NS, name });
    const approved = await decide(fresh, dave);
    expect(approved.status, approved.message).toBe("succeeded");
    expect(await restartedAt(name)).toBeTruthy();
    clock = new Date("2026-12-07T10:00:00Z");
  });

  it("the on-call group changes between proposal and click: the click is judged on the group at click time", async () => {
    const name = `handover-${RUN}`;
    await freshDeployment(NS, name);
    const restart = await propose("restart_deployment", { namespace: NS, name });
    // The rotation hands over after the card was posted.
    slack.userGroups[ONCALL] = [grace.id];
    try {
      const old = await decide(restart, dave);
      expect(old).toMatchObject({ status: "refused", rule: "approver-not-authorised" });
      expect(await restartedAt(name)).toBeUndefined();
      const current = await decide(restart, grace);
      expect(current.status, current.message).toBe("succeeded");
    } finally {
      slack.userGroups[ONCALL] = [dave.id];
    }
  });

  it("break-glass: alone with a reason it runs, alerts and is audited; without a reason it is refused", async () => {
    const node = await emptyNode("glass");
    const drain = await propose("drain_node", { name: node });

    const noReason = await decide(drain, erin, { breakGlass: "  " });
    expect(noReason).toMatchObject({ status: "refused", rule: "break-glass-reason-required" });
    const notGlass = await decide(drain, erin);
    expect(notGlass).toMatchObject({ status: "refused", rule: "approver-not-authorised" });
    const notCommander = await decide(drain, dave, { breakGlass: "I am on call" });
    expect(notCommander).toMatchObject({ status: "refused", rule: "break-glass-not-allowed" });
    expect(await cordoned(node)).toBe(false);
    expect(alerts).toEqual([]);

    const reason = "node is corrupting disks; both SREs are on a plane";
    const glass = await decide(drain, erin, { breakGlass: reason });
    expect(glass.status, glass.message).toBe("succeeded");
    expect(glass).toMatchObject({ approval: { brokeGlass: true } });
    expect(await cordoned(node)).toBe(true);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: "break-glass", severity: "critical" });
    expect(alerts[0]!.text).toContain(`Break-glass: erin (${erin.id}) approved drain_node on`);
    expect(alerts[0]!.text).toContain(reason);
    expect(
      captured.records.find((record) => record.kind === "anomaly" && record.rule === "break-glass"),
    ).toMatchObject({ actionId: drain.id, approver: erin, details: { reason } });
    expect(
      captured.records.find(
        (record) =>
          record.kind === "approval_decision" &&
          record.actionId === drain.id &&
          record.decision === "approved",
      ),
    ).toMatchObject({ details: { breakGlass: { reason } } });
  });

  it("a condition that fails to evaluate refuses with a sentence and an audit record; nothing is run", async () => {
    const name = `numbered-${RUN}`;
    await freshDeployment(NS, name);
    const restart = await propose("restart_deployment", { namespace: NS, name });
    const result = await decide(restart, bob);
    expect(result).toMatchObject({ status: "refused", rule: "policy-error" });
    expect(result.message).toMatch(
      /^The approval policy's rule "numbered" could not be evaluated \(.+\), so it cannot say who may approve; nothing was run\.$/,
    );
    expect(await restartedAt(name)).toBeUndefined();
    expect(await store.executions(restart.id)).toBe(0);
    expect((await store.get(restart.id))?.state).toBe("pending");
    expect(
      captured.records.find(
        (record) =>
          record.kind === "approval_decision" &&
          record.actionId === restart.id &&
          record.rule === "policy-error",
      ),
    ).toMatchObject({ decision: "refused", details: { policy: { hash: policy.hash, rule: "numbered" } } });
  });
});
