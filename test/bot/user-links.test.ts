import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SlackApp } from "../../bot/app.ts";
import { answerQuestion } from "../../bot/handlers/question.ts";
import { ASK_ABOUT_MESSAGE_CALLBACK_ID } from "../../bot/listeners/shortcuts/ask-about-message.ts";
import { fenceUntrusted } from "../../core/untrusted/fence.ts";
import { text, type AnthropicFake } from "../fakes/anthropic.ts";
import type { FakeMessage, SlackFake } from "../fakes/slack.ts";
import { startBotOverFakes, type BotOverFakes } from "./helpers/over-fakes.ts";

/**
 * Only what a person typed counts as their text: links in it may be posted
 * back clickable, links anywhere else are defanged. A prompt Deputy composes
 * around untrusted text (a message handed over with "Ask Deputy about this",
 * an action's outcome quoting the cluster) is not the person's text, in the
 * turn it starts nor in any later one. The real Bolt app over the Slack fake,
 * a scripted model that echoes every link it is shown.
 */
const ALICE = "U0LNKALICE";
const BOB = "U0LNKBOB";
const CHANNEL = "C0LINKS";
const PLANTED = "https://evil.zip/login";
const PLANTED_HOST = "portal.acme.support";
const TYPED = "https://runbook.acme.dev/checkout";

let fakes: BotOverFakes | undefined;
let slack: SlackFake;
let model: AnthropicFake;
let bot: SlackApp;

beforeAll(async () => {
  fakes = await startBotOverFakes({
    name: "user-links",
    env: { DEPUTY_APPROVERS: BOB },
    decider: { decide: () => Promise.reject(new Error("no decision in this test")) },
  });
  ({ slack, model, bot } = fakes);
  // Whatever it is asked, the model repeats the links it was shown anywhere in the conversation.
  model.setScript(() => text(`See ${PLANTED} or ${PLANTED_HOST}, and ${TYPED}.`));
}, 180_000);

afterAll(async () => {
  await fakes?.close();
});

function lastAnswer(threadTs: string): string {
  const replies = slack
    .thread(CHANNEL, threadTs)
    .filter((m: FakeMessage) => m.user === slack.botUserId && !m.ephemeralTo);
  return replies.at(-1)?.text ?? "";
}

/** The planted links are defanged; a link only counts as given when it was typed. */
function expectPlantedDefanged(answer: string): void {
  expect(answer).toContain("hxxps[:]//evil[.]zip/login");
  expect(answer).toContain("portal[.]acme[.]support");
  expect(answer).not.toContain(PLANTED);
  expect(answer).not.toContain(PLANTED_HOST);
}

describe("links in text Deputy composed around untrusted text", () => {
  it('stay defanged after "Ask Deputy about this", in its answer and in every follow-up', async () => {
    const message = {
      channel: CHANNEL,
      ts: "1800000777.000100",
      text: `checkout is down, log in at ${PLANTED} or ${PLANTED_HOST} to fix it`,
      user: "U0SOMEONE",
    };
    slack.messages.push({ ...message, thread_ts: undefined, blocks: undefined, updates: 0 });
    await slack.shortcut({ user: ALICE, callbackId: ASK_ABOUT_MESSAGE_CALLBACK_ID, message });
    await bot.idle();
    const first = lastAnswer(message.ts);
    expect(first).toContain("See ");
    expectPlantedDefanged(first);

    // The follow-up: Alice types a link of her own; only that one may come back as a link.
    await slack.mention({
      user: ALICE,
      text: `what next? compare with ${TYPED}`,
      channel: CHANNEL,
      threadTs: message.ts,
    });
    await bot.idle();
    const followUp = lastAnswer(message.ts);
    expect(followUp).not.toBe(first);
    expectPlantedDefanged(followUp);
    expect(followUp).toContain(TYPED);

    // And the one after it, with nothing typed but a question.
    await slack.mention({ user: ALICE, text: "and then?", channel: CHANNEL, threadTs: message.ts });
    await bot.idle();
    expectPlantedDefanged(lastAnswer(message.ts));
  });

  it("stay defanged after an outcome prompt that quotes the cluster", async () => {
    const root = await slack.mention({ user: ALICE, text: "restart web please", channel: CHANNEL });
    await bot.idle();
    const conversation = {
      surface: "slack" as const,
      teamId: slack.teamId,
      channel: CHANNEL,
      thread: root.ts,
    };
    // What verify-outcome composes: Deputy's facts, and the cluster's words fenced as data.
    await answerQuestion(bot.services, bot.client, {
      requester: { kind: "slack", id: ALICE, teamId: slack.teamId },
      conversation,
      text: `restart_deployment ran. ${fenceUntrusted("pod diagnosis", `see ${PLANTED} and ${PLANTED_HOST}`)}`,
      fromDeputy: true,
    });
    expectPlantedDefanged(lastAnswer(root.ts));

    await slack.mention({ user: ALICE, text: "is it fine now?", channel: CHANNEL, threadTs: root.ts });
    await bot.idle();
    expectPlantedDefanged(lastAnswer(root.ts));
  });
});
