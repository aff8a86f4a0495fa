import type { types } from "@slack/bolt";
import { sanitizePlain, splitForSlack } from "../sanitize.ts";

type KnownBlock = types.KnownBlock;

/**
 * The agent's answer, already sanitised, as one or more messages of section
 * blocks (Slack caps a section at 3000 characters and a message at 50 blocks).
 */
export function answerMessages(sanitizedText: string, footer?: string): KnownBlock[][] {
  const chunks = splitForSlack(sanitizedText.trim() || "_(no answer)_");
  const messages: KnownBlock[][] = [];
  for (let i = 0; i < chunks.length; i += 20) {
    messages.push(
      chunks.slice(i, i + 20).map((chunk) => ({ type: "section", text: { type: "mrkdwn", text: chunk } })),
    );
  }
  if (footer)
    messages.at(-1)!.push({ type: "context", elements: [{ type: "mrkdwn", text: sanitizePlain(footer) }] });
  return messages;
}

/** A plain-sentence error for the thread: never silence. */
export function errorBlocks(sentence: string): KnownBlock[] {
  return [{ type: "section", text: { type: "mrkdwn", text: `:warning: ${sanitizePlain(sentence)}` } }];
}
