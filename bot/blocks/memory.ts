import type { types } from "@slack/bolt";
import {
  cannotProposeAgain,
  describeCause,
  describeChange,
  personOf,
  verdictOf,
  type FixRecord,
} from "../../core/memory/fix-record.ts";
import type { Recall } from "../../core/memory/fix-store.ts";
import { countsWords, fixOutcomeWords, shortDate } from "../memory/incident-memory.ts";
import { sanitizePlain } from "../sanitize.ts";

type KnownBlock = types.KnownBlock;

/** The button under a recalled fix; its value is the remembered fix's id, nothing else. */
export const PROPOSE_SAME_FIX_ACTION_ID = "deputy_propose_same_fix";
/** The button on a resolved alert (and wherever a timeline is offered). */
export const TIMELINE_ACTION_ID = "deputy_timeline";

/** A remembered record's names, made safe for Slack (they are names already; this is the belt). */
const safe = (text: string): string => sanitizePlain(text);

/** "Seen before on 3 Dec: the same cause on deployment shop/checkout was fixed by … — thread". */
export function recallLine(recall: Recall, now: number = Date.now()): string {
  const { fix, counts } = recall;
  const where = `${fix.workload.kind.toLowerCase()} ${fix.namespace}/${fix.workload.name}`;
  const cause = fix.cause ? "the same cause" : "a change";
  const verb = verdictOf(fix) === "worked" ? "was fixed by" : "was treated by";
  const approver = fix.approver ? `approved by ${personOf(fix.approver)}, ` : "";
  const thread = fix.thread.link ? ` — <${fix.thread.link}|thread>` : "";
  const first = `:brain: *Seen before* on ${shortDate(fix.ranAt, now)}: ${cause} on ${safe(where)} ${verb} ${safe(describeChange(fix.change))} (${approver}${safe(fixOutcomeWords(fix))})${thread}.`;
  const total = counts.worked + counts.undone + counts.stuck + counts.failed + counts.unverified;
  const tally =
    total > 1 || verdictOf(fix) !== "worked"
      ? ` This fix for this cause in ${safe(fix.namespace)}: ${countsWords(counts)}.`
      : "";
  const why = fix.cause ? ` Cause: ${safe(describeCause(fix.cause))}.` : "";
  return `${first}${tally}${why}`;
}

/** The recall line and, where the change can be proposed again, the button that does it. */
export function recallBlocks(recall: Recall, diagnosedKind: string, now: number = Date.now()): KnownBlock[] {
  const blocks: KnownBlock[] = [{ type: "section", text: { type: "mrkdwn", text: recallLine(recall, now) } }];
  if (cannotProposeAgain(recall.fix.change, diagnosedKind) !== undefined) return blocks;
  blocks.push({
    type: "actions",
    block_id: "deputy_memory",
    elements: [
      {
        type: "button",
        action_id: PROPOSE_SAME_FIX_ACTION_ID,
        text: { type: "plain_text", text: "Propose the same fix", emoji: true },
        // Only the remembered fix's id: what is proposed, and where, comes from Deputy's records.
        value: recall.fix.id,
        confirm: {
          title: { type: "plain_text", text: "Propose the same fix?" },
          text: {
            type: "plain_text",
            text: `${sanitizePlain(describeChange(recall.fix.change))}, proposed anew against the workload as it is now. An approver who is not you must approve it; nothing changes now.`.slice(
              0,
              300,
            ),
          },
          confirm: { type: "plain_text", text: "Propose" },
          deny: { type: "plain_text", text: "Cancel" },
        },
      },
    ],
  });
  return blocks;
}

/** `/deputy history`: one line per remembered fix, newest first. */
export function historyText(
  namespace: string,
  workload: string,
  fixes: readonly FixRecord[],
  retentionDays: number,
  now: number = Date.now(),
): string {
  if (fixes.length === 0)
    return `No fix is remembered for ${safe(`${namespace}/${workload}`)} (Deputy remembers verified fixes for ${retentionDays} days).`;
  const lines = fixes.slice(0, 30).map((fix) => {
    const cause = fix.cause ? safe(describeCause(fix.cause)) : "no diagnosis in its thread";
    const thread = fix.thread.link ? ` — <${fix.thread.link}|thread>` : "";
    return `• ${shortDate(fix.ranAt, now)}: ${safe(describeChange(fix.change))} for ${cause}; requested by ${personOf(fix.requester)}, approved by ${personOf(fix.approver)}; *${verdictOf(fix)}* (${safe(fixOutcomeWords(fix))})${thread}`;
  });
  const more = fixes.length > 30 ? `\n…and ${fixes.length - 30} earlier.` : "";
  return `*Remembered fixes for ${safe(`${namespace}/${workload}`)}* (newest first):\n${lines.join("\n")}${more}`;
}
