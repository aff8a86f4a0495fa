import type { BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { Decision } from "../../../core/actions/schema.ts";
import { parseDecisionValue } from "../../blocks/approval-card.ts";
import type { DecisionClick } from "../../handlers/decision.ts";

/** The facts of an Approve/Reject click, taken from Slack's payload (never from the card's text). */
export function clickFrom(
  args: SlackActionMiddlewareArgs<BlockAction<ButtonAction>>,
  decision: Decision,
): DecisionClick | undefined {
  const { body, action } = args;
  const channel = body.channel?.id ?? body.container?.channel_id;
  const messageTs = body.message?.ts ?? body.container?.message_ts;
  if (!channel || !messageTs) return undefined;
  const teamId = body.user.team_id ?? body.team?.id;
  const { actionId, digest } = parseDecisionValue(action.value ?? "");
  return {
    decision,
    actionId,
    digest,
    approver: { kind: "slack", id: body.user.id, ...(teamId ? { teamId } : {}) },
    channel,
    messageTs,
    threadTs: (body.message?.thread_ts as string | undefined) ?? body.container?.thread_ts,
    // The same user clicking the same button at the same instant is one click; a replay repeats all three.
    clickKey: `${body.user.id}:${action.action_id}:${action.value ?? ""}:${action.action_ts}`,
  };
}
