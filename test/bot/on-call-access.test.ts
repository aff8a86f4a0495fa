import { AppsV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SlackApp } from "../../bot/app.ts";
import { RESUME_WRITES_ACTION_ID } from "../../bot/blocks/pending.ts";
import { UNDO_ACTION_ID } from "../../bot/blocks/follow-up.ts";
import { isWritePaused, pauseWrites } from "../../core/observability/anomaly.ts";
import { clusterKeyPrefix, DEFAULT_CLUSTER_NAME } from "../../core/config/clusters.ts";
import { ASK_ABOUT_MESSAGE_CALLBACK_ID } from "../../bot/listeners/shortcuts/ask-about-message.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import type { ActionStore } from "../../core/actions/store.ts";
import type { SlackFake } from "../fakes/slack.ts";
import type { Captured } from "../executor/support.ts";
import { adminKubeConfig, deleteNamespace, freshNamespace } from "../helpers/testenv.ts";
import type { Harness } from "../mcp/harness.ts";
import { startBotOverFakes, type BotOverFakes } from "./helpers/over-fakes.ts";

/**
 * The on-call views go through the same access rules as a question: who may
 * ask (the requester group), in which channels (the allow-list, direct
 * messages), and what they may see (a channel's members see its actions; a
 * channel's namespaces narrow the health line). Real Bolt over signed HTTP
 * from the Slack fake, Deputy's MCP server against the real API server,
 * real Redis.
 */
const ALICE = "U0ACALICE";
const BOB = "U0ACBOB";
const ERIN = "U0ACERIN";
/** Not in the requester group. */
const DAVE = "U0ACDAVE";
/** An approver only through the approver user group. */
const FRANK = "U0ACFRANK";
const REQUESTERS = "S0ACREQ";
const APPROVERS = "S0ACAPPR";
const CHANNEL = "C0ACOPS";
/** A private channel Bob is not in. */
const PRIVATE = "C0ACPRIV";
/** Narrowed to an empty namespace by DEPUTY_CHANNEL_NAMESPACES. */
const SCOPED = "C0ACSCOPED";
/** Not (any longer) in DEPUTY_ALLOWED_CHANNELS. */
const RETIRED = "C0ACOLD";
const ALICE_DM = `D0${ALICE}`;

let slack: SlackFake;
let harness: Harness;
let redis: Redis;
let prefix: string;
let store: ActionStore;
let captured: Captured;
let bot: SlackApp;
let fakes: BotOverFakes | undefined;
let ns: string;
let emptyNs: string;
const proposed: Record<string, string> = {};

async function propose(channel: string): Promise<string> {
  const reply = await harness.call(
    "scale_deployment",
    { namespace: ns, name: "web", replicas: 2 },
    {
      "deputy/requester": { kind: "slack", id: ALICE },
      "deputy/conversation": { surface: "slack", channel, thread: "1800000000.000100" },
      "deputy/reason": "More traffic.",
    },
  );
  expect(reply.isError, reply.text).toBe(false);
  return (reply.structured?.pendingAction as PendingActionRef).id;
}

beforeAll(async () => {
  ns = await freshNamespace("oc-access");
  emptyNs = await freshNamespace("oc-access-empty");
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "ghcr.io/example/web:1.0.0" }] },
          },
        },
      },
    });
  fakes = await startBotOverFakes({
    name: "oncall-access",
    slack: {
      userGroups: { [REQUESTERS]: [ALICE, BOB, ERIN, FRANK], [APPROVERS]: [FRANK] },
      // Bob is on the second page of the ops channel: a client reading one page would miss him.
      channelMembers: {
        [CHANNEL]: [ALICE, ERIN, "U0ACX", BOB],
        [PRIVATE]: [ALICE, ERIN],
        [RETIRED]: [ALICE, BOB, ERIN],
        [SCOPED]: [ALICE, BOB, ERIN],
      },
    },
    env: {
      DEPUTY_APPROVERS: `${ALICE},${BOB},${ERIN}`,
      DEPUTY_APPROVER_GROUP: APPROVERS,
      DEPUTY_ALLOWED_CHANNELS: `${CHANNEL},${PRIVATE},${SCOPED}`,
      DEPUTY_REQUESTER_GROUP: REQUESTERS,
      // Every other channel sees everything, said explicitly (an unlisted channel would be refused).
      DEPUTY_CHANNEL_NAMESPACES: `${SCOPED}=${emptyNs},*=*`,
    },
    mcpEnv: { DEPUTY_CHANNEL_NAMESPACES: `${SCOPED}=${emptyNs},*=*` },
    agent: false,
    decider: { decide: () => Promise.reject(new Error("no decisions in this file")) },
    cardSweepMs: 0,
  });
  ({ bot, slack, harness, redis, prefix, store, captured } = fakes);

  for (const channel of [CHANNEL, PRIVATE, RETIRED, ALICE_DM]) proposed[channel] = await propose(channel);
}, 180_000);

afterAll(async () => {
  await fakes?.close();
  for (const name of [ns, emptyNs]) if (name) await deleteNamespace(name);
});

const short = (id: string): string => id.slice(0, 12);

async function home(user: string): Promise<string> {
  const before = slack.views.length;
  await slack.openHome(user);
  await bot.idle();
  expect(slack.views.length).toBe(before + 1);
  return JSON.stringify(slack.homeOf(user));
}

async function pending(user: string, channel: string): Promise<Record<string, unknown>> {
  const reply = await slack.sendCommand({ user, text: "pending", channel });
  expect(reply.status).toBe(200);
  await bot.idle();
  return slack.responseUrlPosts.find((p) => p.id === reply.responseUrlId)!.body;
}

function refusalsOf(user: string): { rule?: string }[] {
  return captured.records.filter(
    (r) => r.kind === "policy_decision" && r.decision === "refused" && r.actor?.id === user,
  );
}

describe("App Home: only what the viewer may see", () => {
  it("lists an action only to members of the channel it was proposed in, and never one from a channel Deputy no longer serves or from someone's direct messages", async () => {
    const bob = await home(BOB);
    expect(bob).toContain("Waiting for you to approve* (1)");
    expect(bob).toContain(short(proposed[CHANNEL]!));
    for (const hidden of [PRIVATE, RETIRED, ALICE_DM]) expect(bob).not.toContain(short(proposed[hidden]!));
    // Hidden actions are not even counted.
    expect(bob).not.toContain("more pending action(s)");

    const erin = await home(ERIN);
    expect(erin).toContain("Waiting for you to approve* (2)");
    expect(erin).toContain(short(proposed[CHANNEL]!));
    expect(erin).toContain(short(proposed[PRIVATE]!));
    for (const hidden of [RETIRED, ALICE_DM]) expect(erin).not.toContain(short(proposed[hidden]!));

    // Direct messages are off: even Alice's own proposal from one is not listed now.
    const alice = await home(ALICE);
    expect(alice).toContain("You requested* (2)");
    expect(alice).not.toContain(short(proposed[ALICE_DM]!));
    expect(alice).not.toContain(short(proposed[RETIRED]!));
    // No channel of its own, direct messages off, channels narrowed: no cluster state here.
    expect(alice).toContain("Cluster health is shown where you use Deputy");
  });

  it("shows someone outside the requester group the refusal and nothing else, audited", async () => {
    const dave = await home(DAVE);
    expect(dave).toContain("Only members of Deputy's requester group");
    expect(dave).not.toContain("Waiting for you");
    expect(dave).not.toContain("You requested");
    expect(dave).not.toContain("Cluster");
    for (const id of Object.values(proposed)) expect(dave).not.toContain(short(id));
    expect(refusalsOf(DAVE).map((r) => r.rule)).toContain("requester-not-in-group");
  });
});

describe("App Home: Resume writes", () => {
  it("offers Resume to an approver by user group, and the click goes through the audited write-pause service", async () => {
    // The pause is kept per cluster; this bot serves the default one.
    const clusterState = clusterKeyPrefix(prefix, DEFAULT_CLUSTER_NAME);
    await pauseWrites(redis, { rule: "delete-burst", reason: "6 deletes in one minute" }, clusterState);
    const frank = await home(FRANK);
    expect(frank).toContain(RESUME_WRITES_ACTION_ID);
    expect(await home(DAVE)).not.toContain(RESUME_WRITES_ACTION_ID);

    await slack.clickView({ user: FRANK, view: slack.homeOf(FRANK)!, actionId: RESUME_WRITES_ACTION_ID });
    await bot.idle();
    expect(await isWritePaused(redis, clusterState)).toBe(false);
    expect(slack.messages.filter((m) => m.channel === FRANK).at(-1)!.text).toContain(
      `Write approvals resumed by <@${FRANK}>`,
    );
    expect(
      captured.records.filter((r) => r.kind === "anomaly" && r.rule === "writes-resumed").at(-1),
    ).toMatchObject({
      approver: { id: FRANK },
    });
    expect(JSON.stringify(slack.homeOf(FRANK))).toContain("Write approvals are open");
  });
});

describe("/deputy pending: the rules of the channel it runs in", () => {
  it("refuses someone outside the requester group, and anyone in a channel Deputy does not serve, with the reason only", async () => {
    const dave = await pending(DAVE, CHANNEL);
    expect(dave).toMatchObject({ response_type: "ephemeral" });
    expect(String(dave.text)).toContain("Only members of Deputy's requester group");
    expect(dave.blocks).toBeUndefined();

    const retired = await pending(BOB, RETIRED);
    expect(String(retired.text)).toContain("Deputy is not enabled in this channel");
    expect(retired.blocks).toBeUndefined();
    expect(refusalsOf(BOB).map((r) => r.rule)).toContain("channel-not-allowed");
  });

  it("narrows the health line to the channel's namespaces, through the MCP server, as the viewer", async () => {
    const wide = JSON.stringify((await pending(BOB, CHANNEL)).blocks);
    expect(wide).toContain(short(proposed[CHANNEL]!));
    expect(wide).not.toContain(short(proposed[PRIVATE]!));
    expect(wide).toMatch(/[1-9]\d* unhealthy pod\(s\) in the namespaces Deputy may read here/);

    const narrow = JSON.stringify((await pending(BOB, SCOPED)).blocks);
    expect(narrow).toContain("no unhealthy pods in the namespaces Deputy may read here");
    const read = harness.audit.filter((r) => r.kind === "tool_call" && r.tool === "list_pods").at(-1)!;
    expect(read).toMatchObject({
      actor: { kind: "slack", id: BOB },
      conversation: { surface: "slack", channel: SCOPED },
    });
  });
});

describe("message shortcut: the rules of the message's channel", () => {
  it("refuses privately and posts nothing for someone outside the requester group or in a channel Deputy does not serve", async () => {
    const posted = slack.callsOf("chat.postMessage").length;
    for (const [user, channel, reason] of [
      [DAVE, CHANNEL, "Only members of Deputy's requester group"],
      [BOB, RETIRED, "Deputy is not enabled in this channel"],
    ] as const) {
      const sent = await slack.shortcut({
        user,
        callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID,
        message: { channel, ts: "1800000999.000300", text: "checkout is down" },
      });
      expect(sent.status).toBe(200);
      await bot.idle();
      const reply = slack.responseUrlPosts.at(-1)!.body;
      expect(reply).toMatchObject({ response_type: "ephemeral" });
      expect(String(reply.text)).toContain(reason);
    }
    expect(slack.callsOf("chat.postMessage").length).toBe(posted);

    // Someone allowed, in a served channel, gets the thread.
    await slack.shortcut({
      user: ERIN,
      callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID,
      message: { channel: CHANNEL, ts: "1800000999.000400", text: "checkout is down" },
    });
    await bot.idle();
    expect(slack.thread(CHANNEL, "1800000999.000400")[0]?.text).toBe(
      `<@${ERIN}> asked me to look into this message. I'll answer here.`,
    );
  });
});

describe("Undo: the rules of a question in the card's channel", () => {
  it("refuses someone outside the requester group, and anyone in a channel Deputy does not serve, before anything is looked up or proposed", async () => {
    const pendingBefore = (await store.list("pending")).length;
    for (const [user, channel, reason] of [
      [DAVE, CHANNEL, "Only members of Deputy's requester group"],
      [BOB, RETIRED, "Deputy is not enabled in this channel"],
    ] as const) {
      const before = refusalsOf(user).length;
      const sent = await slack.click({
        user,
        message: {
          channel,
          ts: "1800000000.000100",
          thread_ts: undefined,
          text: "",
          user: slack.botUserId,
          updates: 0,
          blocks: [
            {
              type: "actions",
              elements: [{ type: "button", action_id: UNDO_ACTION_ID, value: proposed[channel] }],
            },
          ],
        },
        actionId: UNDO_ACTION_ID,
      });
      expect(sent.status).toBe(200);
      await bot.idle();
      const told = slack.messages.filter((m) => m.ephemeralTo === user).at(-1)!.text;
      expect(told).toContain(reason);
      // Not the answer an allowed person gets for a pending action ("there is no undo …").
      expect(told).not.toContain("no undo");
      expect(refusalsOf(user).length).toBe(before + 1);
    }
    expect((await store.list("pending")).length).toBe(pendingBefore);
  });

  it("refuses someone in the requester group who is not a member of the card's channel, and lets a member through", async () => {
    const clickUndo = (user: string) =>
      slack.click({
        user,
        message: {
          channel: PRIVATE,
          ts: "1800000000.000100",
          thread_ts: undefined,
          text: "",
          user: slack.botUserId,
          updates: 0,
          blocks: [
            {
              type: "actions",
              elements: [{ type: "button", action_id: UNDO_ACTION_ID, value: proposed[PRIVATE] }],
            },
          ],
        },
        actionId: UNDO_ACTION_ID,
      });
    const told = (user: string): string => slack.messages.filter((m) => m.ephemeralTo === user).at(-1)!.text;

    // Bob may ask, and PRIVATE is served, but he is not in it: a click proves no membership.
    const before = refusalsOf(BOB).length;
    expect((await clickUndo(BOB)).status).toBe(200);
    await bot.idle();
    expect(told(BOB)).toContain("Only members of the channel this card is in");
    expect(told(BOB)).not.toContain("no undo");
    expect(
      refusalsOf(BOB)
        .slice(before)
        .map((r) => r.rule),
    ).toEqual(["not-channel-member"]);

    // Erin is a member: she gets as far as the action (which, pending, has no undo).
    await clickUndo(ERIN);
    await bot.idle();
    expect(told(ERIN)).toContain("there is no undo Deputy can propose for it");
  });

  it("holds a click in one channel on an action of another channel to the rules of the action's channel", async () => {
    // A button naming PRIVATE's action, clicked by Bob in CHANNEL (where he is a member): the undo
    // would be proposed and its card posted in PRIVATE, where he is not.
    const before = refusalsOf(BOB).length;
    await slack.click({
      user: BOB,
      message: {
        channel: CHANNEL,
        ts: "1800000000.000100",
        thread_ts: undefined,
        text: "",
        user: slack.botUserId,
        updates: 0,
        blocks: [
          {
            type: "actions",
            elements: [{ type: "button", action_id: UNDO_ACTION_ID, value: proposed[PRIVATE] }],
          },
        ],
      },
      actionId: UNDO_ACTION_ID,
    });
    await bot.idle();
    const told = slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text;
    expect(told).toContain("Only members of the channel this card is in");
    expect(refusalsOf(BOB).slice(before)).toEqual([
      expect.objectContaining({
        rule: "not-channel-member",
        conversation: expect.objectContaining({ channel: PRIVATE }),
      }),
    ]);
  });
});
