import { APPROVE_ACTION_ID } from "../../../bot/blocks/approval-card.ts";
import type { FakeMessage, SlackFake } from "../../fakes/slack.ts";

/** A button of a message, as Block Kit sends it. */
export interface Button {
  action_id?: string;
  value?: string;
}

/** What the bot has posted in one channel's threads, read from the Slack fake. */
export interface ThreadReader {
  /** The bot's replies in a thread that everyone in the channel sees (no ephemeral ones). */
  botReplies(threadTs: string): FakeMessage[];
  /** The approval cards among them (their blocks name an action id). */
  cardsIn(threadTs: string): FakeMessage[];
  /** A message as it stands now, after any updates. */
  current(message: FakeMessage): FakeMessage;
}

/**
 * Reads `channel` of whichever Slack fake `slack()` returns at the time of the
 * call, so a test file can hold the readers before its fake is started.
 */
export function threadReader(slack: () => SlackFake, channel: string): ThreadReader {
  const botReplies = (threadTs: string): FakeMessage[] =>
    slack()
      .thread(channel, threadTs)
      .filter((m) => m.user === slack().botUserId && !m.ephemeralTo);
  return {
    botReplies,
    cardsIn: (threadTs) =>
      botReplies(threadTs).filter((m) => JSON.stringify(m.blocks ?? []).includes('"act_')),
    current: (message) => slack().messages.find((m) => m.ts === message.ts && m.channel === message.channel)!,
  };
}

/** The buttons of a message's action blocks. */
export function buttonsOf(message: FakeMessage): Button[] {
  return ((message.blocks ?? []) as { type: string; elements?: Button[] }[])
    .filter((block) => block.type === "actions")
    .flatMap((block) => block.elements ?? []);
}

/** The pending action an approval card's Approve button decides. */
export function actionIdOf(card: FakeMessage): string {
  return buttonsOf(card)
    .find((b) => b.action_id === APPROVE_ACTION_ID)!
    .value!.split("|")[0]!;
}
