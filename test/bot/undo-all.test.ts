import { randomBytes } from "node:crypto";
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SlackApp } from "../../bot/app.ts";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import { UNDO_ACTION_ID } from "../../bot/blocks/follow-up.ts";
import type { ApprovalDecider } from "../../bot/deps.ts";
import type { ActionStore } from "../../core/actions/store.ts";
import type { PendingAction } from "../../core/actions/schema.ts";
import { text, toolUse, type AnthropicFake } from "../fakes/anthropic.ts";
import type { FakeMessage, SlackFake } from "../fakes/slack.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { adminKubeConfig, eventually } from "../helpers/testenv.ts";
import { startBotOverFakes, type BotOverFakes } from "./helpers/over-fakes.ts";
import { actionIdOf, buttonsOf, threadReader } from "./helpers/thread-reader.ts";

/**
 * Undo and the verified outcome of every write action that has them, end to
 * end: the real Bolt app (signed requests from the Slack fake), the MCP
 * server with its read identity, real Redis, and the real executor with
 * OpenBao just-in-time credentials against the real API server. Each change
 * runs after a second person's approval, its card says what the cluster
 * shows, Undo proposes the exact inverse as a new pending action the clicker
 * cannot approve, and once approved the cluster's objects are as they were.
 */
const ALICE = "U0UNALICE";
const BOB = "U0UNBOB";
const CHANNEL = "C0UNDO";
const NS = "deputy-w-undo";
const RUN = randomBytes(3).toString("hex");
/** Nodes of this file only: cordoning or draining them moves no other test's pods. */
const CORDON_NODE = `deputy-test-node-undo-cordon-${RUN}`;
const DRAIN_NODE = `deputy-test-node-undo-drain-${RUN}`;
const DRAINED = "undo-drained";
const STATEFUL = "undo-db";
const DEPLOYMENTS = {
  image: "undo-image",
  env: "undo-env",
  resources: "undo-resources",
  rollback: "undo-rollback",
  pod: "undo-pod",
} as const;

let slack: SlackFake;
let model: AnthropicFake;
let store: ActionStore;
let bot: SlackApp;
let executor: () => Promise<ApprovalDecider>;
let fakes: BotOverFakes | undefined;
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const apps = (): AppsV1Api => adminKubeConfig().makeApiClient(AppsV1Api);
const core = (): CoreV1Api => adminKubeConfig().makeApiClient(CoreV1Api);

async function deployment(name: string): Promise<V1Deployment> {
  return apps().readNamespacedDeployment({ name, namespace: NS });
}

/** The Deployment has rolled out its current template: every replica updated and available. */
async function rolledOut(name: string): Promise<V1Deployment> {
  return eventually(`${name} rolled out`, async () => {
    const d = await deployment(name);
    const want = d.spec?.replicas ?? 1;
    const s = d.status;
    return s?.observedGeneration === d.metadata?.generation &&
      s?.updatedReplicas === want &&
      s?.availableReplicas === want &&
      (s?.replicas ?? 0) === want
      ? d
      : undefined;
  });
}

const { botReplies, cardsIn, current } = threadReader(() => slack, CHANNEL);

const cardText = (card: FakeMessage): string => JSON.stringify(current(card).blocks);

/**
 * Alice asks for `tool`, the scripted model proposes it, Bob approves: the
 * executed action and its card after the verdict.
 */
async function approvedChange(
  tool: string,
  input: Record<string, unknown>,
): Promise<{ thread: string; card: FakeMessage; action: PendingAction }> {
  await executor();
  model.setScript((request) => {
    const last = JSON.stringify(request.messages.at(-1)?.content ?? "");
    if (last.includes("deputy-outcome")) return text(`Incident log: ${tool} ran and was verified.`);
    if (last.includes("tool_result")) return text("I asked for it; an approver has to approve the card.");
    return toolUse(tool, { ...input, reason: "Part of the incident." });
  });
  const sent = await slack.mention({ user: ALICE, text: `please run ${tool}`, channel: CHANNEL });
  await bot.idle();
  const [card] = cardsIn(sent.ts);
  expect(card, `an approval card for ${tool}`).toBeDefined();
  const id = actionIdOf(card!);
  expect((await store.get(id))!.state).toBe("pending");
  await slack.click({ user: BOB, message: card!, actionId: APPROVE_ACTION_ID });
  await bot.idle();
  const action = (await store.get(id))!;
  expect(action, `${tool}: ${JSON.stringify(action.outcome)}`).toMatchObject({
    tool,
    state: "succeeded",
    requester: { id: ALICE },
    decidedBy: { id: BOB },
  });
  return { thread: sent.ts, card: current(card!), action };
}

/**
 * Bob clicks Undo on the executed card: a new pending action, requested by
 * Bob, that Bob cannot approve and that changes nothing until Alice does.
 * `unchanged` reads what must not move while it waits.
 */
async function undoThroughApproval(
  executed: { thread: string; card: FakeMessage; action: PendingAction },
  expected: { tool: string; arguments: Record<string, unknown> },
  unchanged: () => Promise<unknown>,
): Promise<{ undo: PendingAction; card: FakeMessage }> {
  expect(buttonsOf(executed.card).map((b) => b.action_id)).toEqual([UNDO_ACTION_ID]);
  const before = await unchanged();
  const cardsBefore = cardsIn(executed.thread).length;
  await slack.click({ user: BOB, message: executed.card, actionId: UNDO_ACTION_ID });
  await bot.idle();
  expect(cardsIn(executed.thread).length).toBe(cardsBefore + 1);
  const card = cardsIn(executed.thread).at(-1)!;
  const undoId = actionIdOf(card);
  expect(undoId).not.toBe(executed.action.id);
  const proposed = (await store.get(undoId))!;
  expect(proposed).toMatchObject({
    tool: expected.tool,
    state: "pending",
    arguments: expected.arguments,
    requester: { kind: "slack", id: BOB },
  });
  expect(proposed.reason).toContain(`(undo of ${executed.action.id})`);
  expect(await unchanged()).toEqual(before);

  // The two-person rule holds for the undo: whoever asked for it cannot approve it.
  await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
  await bot.idle();
  expect((await store.get(undoId))!.state).toBe("pending");
  expect(await unchanged()).toEqual(before);

  await slack.click({ user: ALICE, message: card, actionId: APPROVE_ACTION_ID });
  await bot.idle();
  const undo = (await store.get(undoId))!;
  expect(undo, JSON.stringify(undo.outcome)).toMatchObject({ state: "succeeded", decidedBy: { id: ALICE } });
  return { undo, card: current(card) };
}

const webOf = (d: V1Deployment) => d.spec!.template.spec!.containers.find((c) => c.name === "web")!;

beforeAll(async () => {
  fakes = await startBotOverFakes({
    name: "undo",
    env: { DEPUTY_APPROVERS: `${ALICE},${BOB}` },
    // Undo takes the rules of a question in the card's channel: the clicker must be a member.
    slack: { channelMembers: { [CHANNEL]: [ALICE, BOB] } },
    executor: { approvers: [ALICE, BOB] },
    followUp: { timeoutMs: 45_000, intervalMs: 300 },
  });
  ({ bot, slack, model, store, executor } = fakes);
  // The writable namespaces (this one among them) and OpenBao's roles for them.
  await executor();
  const admin = adminKubeConfig();
  for (const name of [CORDON_NODE, DRAIN_NODE]) {
    await ensure(admin, {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "deputy.dev/test": "true" } },
    });
  }
  await Promise.all([
    freshDeployment(NS, DEPLOYMENTS.image),
    freshDeployment(NS, DEPLOYMENTS.env, {
      container: {
        env: [
          { name: "LOG_LEVEL", value: "info" },
          { name: "LEGACY_MODE", value: "on" },
          { name: "REGION", value: "eu-1" },
        ],
      },
    }),
    freshDeployment(NS, DEPLOYMENTS.resources, {
      container: {
        resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
      },
    }),
    freshDeployment(NS, DEPLOYMENTS.rollback),
    freshDeployment(NS, DEPLOYMENTS.pod, { replicas: 2 }),
  ]);
  // Drained pods come from a ReplicaSet that put them on the drain node; once they are
  // on it, its template no longer names the node, so their replacements go elsewhere.
  await apps()
    .deleteNamespacedReplicaSet({ name: DRAINED, namespace: NS })
    .catch(() => undefined);
  await eventually("old drained pods gone", async () =>
    (await core().listNamespacedPod({ namespace: NS, labelSelector: `app=${DRAINED}` })).items.length === 0
      ? true
      : undefined,
  );
  await apps().createNamespacedReplicaSet({
    namespace: NS,
    body: {
      metadata: { name: DRAINED, namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: DRAINED } },
        template: {
          metadata: { labels: { app: DRAINED } },
          spec: { nodeName: DRAIN_NODE, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
        },
      },
    },
  });

  await apps()
    .deleteNamespacedStatefulSet({ name: STATEFUL, namespace: NS })
    .catch(() => undefined);
  await eventually("old stateful pod gone", async () =>
    (await core().listNamespacedPod({ namespace: NS, labelSelector: `app=${STATEFUL}` })).items.length === 0
      ? true
      : undefined,
  );
  await apps().createNamespacedStatefulSet({
    namespace: NS,
    body: {
      metadata: { name: STATEFUL, namespace: NS },
      spec: {
        serviceName: STATEFUL,
        replicas: 1,
        selector: { matchLabels: { app: STATEFUL } },
        template: {
          metadata: { labels: { app: STATEFUL } },
          spec: { containers: [{ name: "db", image: "ghcr.io/example/db:1" }] },
        },
      },
    },
  });

  await Promise.all(Object.values(DEPLOYMENTS).map((name) => rolledOut(name)));
}, 180_000);

afterAll(async () => {
  await fakes?.close();
  await Promise.all([
    ...Object.values(DEPLOYMENTS).map((name) =>
      apps()
        .deleteNamespacedDeployment({ name, namespace: NS })
        .catch(() => undefined),
    ),
    apps()
      .deleteNamespacedReplicaSet({ name: DRAINED, namespace: NS })
      .catch(() => undefined),
    apps()
      .deleteNamespacedStatefulSet({ name: STATEFUL, namespace: NS })
      .catch(() => undefined),
  ]);
  // The nodes are this file's own: nothing else was ever scheduled there.
  for (const name of [CORDON_NODE, DRAIN_NODE]) {
    await core()
      .deleteNode({ name })
      .catch(() => undefined);
  }
});

describe("Deployment changes: verified on the card, undone through a second approval", () => {
  it("set_deployment_image: the new image rolls out, and Undo puts the old image back", async () => {
    const name = DEPLOYMENTS.image;
    const before = webOf(await deployment(name)).image;
    expect(before).toBe("ghcr.io/example/web:1.0.0");

    const executed = await approvedChange("set_deployment_image", {
      namespace: NS,
      name,
      container: "web",
      image: "ghcr.io/example/web:1.1.0",
    });
    const after = await deployment(name);
    expect(webOf(after).image).toBe("ghcr.io/example/web:1.1.0");
    const text = cardText(executed.card);
    expect(text).toContain("Verified");
    expect(text).toContain(
      `Deployment ${NS}/${name}: rollout complete, 1 of 1 replica(s) available, 1 updated`,
    );
    expect(text).toContain(`(revision ${after.metadata!.annotations!["deployment.kubernetes.io/revision"]})`);
    // What the card says is what the cluster shows: the new image is what runs.
    const pods = await core().listNamespacedPod({ namespace: NS, labelSelector: `app=${name}` });
    const running = pods.items.filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
    expect(running.map((p) => p.spec!.containers[0]!.image)).toContain("ghcr.io/example/web:1.1.0");

    const { card } = await undoThroughApproval(
      executed,
      {
        tool: "set_deployment_image",
        arguments: { namespace: NS, name, container: "web", image: before },
      },
      async () => webOf(await deployment(name)).image,
    );
    expect(webOf(await deployment(name)).image).toBe(before);
    expect(JSON.stringify(card.blocks)).toMatch(/Verified.*rollout complete, 1 of 1 replica\(s\) available/);
    // The undo's own card offers the undo of the undo: the new image again.
    expect(buttonsOf(card).map((b) => b.action_id)).toEqual([UNDO_ACTION_ID]);
  }, 60_000);

  it("set_deployment_env: set, change and remove, and Undo restores every variable as it was", async () => {
    const name = DEPLOYMENTS.env;
    const before = webOf(await deployment(name)).env;
    expect(before).toEqual([
      { name: "LOG_LEVEL", value: "info" },
      { name: "LEGACY_MODE", value: "on" },
      { name: "REGION", value: "eu-1" },
    ]);

    const executed = await approvedChange("set_deployment_env", {
      namespace: NS,
      name,
      container: "web",
      set: { LOG_LEVEL: "debug", FEATURE_X: "1" },
      remove: ["LEGACY_MODE"],
    });
    const env = webOf(await deployment(name)).env ?? [];
    expect(Object.fromEntries(env.map((e) => [e.name, e.value]))).toEqual({
      LOG_LEVEL: "debug",
      FEATURE_X: "1",
      REGION: "eu-1",
    });
    // In the order the card's preview showed: kept variables in place, new ones after them.
    expect(env.map((e) => e.name)).toEqual(["LOG_LEVEL", "REGION", "FEATURE_X"]);
    expect(cardText(executed.card)).toMatch(
      new RegExp(`Verified.*Deployment ${NS}/${name}: rollout complete, 1 of 1 replica\\(s\\) available`),
    );

    await undoThroughApproval(
      executed,
      {
        tool: "set_deployment_env",
        arguments: {
          namespace: NS,
          name,
          container: "web",
          set: { LOG_LEVEL: "info", LEGACY_MODE: "on" },
          remove: ["FEATURE_X"],
          order: ["LOG_LEVEL", "LEGACY_MODE", "REGION"],
        },
      },
      async () => webOf(await deployment(name)).env,
    );
    // The same variables with the same values, in the same places: a later variable may refer to
    // an earlier one with $(NAME).
    expect(webOf(await deployment(name)).env).toEqual(before);
  }, 60_000);

  it("set_deployment_resources: the new requests and limits roll out, and Undo puts the old ones back", async () => {
    const name = DEPLOYMENTS.resources;
    const before = webOf(await deployment(name)).resources;

    const executed = await approvedChange("set_deployment_resources", {
      namespace: NS,
      name,
      container: "web",
      requests: { cpu: "150m" },
      limits: { memory: "256Mi" },
    });
    expect(webOf(await deployment(name)).resources).toEqual({
      requests: { cpu: "150m", memory: "64Mi" },
      limits: { cpu: "200m", memory: "256Mi" },
    });
    expect(cardText(executed.card)).toMatch(/Verified.*rollout complete, 1 of 1 replica\(s\) available/);

    await undoThroughApproval(
      executed,
      {
        tool: "set_deployment_resources",
        arguments: {
          namespace: NS,
          name,
          container: "web",
          requests: { cpu: "100m" },
          limits: { memory: "128Mi" },
        },
      },
      async () => webOf(await deployment(name)).resources,
    );
    expect(webOf(await deployment(name)).resources).toEqual(before);
  }, 60_000);

  it("rollback_deployment: back to the previous revision's template, and Undo returns to the template it replaced", async () => {
    const name = DEPLOYMENTS.rollback;
    // Revision 2: a new image, rolled out by hand.
    const first = await deployment(name);
    webOf(first).image = "ghcr.io/example/web:2.0.0";
    await apps().replaceNamespacedDeployment({ name, namespace: NS, body: first });
    const rev2 = await rolledOut(name);
    expect(rev2.metadata!.annotations!["deployment.kubernetes.io/revision"]).toBe("2");
    const templateBefore = rev2.spec!.template;

    const executed = await approvedChange("rollback_deployment", { namespace: NS, name });
    expect(executed.action.arguments).toMatchObject({ toRevision: 1 });
    const rolledBack = await deployment(name);
    expect(webOf(rolledBack).image).toBe("ghcr.io/example/web:1.0.0");
    expect(rolledBack.metadata!.annotations!["deployment.kubernetes.io/revision"]).toBe("3");
    expect(cardText(executed.card)).toMatch(
      /Verified.*rollout complete, 1 of 1 replica\(s\) available, 1 updated \(revision 3\)/,
    );

    const { undo, card } = await undoThroughApproval(
      executed,
      { tool: "rollback_deployment", arguments: { namespace: NS, name, toRevision: 2 } },
      async () => (await deployment(name)).spec!.template,
    );
    const back = await deployment(name);
    // The exact template of before the rollback, now as revision 4 (the controller numbers it anew).
    expect(back.spec!.template).toEqual(templateBefore);
    expect(back.metadata!.annotations!["deployment.kubernetes.io/revision"]).toBe("4");
    // It is revision 2's own ReplicaSet that is current again.
    const rs = await apps().readNamespacedReplicaSet({
      name: String(undo.arguments.replicaSet),
      namespace: NS,
    });
    expect(rs.metadata!.uid).toBe(undo.arguments.replicaSetUid);
    expect(rs.metadata!.annotations!["deployment.kubernetes.io/revision"]).toBe("4");
    expect(JSON.stringify(card.blocks)).toMatch(/Verified.*\(revision 4\)/);
  }, 60_000);
});

describe("node changes", () => {
  it("cordon_node: the node is cordoned, and Undo (uncordon_node) makes it schedulable again", async () => {
    const unschedulable = async () => (await core().readNode({ name: CORDON_NODE })).spec?.unschedulable;
    expect(await unschedulable()).toBeUndefined();

    const executed = await approvedChange("cordon_node", { name: CORDON_NODE });
    expect(await unschedulable()).toBe(true);
    expect(cardText(executed.card)).toMatch(
      new RegExp(`Verified.*Node ${CORDON_NODE} is cordoned: no new pods are scheduled on it`),
    );

    const { card } = await undoThroughApproval(
      executed,
      { tool: "uncordon_node", arguments: { name: CORDON_NODE } },
      unschedulable,
    );
    expect(await unschedulable()).toBeUndefined();
    expect(JSON.stringify(card.blocks)).toMatch(
      new RegExp(`Verified.*Node ${CORDON_NODE} is schedulable again`),
    );
  }, 60_000);

  it("uncordon_node: the node is schedulable again, and Undo (cordon_node) cordons it again", async () => {
    const unschedulable = async () => (await core().readNode({ name: CORDON_NODE })).spec?.unschedulable;
    await core().patchNode({ name: CORDON_NODE, body: { spec: { unschedulable: true } } }, MERGE_PATCH);
    expect(await unschedulable()).toBe(true);
    try {
      const executed = await approvedChange("uncordon_node", { name: CORDON_NODE });
      expect(await unschedulable()).toBeUndefined();
      expect(cardText(executed.card)).toMatch(
        new RegExp(`Verified.*Node ${CORDON_NODE} is schedulable again`),
      );

      const { card } = await undoThroughApproval(
        executed,
        { tool: "cordon_node", arguments: { name: CORDON_NODE } },
        unschedulable,
      );
      expect(await unschedulable()).toBe(true);
      expect(JSON.stringify(card.blocks)).toMatch(new RegExp(`Verified.*Node ${CORDON_NODE} is cordoned`));
    } finally {
      await core().patchNode({ name: CORDON_NODE, body: { spec: { unschedulable: null } } }, MERGE_PATCH);
    }
  }, 60_000);
});

describe("changes with no undo", () => {
  it("set_deployment_resources of a value that was not set: verified, but no Undo (the tool cannot unset it)", async () => {
    const name = DEPLOYMENTS.image;
    expect(webOf(await deployment(name)).resources).toEqual({});
    const executed = await approvedChange("set_deployment_resources", {
      namespace: NS,
      name,
      container: "web",
      requests: { cpu: "50m" },
    });
    expect(webOf(await deployment(name)).resources).toEqual({ requests: { cpu: "50m" } });
    expect(cardText(executed.card)).toMatch(/Verified.*rollout complete, 1 of 1 replica\(s\) available/);
    expect(buttonsOf(executed.card)).toEqual([]);
  }, 60_000);

  it("delete_pod: the verdict names the replacement pod, and no Undo is offered (an evicted pod cannot be put back)", async () => {
    const name = DEPLOYMENTS.pod;
    const before = (
      await core().listNamespacedPod({ namespace: NS, labelSelector: `app=${name}` })
    ).items.filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
    expect(before).toHaveLength(2);
    const pod = before[0]!;
    const podName = pod.metadata!.name!;
    const owner = pod.metadata!.ownerReferences![0]!.name;

    const executed = await approvedChange("delete_pod", { namespace: NS, name: podName });
    // The proposal recorded the ReplicaSet's selector and the pods it picked then.
    const hash = pod.metadata!.labels!["pod-template-hash"]!;
    expect(executed.action.evidence).toMatchObject({
      owner: `ReplicaSet ${owner}`,
      labelSelector: `app=${name},pod-template-hash=${hash}`,
    });
    expect(executed.action.evidence.siblings).toEqual(
      expect.arrayContaining(before.map((p) => p.metadata!.name)),
    );
    const text = cardText(executed.card);
    expect(text).toContain(`Verified`);
    const named = new RegExp(
      `Pod ${NS}/${podName} is gone; ReplicaSet ${owner} replaced it with pod (${owner}-[a-z0-9]+) \\(status Running\\)\\.`,
    ).exec(text);
    expect(named, text).not.toBeNull();
    // Not the other replica that was there all along: a new pod, which the cluster shows running.
    const replacement = named![1]!;
    expect(before.map((p) => p.metadata!.name)).not.toContain(replacement);
    const live = await core().readNamespacedPod({ name: replacement, namespace: NS });
    expect(live.status?.phase).toBe("Running");
    expect(live.metadata!.ownerReferences![0]!.name).toBe(owner);
    await expect(core().readNamespacedPod({ name: podName, namespace: NS })).rejects.toThrow();
    expect(buttonsOf(executed.card)).toEqual([]);
    // Nor from a button that names it anyway: the undo comes from the stored action's type.
    await slack.click({
      user: BOB,
      message: {
        ...executed.card,
        blocks: [
          {
            type: "actions",
            elements: [{ type: "button", action_id: UNDO_ACTION_ID, value: executed.action.id }],
          },
        ],
      },
      actionId: UNDO_ACTION_ID,
    });
    await bot.idle();
    expect(slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text).toContain(
      "there is no undo Deputy can propose for it",
    );
    // No new card to approve.
    expect(botReplies(executed.thread).filter((m) => buttonsOf(m).length > 0)).toEqual([]);
  }, 60_000);

  it("delete_pod of a StatefulSet pod: the verdict waits for the pod of the same name to come back", async () => {
    const podName = `${STATEFUL}-0`;
    const old = await eventually(`${podName} running`, async () => {
      const pod = await core().readNamespacedPod({ name: podName, namespace: NS });
      return pod.status?.phase === "Running" ? pod : undefined;
    });

    const executed = await approvedChange("delete_pod", { namespace: NS, name: podName });
    expect(executed.action.target.uid).toBe(old.metadata!.uid);
    const text = cardText(executed.card);
    expect(text).toContain("Verified");
    // Seen back under its name with a new uid and running, not merely created.
    expect(text).toContain(
      `Pod ${NS}/${podName} was replaced by a new pod of the same name (status Running).`,
    );
    expect(buttonsOf(executed.card)).toEqual([]);
    const back = await eventually(`${podName} back and running`, async () => {
      const pod = await core().readNamespacedPod({ name: podName, namespace: NS });
      return pod.metadata?.uid !== old.metadata!.uid && pod.status?.phase === "Running" ? pod : undefined;
    });
    expect(back.metadata!.ownerReferences![0]!.name).toBe(STATEFUL);
  }, 60_000);

  it("drain_node: the verdict reports the evicted pods gone from the node, and no Undo is offered", async () => {
    const onNode = async () =>
      (await core().listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${DRAIN_NODE}` })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
    const pods = await eventually("two pods running on the drain node", async () => {
      const running = (await onNode()).filter((p) => p.status?.phase === "Running");
      return running.length === 2 ? running : undefined;
    });
    // From now on the ReplicaSet's replacements are scheduled, not bound to this node.
    const rs = await apps().readNamespacedReplicaSet({ name: DRAINED, namespace: NS });
    delete rs.spec!.template!.spec!.nodeName;
    await apps().replaceNamespacedReplicaSet({ name: DRAINED, namespace: NS, body: rs });

    const names = pods.map((p) => `${NS}/${p.metadata!.name!}`).sort();
    const executed = await approvedChange("drain_node", { name: DRAIN_NODE });
    expect(
      (executed.action.arguments.evict as { namespace: string; name: string }[])
        .map((p) => `${p.namespace}/${p.name}`)
        .sort(),
    ).toEqual(names);
    const text = cardText(executed.card);
    expect(text).toContain("Verified");
    expect(text).toContain(`Node ${DRAIN_NODE} is drained: the 2 evicted pod(s) are gone from it.`);
    expect(buttonsOf(executed.card)).toEqual([]);
    // What the cluster shows: the node cordoned and empty, the workload's pods running elsewhere.
    expect((await core().readNode({ name: DRAIN_NODE })).spec?.unschedulable).toBe(true);
    expect(await onNode()).toEqual([]);
    await eventually("the drained workload running elsewhere", async () => {
      const replaced = (
        await core().listNamespacedPod({ namespace: NS, labelSelector: `app=${DRAINED}` })
      ).items.filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
      return replaced.length === 2 && replaced.every((p) => p.spec?.nodeName !== DRAIN_NODE)
        ? true
        : undefined;
    });
  }, 60_000);
});
