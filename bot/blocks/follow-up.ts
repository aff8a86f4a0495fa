import type { types } from "@slack/bolt";
import type { InverseProposal } from "../../core/actions/action-type.ts";
import { sanitizePlain } from "../sanitize.ts";

type KnownBlock = types.KnownBlock;

/** What happened after a run: the verified effect, and the undo the card offers. */
export const UNDO_ACTION_ID = "deputy_undo";

export interface Verification {
  status: "verified" | "not_verified" | "unknown";
  /** One plain sentence, Deputy's own words; cluster text in it is sanitised here. */
  message: string;
  /** Seconds from the run to the verdict. */
  seconds: number;
}

const VERIFICATION_ICONS: Record<Verification["status"], string> = {
  verified: ":white_check_mark: *Verified*",
  not_verified: ":warning: *Not verified*",
  unknown: ":grey_question: *Could not verify*",
};

export function verificationLine(verification: Verification): string {
  return `${VERIFICATION_ICONS[verification.status]} (${verification.seconds} s after the run): ${sanitizePlain(verification.message).slice(0, 1500)}`;
}

/** The card's tail after a run: the verdict (or that it is being watched) and the Undo button. */
export function followUpBlocks(options: {
  actionId: string;
  verification: Verification | "watching" | undefined;
  inverse: InverseProposal | undefined;
}): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  if (options.verification === "watching") {
    blocks.push({
      type: "context",
      elements: [{ type: "mrkdwn", text: ":eyes: Watching the effect with the read-only identity…" }],
    });
  } else if (options.verification) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: verificationLine(options.verification) } });
  }
  if (options.inverse) {
    blocks.push({
      type: "actions",
      block_id: "deputy_follow_up",
      elements: [
        {
          type: "button",
          action_id: UNDO_ACTION_ID,
          text: { type: "plain_text", text: "Undo", emoji: true },
          // Only the id: the inverse is computed again from the stored, verified action.
          value: options.actionId,
          confirm: {
            title: { type: "plain_text", text: "Propose the undo?" },
            text: {
              type: "plain_text",
              text: `${sanitizePlain(options.inverse.summary)} This proposes a new change that an approver must approve; nothing changes now.`.slice(
                0,
                300,
              ),
            },
            confirm: { type: "plain_text", text: "Propose undo" },
            deny: { type: "plain_text", text: "Cancel" },
          },
        },
      ],
    });
  }
  return blocks;
}
