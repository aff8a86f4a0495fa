import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import { testSigner } from "../executor/support.ts";
import { applyPreviewIdentity, waitForUsablePreview } from "../helpers/preview.ts";
import { adminKubeConfig, SEED } from "../helpers/testenv.ts";
import { startAnthropicFake, type AnthropicFake } from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { startFaultBot, type FaultBot } from "./bot.ts";
import { eventually, startOwnRedis, type OwnRedis } from "./support.ts";

/**
 * A bot killed mid-action leaves the action `executing` and its card still
 * tracked. When the card's approval window ends, the sweep must not say
 * "expired … nothing was changed" about an action that began executing.
 */
const ALICE = "U0INTALICE";
const BOB = "U0INTBOB";
const CHANNEL = "C0INTERRUPT";

let redis: OwnRedis;
let slack: SlackFake;
let model: AnthropicFake;
let running: FaultBot;
let client: Redis;
let store: ActionStore;

function botMessages(threadTs: string): FakeMessage[] {
  return slack.thread(CHANNEL, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
}

async function cardFor(text: string): Promise<{ thread: string; card: FakeMessage; actionId: string }> {
  const asked = await slack.mention({ user: ALICE, text, channel: CHANNEL });
  const card = await eventually(
    () => botMessages(asked.ts).find((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID)),
    `the approval card for "${text}"`,
  );
  const actionId = /(act_[A-Za-z0-9_-]{20,})/.exec(JSON.stringify(card.blocks))![1]!;
  return { thread: asked.ts, card, actionId };
}

beforeAll(async () => {
  // The bot reads with the admin kubeconfig, which may impersonate the preview account: the
  // shipped preview objects must be on the cluster (and enforced) for anything to be proposed.
  await applyPreviewIdentity();
  await waitForUsablePreview(adminKubeConfig());
  [redis, slack, model] = await Promise.all([startOwnRedis(), startSlackFake(), startAnthropicFake()]);
  running = await startFaultBot({ slack, model, redisUrl: redis.url, env: { DEPUTY_APPROVERS: BOB } });
  client = new Redis(redis.url);
  store = createActionStore(client, { prefix: running.prefix, ttlSeconds: 900, signer: testSigner() });
});

afterAll(async () => {
  client?.disconnect();
  await running?.close();
  await Promise.all([redis?.close(), slack?.close(), model?.close()]);
});

describe("the expiry sweep after an interrupted action", () => {
  it("shows an action that began executing as executing, never as expired, and audits the sweep", async () => {
    const interrupted = await cardFor("restart deployment/checkout -n shop");
    // A real change (the seeded frontend runs SEED.healthy.replicas): a scale that changes nothing is not proposed.
    const untouched = await cardFor(
      `scale deployment/${SEED.healthy.deployment} -n shop --replicas ${SEED.healthy.replicas + 1}`,
    );
    // What a crash mid-drain leaves behind: approved, begun, never finished.
    expect((await store.decide(interrupted.actionId, "approved", { kind: "slack", id: BOB })).ok).toBe(true);
    expect((await store.beginExecution(interrupted.actionId, "crashed-executor")).ok).toBe(true);

    const updated = await running.bot.slack.sweepExpiredCards(Date.now() + 16 * 60_000);
    expect(updated).toBe(2);

    const card = slack.messages.find((m) => m.ts === interrupted.card.ts)!;
    expect(JSON.stringify(card.blocks)).not.toContain(APPROVE_ACTION_ID);
    expect(JSON.stringify(card.blocks)).not.toContain("Expired");
    expect(JSON.stringify(card.blocks)).toContain("Approved, running");
    const said = botMessages(interrupted.thread).at(-1)!.text;
    expect(said).not.toContain("expired");
    expect(said).not.toContain("nothing was changed");
    expect(said).toContain("was approved and started executing, and has not reported an outcome yet");

    // An action nobody decided is still reported as expired with nothing changed.
    expect(botMessages(untouched.thread).at(-1)!.text).toContain(
      "expired without a decision; nothing was changed",
    );
    expect(JSON.stringify(slack.messages.find((m) => m.ts === untouched.card.ts)!.blocks)).toContain(
      "Expired without a decision",
    );

    const sweeps = running.audit.filter((record) => record.kind === "card_update");
    expect(
      sweeps.map((record) => [record.actionId, record.details?.actionState, record.details?.cardShows]),
    ).toEqual(
      expect.arrayContaining([
        [interrupted.actionId, "executing", "executing"],
        [untouched.actionId, "pending", "expired"],
      ]),
    );
    // The store was only read: the interrupted action is still executing, as it really is.
    expect((await store.get(interrupted.actionId))?.state).toBe("executing");
  });
});
