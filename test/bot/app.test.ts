import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAnthropicModel } from "../../bot/agent/model.ts";
import { createAgentRunner } from "../../bot/agent/run-agent-turn.ts";
import { createSlackApp, EVENTS_PATH, type SlackApp } from "../../bot/app.ts";
import { APPROVE_ACTION_ID, REJECT_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import type { ApprovalDecider } from "../../bot/deps.ts";
import { parseConfig } from "../../core/config/config.ts";
import { sameIdentity, type Identity } from "../../core/identity/identity.ts";
import { createLogger } from "../../core/observability/logger.ts";
import type { DecisionResult, PendingAction } from "../../core/actions/schema.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { testSigner } from "../executor/support.ts";
import { eventually } from "../helpers/testenv.ts";
import { queueActionNotice } from "../../core/actions/notices.ts";
import { apiError, startAnthropicFake, text, toolUse, type AnthropicFake } from "../fakes/anthropic.ts";
import { SLACK_ACK_DEADLINE_MS, startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { startStubMcp, type StubMcp } from "./helpers/stub-mcp.ts";
import { slackFakeEnv } from "./helpers/over-fakes.ts";

/**
 * The real Bolt app over HTTP, signed requests from the Slack fake, the real
 * Anthropic SDK against the Anthropic fake, real Redis. The MCP server and the
 * executor are small stand-ins here (test/e2e covers the real ones).
 */

const ALICE = "U0ALICE";
const BOB = "U0BOB";
const CHANNEL = "C0OPS";

let slack: SlackFake;
let model: AnthropicFake;
let mcp: StubMcp;
let redis: Redis;
let bot: SlackApp;
let store: ActionStore;
/** The bot's Redis prefix: where its queues (action notices) live. */
const botPrefix = `deputy-test:${randomBytes(6).toString("hex")}:`;
const decisions: { actionId: string; approver: Identity; decision: string }[] = [];
/** The executor stand-in throws this many times before deciding (an executor that failed mid-call). */
let deciderFailures = 0;
/** The executor stand-in approves and starts the run, then its answer is lost (the client's timeout). */
let loseAnswerOfNextApproval = false;
/** …and the action's record cannot be read back either. */
let unreadableAfterLoss = false;
const actionPrefix = `deputy-test:app:${randomBytes(4).toString("hex")}:`;

/** Executor stand-in: two-person rule and exactly-once, like the real one's contract. */
function fakeDecider(): ApprovalDecider {
  const decided = new Map<string, PendingAction>();
  return {
    async decide(request) {
      if (deciderFailures > 0) {
        deciderFailures--;
        throw new Error("the executor did not answer");
      }
      decisions.push(request);
      if (loseAnswerOfNextApproval && request.decision === "approve") {
        loseAnswerOfNextApproval = false;
        await store.decide(request.actionId, "approved", request.approver);
        await store.beginExecution(request.actionId, "fake-executor");
        if (unreadableAfterLoss)
          await redis.hset(`${actionPrefix}action:${request.actionId}`, "beganMac", "00");
        throw new Error("the connection to the executor failed (socket hang up)");
      }
      const summary = (await store.get(request.actionId))
        ? mcp.pending.find((p) => p.id === request.actionId)
        : undefined;
      if (!summary)
        return { status: "refused", rule: "unknown-action", message: "No such action.", action: undefined };
      if (request.digest !== summary.digest) {
        return { status: "refused", rule: "stale-card", message: "The card is stale.", action: summary };
      }
      const base: PendingAction = summary;
      const earlier = decided.get(request.actionId);
      if (earlier)
        return {
          status: "not_pending",
          message: `Action is ${earlier.state}; it was not run again.`,
          action: earlier,
        };
      if (sameIdentity(request.approver, summary.requester)) {
        return {
          status: "refused",
          rule: "self-approval",
          message: "You requested this change, so someone else must approve it.",
          action: base,
        };
      }
      if (request.approver.id !== BOB) {
        return {
          status: "refused",
          rule: "not-an-approver",
          message: "You are not an approver.",
          action: base,
        };
      }
      const action: PendingAction = {
        ...base,
        state: request.decision === "approve" ? "succeeded" : "rejected",
        decidedBy: request.approver,
        decidedAt: new Date().toISOString(),
        ...(request.decision === "approve"
          ? {
              outcome: {
                message: "Deployment shop/checkout restarted.",
                kubeStatus: 200,
                finishedAt: new Date().toISOString(),
              },
            }
          : {}),
      };
      decided.set(request.actionId, action);
      // The store tells the rest of the bot (the expiry sweep, notices) what happened, as the real executor's does.
      await store.decide(
        action.id,
        request.decision === "approve" ? "approved" : "rejected",
        request.approver,
      );
      if (request.decision === "approve") {
        await store.beginExecution(action.id, "fake-executor");
        await store.finish(action.id, "succeeded", action.outcome!);
      }
      const result: DecisionResult =
        request.decision === "approve"
          ? { status: "succeeded", message: "Deployment shop/checkout restarted.", action }
          : { status: "rejected", message: "", action };
      return result;
    },
  };
}

async function startBot(options: { withAgent?: boolean } = {}): Promise<SlackApp> {
  const config = parseConfig({
    ...slackFakeEnv(slack),
    DEPUTY_APPROVERS: BOB,
    ANTHROPIC_API_KEY: model.apiKey,
    ANTHROPIC_BASE_URL: model.url,
  });
  const logger = createLogger({ level: "silent" });
  const agent =
    options.withAgent === false
      ? undefined
      : createAgentRunner({
          model: createAnthropicModel({
            apiKey: model.apiKey,
            baseUrl: model.url,
            retry: { windowMs: 50, baseMs: 5, capMs: 10 },
          }),
          modelName: config.anthropic.model,
          limits: { maxIterations: 6, maxSeconds: 30, maxTokens: 100_000, maxOutputTokens: 1024 },
          logger,
        });
  const decider = fakeDecider();
  const app = createSlackApp({
    slack: config.slack,
    approvals: config.approvals,
    redisPrefix: botPrefix,
    redis,
    logger,
    mcp: mcp.client,
    agent,
    decider,
    actions: store,
    statusIntervalMs: 0,
  });
  const { port } = await app.start();
  slack.setTarget(`http://127.0.0.1:${port}${EVENTS_PATH}`);
  return app;
}

function lastInThread(threadTs: string): FakeMessage | undefined {
  return slack
    .thread(CHANNEL, threadTs)
    .filter((m) => !m.ephemeralTo && m.user === slack.botUserId)
    .at(-1);
}

function cardIn(threadTs: string): FakeMessage | undefined {
  return slack
    .thread(CHANNEL, threadTs)
    .find((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID));
}

beforeAll(async () => {
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  slack = await startSlackFake({ userGroups: { S0ONCALL: [BOB] } });
  model = await startAnthropicFake();
  store = createActionStore(redis, {
    prefix: actionPrefix,
    ttlSeconds: 900,
    signer: testSigner(),
  });
  mcp = await startStubMcp({ store });
  bot = await startBot();
});

afterAll(async () => {
  await bot?.stop();
  await mcp?.close();
  await model?.close();
  await slack?.close();
  redis?.disconnect();
});

beforeEach(() => {
  model.requests.length = 0;
  decisions.length = 0;
});

describe("Slack request verification", () => {
  it("rejects a bad signature and a stale timestamp, and runs nothing", async () => {
    const before = slack.calls.length;
    const forged = await slack.mention({
      user: ALICE,
      text: "hello",
      channel: CHANNEL,
      secret: "not-the-secret",
    });
    expect(forged.status).toBe(401);
    const stale = await slack.mention({
      user: ALICE,
      text: "hello",
      channel: CHANNEL,
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect(stale.status).toBe(401);
    const garbage = await slack.mention({
      user: ALICE,
      text: "hello",
      channel: CHANNEL,
      signature: "v0=deadbeef",
    });
    expect(garbage.status).toBe(401);
    const forgedClick = await slack.replay(
      JSON.stringify({
        type: "block_actions",
        user: { id: BOB, team_id: slack.teamId },
        team: { id: slack.teamId },
        channel: { id: CHANNEL },
        container: { type: "message", message_ts: "1.1", channel_id: CHANNEL },
        message: { ts: "1.1" },
        actions: [
          {
            type: "button",
            action_id: APPROVE_ACTION_ID,
            value: "act_aaaaaaaaaaaaaaaaaaaaaaaa",
            action_ts: "1.2",
          },
        ],
      }),
      { secret: "not-the-secret" },
    );
    expect(forgedClick.status).toBe(401);
    const staleCommand = await slack.sendCommand({
      user: ALICE,
      text: "restart deployment/checkout -n shop",
      channel: CHANNEL,
      timestamp: Math.floor(Date.now() / 1000) - 600,
    });
    expect(staleCommand.status).toBe(401);
    await bot.idle();
    expect(slack.calls.slice(before).filter((c) => c.method.startsWith("chat."))).toEqual([]);
    expect(model.requests).toHaveLength(0);
    expect(decisions).toHaveLength(0);
    expect(mcp.calls.filter((c) => c.name === "restart_deployment")).toHaveLength(0);
  });
});

describe("mentions", () => {
  it("acknowledges at once, shows progress, and replaces the status with the sanitised answer", async () => {
    model.setScript([
      // The model takes its time: the acknowledgement must not wait for it.
      { ...toolUse("troubleshoot_pod", { namespace: "shop", name: "checkout" }), delayMs: 1500 },
      text("**checkout** crashes: NullPointerException. <!channel> see https://evil.example.com"),
    ]);
    const callsBefore = mcp.calls.length;
    const sent = await slack.mention({
      user: ALICE,
      text: "why is checkout crashing in shop?",
      channel: CHANNEL,
    });
    expect(sent.status).toBe(200);
    expect(sent.latencyMs).toBeLessThan(SLACK_ACK_DEADLINE_MS);
    // Acknowledged before the work: no tool has been called for it yet.
    expect(mcp.calls).toHaveLength(callsBefore);
    await bot.idle();

    const replies = slack.thread(CHANNEL, sent.ts).filter((m) => m.user === slack.botUserId);
    expect(replies).toHaveLength(1);
    const status = replies[0]!;
    expect(status.thread_ts).toBe(sent.ts);
    const updates = slack.callsOf("chat.update").filter((c) => c.args.ts === status.ts);
    expect(
      updates.some((c) => JSON.stringify(c.args.blocks).includes("`troubleshoot_pod` on shop/checkout")),
    ).toBe(true);
    expect(status.text).toContain("*checkout* crashes: NullPointerException.");
    expect(status.text).not.toContain("<!channel>");
    expect(status.text).toContain("hxxps[:]//evil[.]example[.]com");
    expect(mcp.calls.at(-1)!.meta!["deputy/requester"]).toEqual({
      kind: "slack",
      id: ALICE,
      teamId: slack.teamId,
    });
    expect(mcp.calls.at(-1)!.meta!["deputy/conversation"]).toEqual({
      surface: "slack",
      teamId: slack.teamId,
      channel: CHANNEL,
      thread: sent.ts,
    });
  });

  it("does not start a second turn for a Slack retry of the same event", async () => {
    model.setScript([{ ...text("one answer"), delayMs: 200 }]);
    const first = await slack.mention({
      user: ALICE,
      text: "status of shop?",
      channel: CHANNEL,
      eventId: "EvRETRY0001",
    });
    const retry = await slack.sendEvent(
      {
        type: "app_mention",
        user: ALICE,
        text: `<@${slack.botUserId}> status of shop?`,
        ts: first.ts,
        channel: CHANNEL,
        event_ts: first.ts,
      },
      { eventId: "EvRETRY0001", retryNum: 1, retryReason: "http_timeout" },
    );
    expect(retry.status).toBe(200);
    await bot.idle();
    expect(model.requests).toHaveLength(1);
    expect(slack.thread(CHANNEL, first.ts).filter((m) => m.user === slack.botUserId)).toHaveLength(1);
    expect(bot.stats.retries).toBeGreaterThanOrEqual(1);
    expect(bot.stats.duplicates).toBeGreaterThanOrEqual(1);
  });

  it("reports a model outage as a plain sentence in the thread", async () => {
    model.setScript(() => apiError(529, "overloaded_error"));
    const sent = await slack.mention({ user: ALICE, text: "anything?", channel: CHANNEL });
    await bot.idle();
    expect(lastInThread(sent.ts)!.text).toMatch(
      /^I could not finish: The model service is overloaded \(HTTP 529\)/,
    );
  });
});

describe("approval cards", () => {
  it("posts a card, refuses the requester's click, executes the approver's, and ignores a replay", async () => {
    model.setScript([
      toolUse("restart_deployment", {
        namespace: "shop",
        name: "checkout",
        reason: "stale config in the running pods",
      }),
      text("I asked for a restart of checkout; an approver has to approve it."),
      // Resumed after the run with what Deputy saw (here: the stub cannot be read back).
      text("Restart ran; Deputy could not read the rollout back."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart checkout in shop", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    expect(card).toBeDefined();
    const cardJson = JSON.stringify(card.blocks);
    expect(cardJson).toContain("stale config in the running pods");
    expect(cardJson).toContain(`<@${BOB}>`);
    expect(cardJson).toContain(`Requested by <@${ALICE}>`);
    const actionId = mcp.pending.at(-1)!.id;

    // The requester approves their own request: refused, explained only to them.
    const own = await slack.click({ user: ALICE, message: card, actionId: APPROVE_ACTION_ID });
    expect(own.status).toBe(200);
    await bot.idle();
    const refusal = slack.messages.filter((m) => m.ephemeralTo === ALICE).at(-1)!;
    expect(refusal.text).toContain("someone else must approve it");
    expect(cardIn(sent.ts)).toBeDefined();

    // Another approver approves: the card loses its buttons and says who approved.
    const approved = await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    expect(approved.status).toBe(200);
    expect(approved.latencyMs).toBeLessThan(SLACK_ACK_DEADLINE_MS);
    await bot.idle();
    expect(decisions.map((d) => [d.actionId, d.approver, d.decision])).toEqual([
      [actionId, { kind: "slack", id: ALICE, teamId: slack.teamId }, "approve"],
      [actionId, { kind: "slack", id: BOB, teamId: slack.teamId }, "approve"],
    ]);
    const updatedCard = slack.messages.find((m) => m.ts === card.ts)!;
    expect(JSON.stringify(updatedCard.blocks)).not.toContain(APPROVE_ACTION_ID);
    expect(JSON.stringify(updatedCard.blocks)).toContain(`approved by <@${BOB}>`);
    const replies = slack
      .thread(CHANNEL, sent.ts)
      .filter((m) => !m.ephemeralTo && m.user === slack.botUserId);
    expect(replies.some((m) => m.text.includes("succeeded. Deployment shop/checkout restarted."))).toBe(true);
    expect(lastInThread(sent.ts)!.text).toBe("Restart ran; Deputy could not read the rollout back.");

    // The identical payload replayed: nothing reaches the executor.
    const replayed = await slack.replay(approved.payload);
    expect(replayed.status).toBe(200);
    await bot.idle();
    expect(decisions).toHaveLength(2);

    // Someone else chatting in the thread without mentioning Deputy is left alone.
    const requestsBefore = model.requests.length;
    await slack.sendEvent({
      type: "message",
      channel_type: "channel",
      user: "U0CAROL",
      text: "lunch?",
      ts: `${Date.now() / 1000}`,
      thread_ts: sent.ts,
      channel: CHANNEL,
    });
    await bot.idle();
    expect(model.requests.length).toBe(requestsBefore);

    // A follow-up from the requester carries the outcome to the agent.
    model.setScript([text("It restarted; pods are coming back.")]);
    await slack.sendEvent({
      type: "message",
      channel_type: "channel",
      user: ALICE,
      text: "did it work?",
      ts: `${Date.now() / 1000}`,
      thread_ts: sent.ts,
      channel: CHANNEL,
    });
    await bot.idle();
    const followUp = JSON.stringify(model.requests.at(-1)!.body.messages);
    expect(followUp).toContain(
      `Action ${actionId} (restart_deployment on Deployment shop/checkout) was succeeded`,
    );
    expect(followUp).toContain("restart checkout in shop");
    expect(lastInThread(sent.ts)!.text).toBe("It restarted; pods are coming back.");
  });

  it("rejects from the card and reports an unknown action id without crashing", async () => {
    model.setScript([
      toolUse("delete_pod", { namespace: "shop", name: "db-0", reason: "stuck" }),
      text("Card posted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "delete db-0", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    await slack.click({ user: BOB, message: card, actionId: REJECT_ACTION_ID });
    await bot.idle();
    expect(decisions.at(-1)!.decision).toBe("reject");
    expect(JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks)).toContain("Rejected");
    expect(lastInThread(sent.ts)!.text).toContain("was rejected");

    const forgedCard: FakeMessage = {
      ...card,
      blocks: [
        { type: "actions", elements: [{ type: "button", action_id: APPROVE_ACTION_ID, value: "rm -rf /" }] },
      ],
    };
    await slack.click({ user: BOB, message: forgedCard, actionId: APPROVE_ACTION_ID });
    await bot.idle();
    expect(slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text).toContain(
      "valid Deputy action id",
    );
    expect(decisions.at(-1)!.decision).toBe("reject");
  });
});

describe("interrupted actions", () => {
  it("updates the card and tells the thread what was and was not done when another executor reports it", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "checkout", reason: "stale config" }),
      text("Card posted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart checkout", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    const action = mcp.pending.at(-1)!;
    // The executor that ran it stopped; another one found it and queued a notice.
    await store.decide(action.id, "approved", { kind: "slack", id: BOB });
    await store.beginExecution(action.id, "stopped-executor");
    const interrupted = await store.finish(action.id, "interrupted", {
      message:
        "Interrupted: the executor running this action stopped part-way; it was not run again. Nothing was completed.",
      finishedAt: new Date().toISOString(),
    });
    expect(interrupted.ok).toBe(true);
    await queueActionNotice(redis, botPrefix)(
      interrupted.ok ? interrupted.action : action,
      "Interrupted: the executor running this action stopped part-way; it was not run again. Nothing was completed.",
    );
    await eventually("the notice in the thread", async () =>
      (lastInThread(sent.ts)?.text ?? "").includes("Nothing was completed."),
    );
    expect(lastInThread(sent.ts)!.text).toContain("interrupted part-way");
    const updated = JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks);
    expect(updated).not.toContain(APPROVE_ACTION_ID);
    expect(updated).toContain("interrupted part-way");
  });
});

describe("a decision that fails", () => {
  it("tells the clicker, and the same click delivered again is decided rather than dropped as a replay", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "recommendations", reason: "stuck" }),
      text("Card posted."),
      // The agent is resumed with the verified outcome after the run.
      text("It restarted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart recommendations", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    deciderFailures = 1;
    const click = await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    await bot.idle();
    expect(slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text).toBe(
      "I couldn't complete your approval because the executor did not answer. The action is still pending, so nothing ran; please click again in a minute.",
    );
    expect(decisions).toHaveLength(0);

    await slack.replay(click.payload);
    await bot.idle();
    expect(decisions).toHaveLength(1);
    expect(
      slack
        .thread(CHANNEL, sent.ts)
        .some((m) => !m.ephemeralTo && m.user === slack.botUserId && (m.text ?? "").includes("succeeded")),
    ).toBe(true);
  });
});

describe("an answer lost while the action runs, and a card whose action vanished", () => {
  it("says the action is still running, invites no second click, and posts the result once when it comes", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "payments", reason: "stuck" }),
      text("Card posted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart payments", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    const action = mcp.pending.at(-1)!;
    loseAnswerOfNextApproval = true;
    await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    await bot.idle();
    const told = slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text;
    expect(told).toBe(
      "Your approval was taken and the action is still running, but I lost the executor's answer (the connection to the executor failed (socket hang up)). Its result will be posted in the thread when it ends; please don't click again.",
    );
    expect(told).not.toMatch(/nothing was decided|click again in a minute/);
    expect(lastInThread(sent.ts)!.text).toContain("Its result will be posted here when it ends.");
    const shown = JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks);
    expect(shown).not.toContain(APPROVE_ACTION_ID);
    expect(shown).toContain("Approved, running");

    // The run ends; the executor queues its result for the thread (nobody was waiting for the answer).
    const finished = await store.finish(action.id, "failed", {
      message: "Kubernetes refused the change (403 Forbidden): admission denied. Nothing was changed.",
      finishedAt: new Date().toISOString(),
    });
    expect(finished.ok).toBe(true);
    await queueActionNotice(redis, botPrefix)(
      finished.ok ? finished.action : action,
      "Kubernetes refused the change (403 Forbidden): admission denied. Nothing was changed.",
    );
    await eventually("the result in the thread", async () =>
      (lastInThread(sent.ts)?.text ?? "").includes("admission denied"),
    );
    expect(JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks)).toContain("it failed");
    // Told once, even if the same result is queued again.
    await queueActionNotice(redis, botPrefix)(finished.ok ? finished.action : action, "DUPLICATE-NOTICE");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(
      slack.thread(CHANNEL, sent.ts).filter((m) => (m.text ?? "").includes("DUPLICATE-NOTICE")),
    ).toHaveLength(0);
  });

  it("says the outcome is not known yet, and invites no second click, when the action cannot be read back", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "billing", reason: "stuck" }),
      text("Card posted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart billing", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    loseAnswerOfNextApproval = true;
    unreadableAfterLoss = true;
    try {
      await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
      await bot.idle();
    } finally {
      unreadableAfterLoss = false;
    }
    const told = slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text;
    expect(told).toContain(
      "its outcome is not known yet. The thread will be told what became of it; please don't click again.",
    );
    expect(told).not.toMatch(/nothing was decided|click again in a minute/);
    expect(lastInThread(sent.ts)!.text).toContain("the outcome is not known yet. This thread will be told");
  });

  it("takes the buttons off a card whose action is gone from the store, and tells the thread", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "search", reason: "stuck" }),
      text("Card posted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart search", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    const action = mcp.pending.at(-1)!;
    // The state store lost its data.
    await redis.del(`${actionPrefix}action:${action.id}`);
    await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    await bot.idle();
    const sentence = `Action ${action.id} is no longer stored (it expired and was removed, or the state store lost it), so nothing can be decided or run from this card. Ask again if the change is still needed.`;
    expect(slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)!.text).toContain(sentence);
    const shown = JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks);
    expect(shown).not.toContain(APPROVE_ACTION_ID);
    expect(shown).not.toContain(REJECT_ACTION_ID);
    expect(shown).toContain("is no longer stored");
    expect(lastInThread(sent.ts)!.text).toBe(sentence);
  });
});

describe("records nobody signed", () => {
  it("are not repeated by the card sweep or /deputy pending", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "ledger", reason: "stuck" }),
      text("Card posted."),
    ]);
    const sent = await slack.mention({ user: ALICE, text: "restart ledger", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(sent.ts)!;
    const action = mcp.pending.at(-1)!;
    const threadBefore = slack.thread(CHANNEL, sent.ts).length;
    // A Redis writer claims a rejection by someone else, and an outcome.
    await redis.hset(`${actionPrefix}action:${action.id}`, {
      state: "rejected",
      decidedBy: JSON.stringify({ kind: "slack", teamId: "T1", id: "U0FORGED", name: "FORGED-DECIDER" }),
      decidedAt: new Date().toISOString(),
      outcome: JSON.stringify({ message: "FORGED-OUTCOME", finishedAt: new Date().toISOString() }),
    });
    const before = slack.responseUrlPosts.length;
    const reply = await slack.sendCommand({ user: BOB, text: "pending", channel: CHANNEL });
    expect(reply.status).toBe(200);
    await bot.idle();
    const listed = JSON.stringify(slack.responseUrlPosts.slice(before));
    expect(listed).not.toContain("FORGED");
    expect(listed).not.toContain(action.id.slice(0, 12));

    await bot.sweepExpiredCards(Date.now() + 16 * 60_000);
    await bot.idle();
    const shown = JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks);
    expect(shown).not.toContain("FORGED");
    expect(shown).not.toContain("Rejected");
    const told = slack.thread(CHANNEL, sent.ts).slice(threadBefore);
    expect(JSON.stringify(told)).not.toContain("FORGED");
    expect(JSON.stringify(told)).not.toContain("rejected");
  });
});

describe("expiry", () => {
  it("marks a card nobody decided as expired, and leaves decided cards alone", async () => {
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "frontend", reason: "stale config" }),
      text("Card posted."),
    ]);
    const open = await slack.mention({ user: ALICE, text: "restart frontend", channel: CHANNEL });
    await bot.idle();
    const card = cardIn(open.ts)!;
    model.setScript([
      toolUse("restart_deployment", { namespace: "shop", name: "catalog", reason: "x" }),
      text("Card posted."),
    ]);
    const decided = await slack.mention({ user: ALICE, text: "restart catalog", channel: CHANNEL });
    await bot.idle();
    const decidedCard = cardIn(decided.ts)!;
    await slack.click({ user: BOB, message: decidedCard, actionId: REJECT_ACTION_ID });
    await bot.idle();

    expect(await bot.sweepExpiredCards(Date.now())).toBe(0);
    expect(await bot.sweepExpiredCards(Date.now() + 16 * 60_000)).toBeGreaterThanOrEqual(1);
    const expired = slack.messages.find((m) => m.ts === card.ts)!;
    expect(JSON.stringify(expired.blocks)).not.toContain(APPROVE_ACTION_ID);
    expect(JSON.stringify(expired.blocks)).toContain("Expired without a decision");
    expect(lastInThread(open.ts)!.text).toContain("expired without a decision; nothing was changed");
    expect(JSON.stringify(slack.messages.find((m) => m.ts === decidedCard.ts)!.blocks)).toContain("Rejected");
    // A second sweep (another replica) finds nothing left to claim.
    expect(await bot.sweepExpiredCards(Date.now() + 16 * 60_000)).toBe(0);
  });
});

describe("/deputy", () => {
  it("answers help and usage errors in the acknowledgement", async () => {
    const help = await slack.sendCommand({ user: ALICE, text: "help", channel: CHANNEL });
    expect(help.status).toBe(200);
    expect(JSON.parse(help.body)).toMatchObject({
      response_type: "ephemeral",
      text: expect.stringContaining("/deputy restart deployment/<name>"),
    });
    const bad = await slack.sendCommand({
      user: ALICE,
      text: "scale deployment/checkout -n shop",
      channel: CHANNEL,
    });
    expect(JSON.parse(bad.body).text).toContain("--replicas is required");
    const force = await slack.sendCommand({
      user: ALICE,
      text: "delete pod/x -n shop --force",
      channel: CHANNEL,
    });
    expect(JSON.parse(force.body).text).toContain("no-force");
  });

  it("runs a direct command without the model and shows the result in a thread", async () => {
    const sent = await slack.sendCommand({
      user: ALICE,
      text: "troubleshoot shop/checkout",
      channel: CHANNEL,
    });
    expect(sent.status).toBe(200);
    await bot.idle();
    expect(model.requests).toHaveLength(0);
    const root = slack.messages
      .filter((m) => m.channel === CHANNEL && !m.thread_ts && m.user === slack.botUserId)
      .at(-1)!;
    expect(root.text).toContain(`<@${ALICE}> ran \`/deputy troubleshoot shop/checkout\``);
    const result = lastInThread(root.ts)!;
    expect(result.text).toContain("CrashLoopBackOff");
    expect(result.text).toContain("```\nNullPointerException");
    expect(mcp.calls.at(-1)).toMatchObject({
      name: "troubleshoot_pod",
      arguments: { namespace: "shop", name: "checkout" },
    });
  });

  it("turns a direct write into a card on the same approval path", async () => {
    await slack.sendCommand({ user: ALICE, text: "restart deployment/checkout -n shop", channel: CHANNEL });
    await bot.idle();
    const root = slack.messages
      .filter((m) => m.channel === CHANNEL && !m.thread_ts && m.user === slack.botUserId)
      .at(-1)!;
    const card = cardIn(root.ts)!;
    expect(card).toBeDefined();
    expect(JSON.stringify(card.blocks)).toContain("Asked for directly: restart deployment/checkout -n shop");
    expect(mcp.calls.at(-1)!.meta!["deputy/requester"]).toEqual({
      kind: "slack",
      id: ALICE,
      teamId: slack.teamId,
    });
  });

  it("explains when it cannot post in the channel", async () => {
    const sent = await slack.sendCommand({ user: ALICE, text: "pods shop", channel: "CNOTIN1" });
    await bot.idle();
    const response = slack.responseUrlPosts.find((p) => p.id === sent.responseUrlId);
    expect(response?.body.text).toContain("/invite @Deputy");
  });
});

describe("without a model", () => {
  it("says so plainly and still runs direct commands from a mention", async () => {
    await bot.stop();
    bot = await startBot({ withAgent: false });
    const asked = await slack.mention({ user: ALICE, text: "why is checkout crashing?", channel: CHANNEL });
    await bot.idle();
    expect(lastInThread(asked.ts)!.text).toContain("The AI agent is not configured here");
    const direct = await slack.mention({ user: ALICE, text: "troubleshoot shop/checkout", channel: CHANNEL });
    await bot.idle();
    expect(lastInThread(direct.ts)!.text).toContain("CrashLoopBackOff");
    expect(model.requests).toHaveLength(0);
  });
});

describe("approver group", () => {
  it("resolves membership through usergroups.users.list and caches it", async () => {
    const config = parseConfig({
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: slack.signingSecret,
      SLACK_SOCKET_MODE: "false",
      SLACK_API_URL: slack.apiUrl,
      DEPUTY_APPROVER_GROUP: "S0ONCALL",
    });
    const app = createSlackApp({
      slack: config.slack,
      approvals: config.approvals,
      redisPrefix: "deputy-test-group:",
      redis,
      logger: createLogger({ level: "silent" }),
      mcp: mcp.client,
      agent: undefined,
      decider: fakeDecider(),
      actions: store,
    });
    const before = slack.callsOf("usergroups.users.list").length;
    expect(await app.isInGroup!({ kind: "slack", id: BOB, teamId: slack.teamId })).toBe(true);
    expect(await app.isInGroup!({ kind: "slack", id: ALICE, teamId: slack.teamId })).toBe(false);
    expect(await app.isInGroup!({ kind: "local", id: BOB })).toBe(false);
    expect(slack.callsOf("usergroups.users.list").length - before).toBe(1);
  });

  it("refuses to start without the secrets its mode needs", () => {
    const base = { SLACK_BOT_TOKEN: "xoxb-1", SLACK_API_URL: slack.apiUrl };
    const deps = {
      approvals: { approvers: [], approverGroup: undefined },
      redisPrefix: "x:",
      redis,
      logger: createLogger({ level: "silent" }),
      mcp: mcp.client,
      agent: undefined,
      decider: fakeDecider(),
      actions: store,
    };
    expect(() =>
      createSlackApp({ ...deps, slack: parseConfig({ ...base, SLACK_SOCKET_MODE: "true" }).slack }),
    ).toThrow(/SLACK_APP_TOKEN is required in Socket Mode/);
    expect(() =>
      createSlackApp({ ...deps, slack: parseConfig({ ...base, SLACK_SOCKET_MODE: "false" }).slack }),
    ).toThrow(/SLACK_SIGNING_SECRET is required in HTTP mode/);
    expect(() =>
      createSlackApp({ ...deps, slack: parseConfig({ SLACK_SOCKET_MODE: "false" }).slack }),
    ).toThrow(/SLACK_BOT_TOKEN is required/);
  });
});
