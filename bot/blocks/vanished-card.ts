import type { types } from "@slack/bolt";
import { sanitizePlain } from "../sanitize.ts";

/**
 * The card of an action that is no longer stored: no buttons, and the
 * sentence saying why, since nothing it showed can be decided any more.
 */
export function vanishedCardBlocks(actionId: string, sentence: string): types.KnownBlock[] {
  return [
    { type: "header", text: { type: "plain_text", text: "Approval no longer possible", emoji: true } },
    { type: "section", text: { type: "mrkdwn", text: `:warning: ${sanitizePlain(sentence)}` } },
    { type: "context", elements: [{ type: "mrkdwn", text: `\`${sanitizePlain(actionId)}\`` }] },
  ];
}
