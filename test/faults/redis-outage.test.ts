import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import { createActionStore } from "../../core/actions/store.ts";
import { testSigner } from "../executor/support.ts";
import { startAnthropicFake, text, type AnthropicFake } from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { startFaultBot, type FaultBot } from "./bot.ts";
import { eventually, startBareVault, startOwnRedis, type BareVault, type OwnRedis } from "./support.ts";

/**
 * `deputy bot` as it runs in HTTP mode with the executor and the MCP server in
 * its process (the real wiring, the real Bolt app), on a Redis of its own that
 * the test stops and starts again. Slack and the model are the fakes; the
 * cluster is the test environment's API server; OpenBao is a dev server that
 * answers but was never configured.
 */
const ALICE = "U0FLTALICE";
const BOB = "U0FLTBOB";
const CHANNEL = "C0FAULTS";

let redis: OwnRedis;
let vault: BareVault;
let slack: SlackFake;
let model: AnthropicFake;
let running: FaultBot;
let prefix: string;
let logs: Record<string, unknown>[];

function botMessages(threadTs: string): FakeMessage[] {
  return slack.thread(CHANNEL, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
}

function ephemeralsTo(user: string): FakeMessage[] {
  return slack.messages.filter((m) => m.ephemeralTo === user);
}

function cardIn(threadTs: string): FakeMessage | undefined {
  return botMessages(threadTs).find((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID));
}

function logged(message: string): number {
  return logs.filter((line) => line.msg === message).length;
}

beforeAll(async () => {
  [redis, vault, slack, model] = await Promise.all([
    startOwnRedis(),
    startBareVault(),
    startSlackFake(),
    startAnthropicFake(),
  ]);
  running = await startFaultBot({
    slack,
    model,
    redisUrl: redis.url,
    baoAddr: vault.addr,
    env: { DEPUTY_APPROVERS: BOB },
  });
  prefix = running.prefix;
  logs = running.logs;
});

afterAll(async () => {
  await running?.close();
  await Promise.all([redis?.close(), vault?.close(), slack?.close(), model?.close()]);
});

describe("Redis stopped and started again under a running bot", () => {
  it("answers a question asked during the outage with a plain sentence, and the next one normally", async () => {
    await redis.stop();
    try {
      const during = await slack.mention({
        user: ALICE,
        text: "why is checkout crashing?",
        channel: CHANNEL,
      });
      expect(during.status).toBe(200);
      const reply = await eventually(
        () => botMessages(during.ts).at(-1),
        "a reply in the thread of the question asked during the outage",
      );
      expect(reply.text).toBe(
        "I couldn't answer because my state store is unavailable; please ask again in a minute.",
      );
      expect(model.requests).toHaveLength(0);
    } finally {
      await redis.start();
    }
    // The outage is logged once, and its end once, not a line per reconnection attempt.
    await eventually(() => logged("Redis is available again") >= 1, "the recovery log line");
    expect(logged("Redis is unavailable; reconnecting (logged once until it is back)")).toBe(1);
    expect(logged("Redis is available again")).toBe(1);

    model.setScript([text("checkout crashes because its config map is missing.")]);
    const after = await slack.mention({ user: ALICE, text: "why is checkout crashing?", channel: CHANNEL });
    const answer = await eventually(
      () => botMessages(after.ts).find((m) => m.text.includes("config map is missing")),
      "the answer after Redis came back",
    );
    expect(answer.text).toContain("checkout crashes");
  });

  it("tells a follow-up in a thread during the outage why it is not answered", async () => {
    model.setScript([text("First answer.")]);
    const asked = await slack.mention({ user: ALICE, text: "how is shop doing?", channel: CHANNEL });
    await eventually(
      () => botMessages(asked.ts).find((m) => m.text.includes("First answer")),
      "first answer",
    );
    await redis.stop();
    try {
      const followUp = await slack.sendEvent({
        type: "message",
        channel_type: "channel",
        user: ALICE,
        text: "and the frontend?",
        ts: `${Math.floor(Date.now() / 1000)}.000777`,
        thread_ts: asked.ts,
        channel: CHANNEL,
      });
      expect(followUp.status).toBe(200);
      const reply = await eventually(
        () => botMessages(asked.ts).find((m) => m.text.includes("state store is unavailable")),
        "the outage sentence in the thread",
      );
      expect(reply.text).toBe(
        "I couldn't answer because my state store is unavailable; please ask again in a minute.",
      );
    } finally {
      await redis.start();
    }
  });

  it("answers a write command during the outage with what failed and that nothing changed", async () => {
    await redis.stop();
    try {
      const asked = await slack.mention({
        user: ALICE,
        text: "restart deployment/frontend -n shop",
        channel: CHANNEL,
      });
      const reply = await eventually(
        () => botMessages(asked.ts).find((m) => m.text.includes("state store")),
        "the outage named in the thread",
      );
      expect(reply.text).toContain(
        "restart_deployment could not run because Deputy's state store is unavailable; nothing was changed. Try again in a minute.",
      );
      expect(reply.text).not.toContain("maxRetriesPerRequest");
      expect(cardIn(asked.ts)).toBeUndefined();
    } finally {
      await redis.start();
    }
  });

  it("answers an Approve click during the outage ephemerally, runs nothing, and takes the same click once Redis is back", async () => {
    const asked = await slack.mention({
      user: ALICE,
      text: "restart deployment/checkout -n shop",
      channel: CHANNEL,
    });
    const card = await eventually(() => cardIn(asked.ts), "the approval card");
    const actionId = /(act_[A-Za-z0-9_-]{20,})/.exec(JSON.stringify(card.blocks))![1]!;
    const threadBefore = botMessages(asked.ts).length;

    await redis.stop();
    let payload: string;
    try {
      const click = await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
      payload = click.payload;
      expect(click.status).toBe(200);
      const told = await eventually(
        () => ephemeralsTo(BOB).find((m) => m.text.includes("approval")),
        "an ephemeral answer to the click",
      );
      expect(told.text).toBe(
        "I couldn't record your approval because my state store is unavailable; nothing ran; please click again in a minute.",
      );
      // The card still offers its buttons and the thread heard nothing else.
      expect(JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks)).toContain(
        APPROVE_ACTION_ID,
      );
      expect(botMessages(asked.ts)).toHaveLength(threadBefore);
    } finally {
      await redis.start();
    }

    const check = new Redis(redis.url);
    try {
      const store = createActionStore(check, { prefix, ttlSeconds: 900, signer: testSigner() });
      expect((await store.get(actionId))?.state).toBe("pending");

      // The very same click, delivered again, is not taken for a replay: it is decided now.
      expect((await slack.replay(payload)).status).toBe(200);
      const outcome = await eventually(
        () => botMessages(asked.ts).find((m) => m.text.includes("OpenBao")),
        "the decision's outcome in the thread",
      );
      // OpenBao answers but was never configured: that is said, not "permission denied (403)".
      // URL-shaped text in Slack is made inert unless the user gave it.
      const inert = vault.addr.replace("http://", "hxxp[:]//").replaceAll(".", "[.]");
      expect(outcome.text).toContain(`OpenBao at ${inert} answers but is not configured for Deputy`);
      expect(outcome.text).toContain("deputy executor setup-openbao");
      expect((await store.get(actionId))?.state).toBe("failed");
    } finally {
      check.disconnect();
    }
  });
});
