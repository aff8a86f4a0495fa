import { randomBytes } from "node:crypto";
import { AppsV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTS_PATH, type SlackApp } from "../../bot/app.ts";
import { connectMcpOverHttp, startBot, type BotRuntime } from "../../bot/wiring.ts";
import { redisTriageSink } from "../../core/observability/alerts.ts";
import { pauseWrites, resumeWritesOf, writePausesOf } from "../../core/observability/anomaly.ts";
import { clusterKeyPrefix } from "../../core/config/clusters.ts";
import { createCallerVerifier } from "../../core/identity/caller-auth.ts";
import { generateKeys } from "../../core/identity/keys.ts";
import { createExecutorClient } from "../../executor/client.ts";
import { startExecutorHttpServer } from "../../executor/http.ts";
import { startHttpServer } from "../../mcp/transports/http.ts";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import {
  ASK_CLUSTER_BLOCK_ID,
  ASK_CLUSTER_CALLBACK_ID,
  ASK_CLUSTER_SELECT_ID,
} from "../../bot/blocks/cluster-choice.ts";
import { ASK_ABOUT_MESSAGE_CALLBACK_ID } from "../../bot/listeners/shortcuts/ask-about-message.ts";
import { postApprovalCard } from "../../bot/handlers/thread-replies.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { parseConfig } from "../../core/config/config.ts";
import type { ApprovalExecutor } from "../../executor/approval-executor.ts";
import {
  startAnthropicFake,
  text,
  toolUse,
  type AnthropicFake,
  type MessagesRequest,
} from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { scriptedAgent, slackFakeEnv, startSlackAppOverFakes } from "../bot/helpers/over-fakes.ts";
import { capture, connectRedis, draft, dropPrefix, testPrefix, testSigner } from "../executor/support.ts";
import { createClusterActionSigner } from "../../core/actions/digest.ts";
import { prepareWriteEnv, type WriteEnv } from "../executor/write-env.ts";
import { writeExecutor } from "../executor/write-fixture.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../helpers/testenv.ts";
import { READER_ACCOUNT, READER_NAMESPACE, startHarness, type Harness } from "../mcp/harness.ts";
import { startSecondCluster, type SecondCluster } from "./second-cluster.ts";

/**
 * One bot serving two clusters, each with its own MCP server (its own read
 * identity on its own API server) and its own executor (its own OpenBao):
 * the shared test environment is prod-eu, a second one beside it is prod-us.
 * The real Bolt app hears signed requests from the Slack fake; the real agent
 * loop talks to the scripted model; everything else is real.
 */
const ALICE = "U0CLALICE";
const BOB = "U0CLBOB";
const EU = "C0CLEU";
const US = "C0CLUS";
/** A channel with no default cluster. */
const ANY = "C0CLANY";
const NS = "deputy-w-clusters";
const suffix = randomBytes(3).toString("hex");
/** A Deployment that exists only in prod-eu, and one only in prod-us. */
const ONLY_EU = `only-eu-${suffix}`;
const ONLY_US = `only-us-${suffix}`;

let second: SecondCluster | undefined;
let slack: SlackFake;
let model: AnthropicFake;
let harnessEu: Harness;
let harnessUs: Harness;
let redis: Redis;
let prefix: string;
let store: ActionStore;
let bot: SlackApp;
const captured = capture();
const minted: Record<"prod-eu" | "prod-us", string[]> = { "prod-eu": [], "prod-us": [] };
/** Each cluster's own action key: its MCP server signs with it, its executor verifies with it. */
const ACTION_KEYS = { "prod-eu": randomBytes(32), "prod-us": randomBytes(32) };
let executorEu: ApprovalExecutor;
let executorUs: ApprovalExecutor;

function executorFor(name: "prod-eu" | "prod-us", env: WriteEnv): ApprovalExecutor {
  return writeExecutor(env, {
    store: createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner(ACTION_KEYS[name]) }),
    audit: captured.audit,
    logger: captured.logger,
    approverIds: [BOB],
    onCredential: (credential) => minted[name].push(credential.token),
    clusterName: name,
  });
}

function replies(channel: string, threadTs: string): FakeMessage[] {
  return slack.thread(channel, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
}

/** Everything the bot posted in a thread, text and blocks. */
function threadText(channel: string, threadTs: string): string {
  return replies(channel, threadTs)
    .map((m) => `${m.text}\n${JSON.stringify(m.blocks ?? [])}`)
    .join("\n");
}

/** The text of the newest user message the model was sent (the prompt and Deputy's notes). */
function promptOf(request: MessagesRequest): string {
  const last = request.messages.at(-1);
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  return last.content.map((block) => (typeof block.text === "string" ? block.text : "")).join("\n");
}

/** Tool calls each MCP server answered for a channel (its audit, by conversation). */
function toolCallsIn(harness: Harness, channel: string): string[] {
  return harness.audit
    .filter((record) => record.kind === "tool_call" && record.conversation?.channel === channel)
    .map((record) => record.tool ?? "");
}

/** The modal's answer: cluster `name` picked in its select. */
function chosen(name: string): Record<string, Record<string, unknown>> {
  return {
    [ASK_CLUSTER_BLOCK_ID]: {
      [ASK_CLUSTER_SELECT_ID]: {
        type: "static_select",
        selected_option: { text: { type: "plain_text", text: name }, value: name },
      },
    },
  };
}

async function replicasIn(admin: KubeConfig, name: string): Promise<number | undefined> {
  const deployment = await admin.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace: NS });
  return deployment.spec?.replicas;
}

beforeAll(async () => {
  second = await startSecondCluster();
  const [writeEu, writeUs] = await Promise.all([prepareWriteEnv(), prepareWriteEnv(second.env)]);
  await Promise.all([freshDeployment(NS, ONLY_EU), freshDeployment(NS, ONLY_US, { admin: second.admin })]);
  redis = connectRedis();
  prefix = testPrefix("bot-clusters");
  // Both clusters' MCP servers keep their proposals in the bot's store; each names its own cluster.
  const mcpEnv = {
    DEPUTY_REDIS_PREFIX: prefix,
    DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000",
    DEPUTY_WRITABLE_NAMESPACES: NS,
  };
  harnessEu = await startHarness({
    env: { ...mcpEnv, DEPUTY_CLUSTER_NAME: "prod-eu" },
    actionKey: ACTION_KEYS["prod-eu"],
  });
  harnessUs = await startHarness({
    env: { ...mcpEnv, DEPUTY_CLUSTER_NAME: "prod-us" },
    actionKey: ACTION_KEYS["prod-us"],
    // prod-us's own read identity on prod-us's API server, which may impersonate its preview account.
    kubeConfig: await second.readerKubeConfig(READER_NAMESPACE, READER_ACCOUNT),
  });
  // The bot verifies each cluster's proposals with that cluster's key.
  store = createActionStore(redis, {
    prefix,
    ttlSeconds: 900,
    signer: createClusterActionSigner(new Map(Object.entries(ACTION_KEYS))),
  });
  executorEu = executorFor("prod-eu", writeEu);
  executorUs = executorFor("prod-us", writeUs);

  slack = await startSlackFake();
  model = await startAnthropicFake();
  const env = { DEPUTY_APPROVERS: BOB, DEPUTY_ALLOWED_CHANNELS: [EU, US, ANY].join(",") };
  bot = await startSlackAppOverFakes({ slack, redis, prefix, store, captured, env }, () => ({
    agent: scriptedAgent(model, captured.logger),
    followUp: { timeoutMs: 3000, intervalMs: 300 },
    clusters: [
      { name: "prod-eu", mcp: harnessEu.client, decider: executorEu, channels: [EU] },
      { name: "prod-us", mcp: harnessUs.client, decider: executorUs, channels: [US] },
    ],
  }));
  // Reads list the namespace's Deployments; a scale request proposes one; an outcome is acknowledged.
  model.setScript((request) => {
    const prompt = promptOf(request);
    if (request.messages.at(-1)?.content && /tool_result/.test(JSON.stringify(request.messages.at(-1))))
      return text("Here is what I found.");
    const scale = /scale (\S+) to (\d+)/.exec(prompt);
    if (scale) {
      return toolUse("scale_deployment", {
        namespace: NS,
        name: scale[1],
        replicas: Number(scale[2]),
        reason: "Asked to scale it.",
      });
    }
    if (/was approved by/.test(prompt)) return text("Noted.");
    return toolUse("list_deployments", { namespace: NS });
  });
}, 180_000);

afterAll(async () => {
  await bot?.stop();
  await harnessEu?.close();
  await harnessUs?.close();
  await model?.close();
  await slack?.close();
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: ONLY_EU, namespace: NS })
    .catch(() => undefined);
  if (redis) {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  }
  await second?.stop();
}, 60_000);

describe("one bot, two clusters", () => {
  it("the same question in two channels reaches the two clusters, each through its own MCP server", async () => {
    const question = `which deployments run in ${NS}?`;
    const [eu, us] = await Promise.all([
      slack.mention({ user: ALICE, text: question, channel: EU }),
      slack.mention({ user: ALICE, text: question, channel: US }),
    ]);
    await bot.idle();
    const euResult = model.requests
      .map((r) => JSON.stringify(r.body.messages))
      .find((m) => m.includes(ONLY_EU));
    expect(euResult, "prod-eu's Deployment reached the model").toBeDefined();
    expect(euResult).not.toContain(ONLY_US);
    const usResult = model.requests
      .map((r) => JSON.stringify(r.body.messages))
      .find((m) => m.includes(ONLY_US));
    expect(usResult, "prod-us's Deployment reached the model").toBeDefined();
    expect(usResult).not.toContain(ONLY_EU);
    // Each channel's question was answered by its own cluster's MCP server, and only by it.
    expect(toolCallsIn(harnessEu, EU)).toEqual(["list_deployments"]);
    expect(toolCallsIn(harnessUs, US)).toEqual(["list_deployments"]);
    expect(toolCallsIn(harnessEu, US)).toEqual([]);
    expect(toolCallsIn(harnessUs, EU)).toEqual([]);
    // The answers name their cluster.
    expect(threadText(EU, eu.ts)).toContain("cluster prod-eu");
    expect(threadText(US, us.ts)).toContain("cluster prod-us");
    expect(threadText(EU, eu.ts)).not.toContain("prod-us");
  });

  it("a thread moves to the cluster its message names and stays there; --cluster moves it again", async () => {
    const sent = await slack.mention({
      user: ALICE,
      text: `in prod-us, which deployments run in ${NS}?`,
      channel: EU,
    });
    await bot.idle();
    const euCalls = toolCallsIn(harnessEu, EU).length;
    expect(toolCallsIn(harnessUs, EU)).toEqual(["list_deployments"]);
    const first = model.requests.find((r) => promptOf(r.body).includes(`which deployments run in ${NS}?`))!;
    expect(first).toBeDefined();
    // The naming is not part of the question, and the model is told which cluster it works on.
    const moved = model.requests.filter((r) =>
      promptOf(r.body).includes("This thread works on cluster prod-us"),
    );
    expect(moved.length).toBeGreaterThan(0);
    expect(promptOf(moved[0]!.body)).not.toContain("in prod-us,");

    // A follow-up that names no cluster stays in prod-us.
    await slack.mention({ user: ALICE, text: "and now?", channel: EU, threadTs: sent.ts });
    await bot.idle();
    expect(toolCallsIn(harnessUs, EU)).toEqual(["list_deployments", "list_deployments"]);
    expect(toolCallsIn(harnessEu, EU)).toHaveLength(euCalls);

    // A direct command with --cluster runs there, and the thread follows it.
    await slack.mention({
      user: ALICE,
      text: `deployments ${NS} --cluster prod-eu`,
      channel: EU,
      threadTs: sent.ts,
    });
    await bot.idle();
    expect(toolCallsIn(harnessEu, EU)).toHaveLength(euCalls + 1);
    expect(replies(EU, sent.ts).at(-1)!.text).toContain(ONLY_EU);
    expect(replies(EU, sent.ts).at(-1)!.text).toContain("Cluster prod-eu");
    await slack.mention({ user: ALICE, text: "and now?", channel: EU, threadTs: sent.ts });
    await bot.idle();
    expect(toolCallsIn(harnessEu, EU)).toHaveLength(euCalls + 2);
    const told = model.requests.at(-2)!.body;
    expect(promptOf(told)).toContain("moved this thread from cluster prod-us to cluster prod-eu");
  });

  it("a cluster not served, or a channel with no default, gets the list of clusters; nothing runs", async () => {
    const requests = model.requests.length;
    const calls = harnessEu.audit.length + harnessUs.audit.length;
    const unknown = await slack.mention({
      user: ALICE,
      text: `in cluster prod-ap, which deployments run in ${NS}?`,
      channel: EU,
    });
    const flag = await slack.mention({ user: ALICE, text: `pods ${NS} --cluster staging`, channel: US });
    const nowhere = await slack.mention({
      user: ALICE,
      text: `which deployments run in ${NS}?`,
      channel: ANY,
    });
    await bot.idle();
    expect(replies(EU, unknown.ts).at(-1)!.text).toMatch(
      /Deputy does not serve a cluster named `prod-ap`, so nothing was run\. Clusters served here: `prod-eu`, `prod-us`\. Name one/,
    );
    expect(replies(US, flag.ts).at(-1)!.text).toContain("Deputy does not serve a cluster named `staging`");
    expect(replies(ANY, nowhere.ts).at(-1)!.text).toMatch(
      /This channel has no default cluster.*`prod-eu`, `prod-us`.*--cluster prod-eu/,
    );
    expect(model.requests).toHaveLength(requests);
    expect(harnessEu.audit.length + harnessUs.audit.length).toBe(calls);

    // A cluster name alone binds the thread and runs nothing.
    const only = await slack.mention({ user: ALICE, text: "--cluster prod-us", channel: ANY });
    await bot.idle();
    expect(replies(ANY, only.ts).at(-1)!.text).toBe("This thread works on cluster prod-us now; ask away.");
    expect(model.requests).toHaveLength(requests);

    // Naming one in that channel works.
    const named = await slack.mention({
      user: ALICE,
      text: `prod-us: which deployments run in ${NS}?`,
      channel: ANY,
    });
    await bot.idle();
    expect(toolCallsIn(harnessUs, ANY)).toEqual(["list_deployments"]);
    expect(threadText(ANY, named.ts)).toContain("cluster prod-us");
  });

  it("/deputy takes --cluster: the command runs there, an unknown name is answered at once, and resume-writes lifts that cluster's pause only", async () => {
    const usCalls = toolCallsIn(harnessUs, EU).length;
    await slack.sendCommand({ user: ALICE, text: `deployments ${NS} --cluster prod-us`, channel: EU });
    await bot.idle();
    expect(toolCallsIn(harnessUs, EU)).toHaveLength(usCalls + 1);
    const root = slack.messages
      .filter((m) => m.channel === EU && !m.thread_ts && m.user === slack.botUserId)
      .at(-1)!;
    expect(replies(EU, root.ts).at(-1)!.text).toContain(ONLY_US);

    const unknown = await slack.sendCommand({
      user: ALICE,
      text: `pods ${NS} --cluster prod-ap`,
      channel: EU,
    });
    expect(JSON.parse(unknown.body)).toMatchObject({
      response_type: "ephemeral",
      text: expect.stringContaining("Deputy does not serve a cluster named `prod-ap`"),
    });

    for (const cluster of ["prod-eu", "prod-us"]) {
      await pauseWrites(
        redis,
        { rule: "delete-burst", reason: "test" },
        clusterKeyPrefix(prefix, cluster),
        600,
      );
    }
    await slack.sendCommand({ user: BOB, text: "resume-writes --cluster prod-us", channel: US });
    await bot.idle();
    expect((await writePausesOf(redis, prefix, ["prod-eu", "prod-us"])).map((p) => p.cluster)).toEqual([
      "prod-eu",
    ]);
    expect(slack.messages.filter((m) => m.channel === US).at(-1)!.text).toContain(
      "Write approvals resumed in cluster prod-us",
    );
    await resumeWritesOf(redis, prefix, ["prod-eu"]);
  });

  it("an action proposed in prod-us is approved on a card naming prod-us and run by prod-us's executor only", async () => {
    const before = await replicasIn(second!.admin, ONLY_US);
    expect(before).toBe(1);
    const sent = await slack.mention({ user: ALICE, text: `scale ${ONLY_US} to 2`, channel: US });
    await bot.idle();
    const card = replies(US, sent.ts).find((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID));
    expect(card, "an approval card").toBeDefined();
    expect(JSON.stringify(card!.blocks)).toContain("Approval needed in prod-us: scale_deployment");
    expect(JSON.stringify(card!.blocks)).toContain("*Cluster* prod-us");
    const [actionId] = (card!.blocks as { elements?: { value?: string }[] }[])
      .flatMap((b) => b.elements ?? [])
      .find((e) => e.value)!
      .value!.split("|") as [string];
    expect((await store.get(actionId))?.cluster).toBe("prod-us");

    await slack.click({ user: BOB, message: card!, actionId: APPROVE_ACTION_ID });
    await bot.idle();
    await eventually("prod-us scaled", async () =>
      (await replicasIn(second!.admin, ONLY_US)) === 2 ? 2 : undefined,
    );
    expect(minted["prod-us"].length).toBeGreaterThanOrEqual(1);
    expect(minted["prod-eu"]).toEqual([]);
    const execution = captured.records.find((r) => r.kind === "execution" && r.actionId === actionId);
    expect(execution?.cluster).toBe("prod-us");
    expect(threadText(US, sent.ts)).toContain(`(cluster prod-us) succeeded`);
  });

  it("no card is posted for an action that names another cluster than the MCP server it came through", async () => {
    // prod-us's MCP server proposes; the reply is then presented as if prod-eu's had made it.
    const reply = await harnessUs.call(
      "scale_deployment",
      { namespace: NS, name: ONLY_US, replicas: 3 },
      {
        "deputy/requester": { kind: "slack", id: ALICE, teamId: slack.teamId },
        "deputy/conversation": {
          surface: "slack",
          teamId: slack.teamId,
          channel: EU,
          thread: "1700000000.0042",
        },
      },
    );
    const ref = reply.structured?.pendingAction as PendingActionRef;
    expect(ref?.id, reply.text).toBeDefined();
    await postApprovalCard(
      bot.services,
      bot.client,
      { surface: "slack", teamId: slack.teamId, channel: EU, thread: "1700000000.0042" },
      ref,
      "prod-eu",
    );
    const posted = slack.thread(EU, "1700000000.0042");
    expect(posted.some((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID))).toBe(false);
    expect(posted.at(-1)!.text).toContain(
      "it names cluster prod-us but was proposed through cluster prod-eu's MCP server",
    );
    expect(
      captured.records.some(
        (r) => r.kind === "anomaly" && r.rule === "action-wrong-cluster" && r.actionId === ref.id,
      ),
    ).toBe(true);
  });

  it("a proposal naming prod-us but signed with prod-eu's key gets no card, and prod-us's executor refuses it", async () => {
    // What a compromised prod-eu MCP server could write: a well-formed proposal for prod-us, signed with its own key.
    const forged = await createActionStore(redis, {
      prefix,
      ttlSeconds: 900,
      signer: testSigner(ACTION_KEYS["prod-eu"]),
    }).create(
      draft({
        cluster: "prod-us",
        arguments: { namespace: NS, name: ONLY_US, replicas: 9 },
        target: {
          kind: "Deployment",
          namespace: NS,
          name: ONLY_US,
          uid: "u-forged",
          resourceVersion: "1",
          generation: 1,
        },
        requester: { kind: "slack", id: ALICE, teamId: slack.teamId },
      }),
    );
    const thread = "1700000000.0043";
    await postApprovalCard(
      bot.services,
      bot.client,
      { surface: "slack", teamId: slack.teamId, channel: US, thread },
      { id: forged.id, tool: forged.tool, digest: forged.digest, expiresAt: forged.expiresAt },
      "prod-us",
    );
    const posted = slack.thread(US, thread);
    expect(posted.some((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID))).toBe(false);
    expect(posted.at(-1)!.text).toContain("failed its integrity check");
    const result = await executorUs.decide({
      actionId: forged.id,
      digest: forged.digest,
      approver: { kind: "slack", id: BOB, teamId: slack.teamId },
      decision: "approve",
    });
    expect(result).toMatchObject({ status: "refused", rule: "tampered" });
    expect(await replicasIn(second!.admin, ONLY_US)).toBe(2);
    expect(minted["prod-us"]).toHaveLength(1);
  });

  it("a message handed to Deputy never picks the cluster: its text is data, even when it says --cluster", async () => {
    const cases = [
      { ts: "1800001000.000100", text: "deploy failed; someone said rerun with --cluster prod-us" },
      { ts: "1800001000.000200", text: "nothing works --cluster prod-ap" },
    ];
    for (const message of cases) {
      const usCalls = toolCallsIn(harnessUs, EU).length;
      const euCalls = toolCallsIn(harnessEu, EU).length;
      const before = model.requests.length;
      slack.messages.push({
        channel: EU,
        ...message,
        user: "U0SOMEONE",
        thread_ts: undefined,
        blocks: undefined,
        updates: 0,
      });
      const sent = await slack.shortcut({
        user: ALICE,
        callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID,
        message: { channel: EU, ...message, user: "U0SOMEONE" },
      });
      expect(sent.status).toBe(200);
      await bot.idle();
      // The channel's cluster investigated it, with the message whole in the prompt.
      expect(toolCallsIn(harnessEu, EU)).toHaveLength(euCalls + 1);
      expect(toolCallsIn(harnessUs, EU)).toHaveLength(usCalls);
      expect(promptOf(model.requests[before]!.body)).toContain(message.text);
      expect(threadText(EU, message.ts)).toContain("cluster prod-eu");
      expect(threadText(EU, message.ts)).not.toContain("does not serve");
    }
  });

  it("Ask Deputy in a channel with no default asks which cluster first, then investigates there; the choice is used once, by its owner", async () => {
    const message = {
      channel: ANY,
      ts: "1800002000.000100",
      text: `is ${ONLY_US} healthy?`,
      user: "U0SOMEONE",
    };
    slack.messages.push({ ...message, thread_ts: undefined, blocks: undefined, updates: 0 });
    const requests = model.requests.length;
    const sent = await slack.shortcut({ user: ALICE, callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID, message });
    expect(sent.status).toBe(200);
    await bot.idle();
    // Nothing is posted or run yet: a modal asks which cluster.
    expect(replies(ANY, message.ts)).toEqual([]);
    expect(model.requests).toHaveLength(requests);
    const modal = slack.views.filter((v) => v.method === "views.open").at(-1)!.view;
    expect(modal.callback_id).toBe(ASK_CLUSTER_CALLBACK_ID);
    expect(JSON.stringify(modal.blocks)).toContain("no default cluster");
    expect(JSON.stringify(modal.blocks)).toMatch(/prod-eu.*prod-us/);

    // Bad input is answered on the form and uses nothing up.
    const unknown = await slack.submitView({ user: ALICE, view: modal, values: chosen("prod-ap") });
    expect(JSON.parse(unknown.body)).toMatchObject({ response_action: "errors" });
    const someoneElse = await slack.submitView({ user: BOB, view: modal, values: chosen("prod-us") });
    expect(JSON.parse(someoneElse.body)).toMatchObject({ response_action: "errors" });
    expect(JSON.stringify(JSON.parse(someoneElse.body))).toContain("Only the person who asked");
    await bot.idle();
    expect(replies(ANY, message.ts)).toEqual([]);

    const submitted = await slack.submitView({ user: ALICE, view: modal, values: chosen("prod-us") });
    expect(submitted.status).toBe(200);
    expect(submitted.body).toBe("");
    await bot.idle();
    expect(toolCallsIn(harnessUs, ANY)).toContain("list_deployments");
    expect(promptOf(model.requests[requests]!.body)).toContain(message.text);
    expect(replies(ANY, message.ts)[0]!.text).toBe(
      `<@${ALICE}> asked me to look into this message. I'll answer here.`,
    );
    expect(threadText(ANY, message.ts)).toContain("cluster prod-us");
    // The thread stays there: a mention in it goes on in prod-us.
    const usCalls = toolCallsIn(harnessUs, ANY).length;
    await slack.mention({ user: ALICE, text: "and now?", channel: ANY, threadTs: message.ts });
    await bot.idle();
    expect(toolCallsIn(harnessUs, ANY)).toHaveLength(usCalls + 1);

    // Someone in a channel Deputy does not serve is told so at once: no form, nothing held.
    const opened = slack.views.length;
    const held = await redis.keys(`${prefix}ask-held:*`);
    const elsewhere = { channel: "C0CLOTHER", ts: "1800002000.000200", text: "help", user: "U0SOMEONE" };
    await slack.shortcut({ user: ALICE, callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID, message: elsewhere });
    await bot.idle();
    expect(slack.views).toHaveLength(opened);
    expect(await redis.keys(`${prefix}ask-held:*`)).toEqual(held);
    expect(String(slack.responseUrlPosts.at(-1)!.body.text)).toContain(":no_entry:");

    // The same submission again (a replay, or a second click) starts nothing.
    const after = model.requests.length;
    const again = await slack.submitView({ user: ALICE, view: modal, values: chosen("prod-us") });
    expect(JSON.stringify(JSON.parse(again.body))).toContain("no longer open");
    await bot.idle();
    expect(model.requests).toHaveLength(after);
  });

  it("a cluster picked on the form moves a thread someone bound meanwhile, and the agent is told", async () => {
    const message = { channel: ANY, ts: "1800003000.000100", text: "is it down?", user: "U0SOMEONE" };
    slack.messages.push({ ...message, thread_ts: undefined, blocks: undefined, updates: 0 });
    await slack.shortcut({ user: ALICE, callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID, message });
    await bot.idle();
    const modal = slack.views.filter((v) => v.method === "views.open").at(-1)!.view;
    // While the form is open, someone binds the message's thread to prod-eu.
    await slack.mention({ user: BOB, text: "--cluster prod-eu", channel: ANY, threadTs: message.ts });
    await bot.idle();
    expect(replies(ANY, message.ts).at(-1)!.text).toContain("works on cluster prod-eu now");

    const requests = model.requests.length;
    const usCalls = toolCallsIn(harnessUs, ANY).length;
    await slack.submitView({ user: ALICE, view: modal, values: chosen("prod-us") });
    await bot.idle();
    expect(toolCallsIn(harnessUs, ANY)).toHaveLength(usCalls + 1);
    expect(promptOf(model.requests[requests]!.body)).toContain(
      "moved this thread from cluster prod-eu to cluster prod-us",
    );
  });

  it("/deputy pending --cluster lists only that cluster's actions, pause and health", async () => {
    await slack.mention({ user: ALICE, text: `scale ${ONLY_EU} to 4`, channel: EU });
    await slack.mention({ user: ALICE, text: `scale ${ONLY_US} to 4`, channel: US });
    await bot.idle();
    // Alice asks in prod-us's channel and is in prod-eu's too, so she may see both actions.
    slack.channelMembers[EU] = [ALICE];
    const ask = async (text: string): Promise<{ text: string; blocks: string }> => {
      const before = slack.responseUrlPosts.length;
      const reply = await slack.sendCommand({ user: ALICE, text, channel: US });
      expect(reply.status).toBe(200);
      await bot.idle();
      const posted = slack.responseUrlPosts.slice(before).find((p) => p.id === reply.responseUrlId);
      expect(posted?.body.response_type).toBe("ephemeral");
      return { text: String(posted!.body.text), blocks: JSON.stringify(posted!.body.blocks) };
    };
    const all = await ask("pending");
    expect(all.blocks).toContain(`Deployment ${NS}/${ONLY_EU}`);
    expect(all.blocks).toContain(`Deployment ${NS}/${ONLY_US}`);

    const us = await ask("pending --cluster prod-us");
    expect(us.text).toMatch(/^In cluster prod-us: /);
    expect(us.blocks).toContain(`Deployment ${NS}/${ONLY_US}`);
    expect(us.blocks).not.toContain(ONLY_EU);
    expect(us.blocks).not.toContain("prod-eu");
    expect(us.blocks).toMatch(/Cluster prod-us: .*node\(s\)/);
  });
});

/**
 * The same two clusters as `deputy bot` builds them from DEPUTY_CLUSTERS: each
 * cluster's MCP server and executor over HTTP, each checking requests signed
 * with that cluster's own caller keys, and the bot's keys loaded per cluster.
 */
describe("deputy bot's wiring from DEPUTY_CLUSTERS, over HTTP", () => {
  const EU2 = "C0CLEU2";
  const US2 = "C0CLUS2";
  /** One triage channel for both clusters, the default of neither. */
  const TRIAGE = "C0CLTRIAGE";
  const keys = {
    "prod-eu": { action: ACTION_KEYS["prod-eu"], ...generateKeys(["mcpCaller", "executorCaller"]) },
    "prod-us": { action: ACTION_KEYS["prod-us"], ...generateKeys(["mcpCaller", "executorCaller"]) },
  };
  const urls: Record<string, { mcp: string; executor: string }> = {};
  const closers: (() => Promise<void>)[] = [];
  let slack2: SlackFake;
  let runtime: BotRuntime;

  beforeAll(async () => {
    const served = [
      ["prod-eu", harnessEu, executorEu],
      ["prod-us", harnessUs, executorUs],
    ] as const;
    for (const [name, harness, executor] of served) {
      const callers = (purpose: "mcp" | "executor", key: Buffer) =>
        createCallerVerifier({ key, purpose, redis, prefix: `${prefix}callers:${name}:` });
      const mcp = await startHttpServer(harness.deps, {
        host: "127.0.0.1",
        port: 0,
        callers: callers("mcp", keys[name].mcpCaller!),
      });
      const decisions = await startExecutorHttpServer({
        executor,
        logger: captured.logger,
        audit: captured.audit,
        callers: callers("executor", keys[name].executorCaller!),
        host: "127.0.0.1",
        port: 0,
      });
      closers.push(
        () => mcp.close(),
        () => decisions.close(),
      );
      urls[name] = { mcp: mcp.url, executor: decisions.url };
    }
    slack2 = await startSlackFake();
    const config = parseConfig({
      ...slackFakeEnv(slack2),
      REDIS_URL: loadTestEnv().redisUrl,
      DEPUTY_REDIS_PREFIX: prefix,
      DEPUTY_APPROVERS: BOB,
      DEPUTY_VERIFY_TIMEOUT_SECONDS: "10",
      SLACK_TRIAGE_CHANNEL: TRIAGE,
      ANTHROPIC_API_KEY: model.apiKey,
      ANTHROPIC_BASE_URL: model.url,
      DEPUTY_CLUSTERS: JSON.stringify([
        {
          name: "prod-eu",
          mcpUrl: urls["prod-eu"]!.mcp,
          executorUrl: urls["prod-eu"]!.executor,
          channels: [EU2],
        },
        {
          name: "prod-us",
          mcpUrl: urls["prod-us"]!.mcp,
          executorUrl: urls["prod-us"]!.executor,
          channels: [US2],
        },
      ]),
    });
    runtime = await startBot(config, {
      logger: captured.logger,
      audit: captured.audit,
      redis,
      keys: { clusters: keys },
      statusIntervalMs: 0,
    });
    slack2.setTarget(`http://127.0.0.1:${runtime.port}${EVENTS_PATH}`);
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await slack2?.close();
    for (const close of closers) await close();
  });

  it("sends each channel's question to its cluster's MCP server, and a prod-us approval to prod-us's executor", async () => {
    const question = `which deployments run in ${NS}?`;
    await Promise.all([
      slack2.mention({ user: ALICE, text: question, channel: EU2 }),
      slack2.mention({ user: ALICE, text: question, channel: US2 }),
    ]);
    await runtime.slack.idle();
    expect(toolCallsIn(harnessEu, EU2)).toEqual(["list_deployments"]);
    expect(toolCallsIn(harnessUs, US2)).toEqual(["list_deployments"]);
    expect(toolCallsIn(harnessEu, US2)).toEqual([]);
    expect(toolCallsIn(harnessUs, EU2)).toEqual([]);

    const sent = await slack2.mention({ user: ALICE, text: `scale ${ONLY_US} to 3`, channel: US2 });
    await runtime.slack.idle();
    const card = slack2
      .thread(US2, sent.ts)
      .find((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID));
    expect(card, "an approval card").toBeDefined();
    const mintedBefore = minted["prod-us"].length;
    await slack2.click({ user: BOB, message: card!, actionId: APPROVE_ACTION_ID });
    await runtime.slack.idle();
    await eventually("prod-us scaled to 3", async () =>
      (await replicasIn(second!.admin, ONLY_US)) === 3 ? 3 : undefined,
    );
    expect(minted["prod-us"].length).toBeGreaterThan(mintedBefore);
    expect(minted["prod-eu"]).toEqual([]);
  });

  it("a triage message names its cluster, and a mention in its thread goes on in that cluster", async () => {
    // What prod-us's watcher queues (it runs beside prod-us's MCP server, with its read identity).
    await redisTriageSink(redis, prefix).postTriage({
      reason: "crash-loop",
      object: { kind: "Deployment", namespace: NS, name: ONLY_US },
      title: `Triage: Deployment ${NS}/${ONLY_US} is crash-looping`,
      diagnosis: "Exit code 1.",
      cluster: "prod-us",
      at: new Date().toISOString(),
    });
    const posted = await eventually("the triage message", async () =>
      slack2.messages.find((m) => m.channel === TRIAGE && m.text.includes(ONLY_US)),
    );
    expect(posted.text).toContain(`[cluster prod-us] Triage: Deployment ${NS}/${ONLY_US}`);
    await eventually(
      "the thread bound",
      async () =>
        (await runtime.slack.services.conversations.boundCluster({
          surface: "slack",
          teamId: slack2.teamId,
          channel: TRIAGE,
          thread: posted.ts,
        })) ?? undefined,
    );
    await slack2.mention({ user: ALICE, text: "what is wrong here?", channel: TRIAGE, threadTs: posted.ts });
    await runtime.slack.idle();
    expect(toolCallsIn(harnessUs, TRIAGE)).toEqual(["list_deployments"]);
    expect(toolCallsIn(harnessEu, TRIAGE)).toEqual([]);
  });

  it("one cluster's caller keys open neither the other cluster's MCP server nor its executor", async () => {
    await expect(connectMcpOverHttp(urls["prod-us"]!.mcp, keys["prod-eu"].mcpCaller!)).rejects.toThrow();
    const wrongKey = createExecutorClient({
      url: urls["prod-us"]!.executor,
      key: keys["prod-eu"].executorCaller!,
    });
    const decided = await wrongKey
      .decide({
        actionId: "act_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        digest: "0".repeat(64),
        approver: { kind: "slack", id: BOB, teamId: slack2.teamId },
        decision: "approve",
      })
      .then(
        (result) => result,
        (error: unknown) => error,
      );
    expect(decided).toBeInstanceOf(Error);
    expect(String(decided)).toMatch(/401|unauthori[sz]ed|refused|signature/i);
  });
});
