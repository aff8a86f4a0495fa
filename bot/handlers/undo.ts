import type { webApi } from "@slack/bolt";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { inverseOf } from "../../core/actions/follow-up.ts";
import { ACTION_ID_PATTERN } from "../../core/actions/schema.ts";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import { callerMeta } from "../../core/actions/meta.ts";
import { pendingActionOf } from "../agent/run-agent-turn.ts";
import { mentionIdentity } from "../blocks/approval-card.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";
import { postApprovalCard } from "./thread-replies.ts";

export interface UndoClick {
  actionId: string;
  user: Identity;
  channel: string;
  messageTs: string;
  threadTs: string | undefined;
  /** Identifies this click; a replayed payload carries the same one. */
  clickKey: string;
}

/**
 * Undo on an executed action's card: the inverse, computed from the stored
 * and verified action (never from the button), is proposed through the same
 * MCP write tool the agent would call, with the person who clicked as the
 * requester. It becomes a new pending action with its own card: the same
 * guardrails, approvers and two-person rule; nothing is written here.
 */
export async function handleUndoClick(
  services: BotServices,
  client: webApi.WebClient,
  click: UndoClick,
): Promise<void> {
  const log = services.logger.child({ undoOf: click.actionId, user: click.user });
  const thread = click.threadTs ?? click.messageTs;
  const ephemeral = (text: string): Promise<unknown> =>
    client.chat.postEphemeral({ channel: click.channel, user: click.user.id, text, thread_ts: thread });

  if (!ACTION_ID_PATTERN.test(click.actionId)) {
    await ephemeral("This button does not carry a valid Deputy action id; nothing was proposed.");
    return;
  }
  if (!(await services.deduper.claim("interaction", click.clickKey))) return;
  // Whoever clicks becomes the requester of the inverse: the rules of a question here apply,
  // and a click proves no membership (a public channel's cards can be clicked without joining).
  const clicked: ConversationRef = {
    surface: "slack",
    ...(click.user.teamId ? { teamId: click.user.teamId } : {}),
    channel: click.channel,
    thread,
  };
  // Slack shows a direct message only to its owner: a click there is theirs.
  const refusal = await services.access.memberRefusal(click.user, clicked, click.user);
  if (refusal) {
    await ephemeral(`:no_entry: ${sanitizePlain(refusal)}`);
    return;
  }

  let action;
  try {
    action = await services.actions.get(click.actionId);
  } catch (error) {
    log.error({ err: describeError(error) }, "undo refused: stored action unusable");
    await ephemeral(sanitizePlain(`I cannot undo ${click.actionId}: ${describeError(error)}`));
    return;
  }
  if (!action) {
    await ephemeral(`Action ${click.actionId} is no longer stored, so I cannot tell what to put back.`);
    return;
  }
  const conversation: ConversationRef =
    action.conversation?.surface === "slack"
      ? action.conversation
      : { surface: "slack", teamId: click.user.teamId, channel: click.channel, thread };
  // The undo is proposed and its card posted in the action's own conversation: its rules decide
  // too, before anything about the action is said to someone who may not see that channel.
  if (conversation.channel !== click.channel) {
    const elsewhere = await services.access.memberRefusal(click.user, conversation, action.requester);
    if (elsewhere) {
      await ephemeral(`:no_entry: ${sanitizePlain(elsewhere)}`);
      return;
    }
  }
  const inverse = inverseOf(action);
  if (!inverse) {
    await ephemeral(
      sanitizePlain(
        `${action.tool} on ${action.target.name} is ${action.state}; there is no undo Deputy can propose for it.`,
      ),
    );
    return;
  }
  // The undo is proposed in the cluster the action ran in, through that cluster's MCP server.
  const cluster = services.clusters.ofAction(action.cluster);
  if (!cluster) {
    await ephemeral(
      sanitizePlain(
        `${action.id} ran in cluster ${action.cluster}, which is not served here; nothing was proposed.`,
      ),
    );
    return;
  }

  let result: CallToolResult;
  try {
    result = (await cluster.mcp.callTool(
      {
        name: inverse.tool,
        arguments: inverse.arguments,
        _meta: callerMeta({
          requester: click.user,
          conversation,
          prompt: `Undo of ${action.id}`,
          reason: `${inverse.summary} (undo of ${action.id})`,
        }),
      },
      undefined,
      { timeout: 60_000 },
    )) as CallToolResult;
  } catch (error) {
    log.error({ err: describeError(error) }, "undo proposal failed");
    await ephemeral(sanitizePlain(`I could not propose the undo: ${describeError(error)}`));
    return;
  }
  const pending = pendingActionOf(result);
  if (!pending) {
    // A guardrail or a changed object: the tool's own sentence says why.
    const why = result.content.map((item) => (item.type === "text" ? item.text : "")).join(" ");
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: sanitizePlain(`:warning: The undo of ${action.id} was not proposed: ${why}`.slice(0, 2900)),
    });
    return;
  }
  log.info({ undo: pending.id }, "undo proposed");
  // When this undo runs, the fix it undoes is remembered as undone.
  await services.memory?.fixes
    .noteUndo(cluster.name, pending.id, action.id)
    .catch((error: unknown) => log.warn({ err: describeError(error) }, "could not note the undo"));
  await client.chat.postMessage({
    channel: conversation.channel,
    thread_ts: conversation.thread,
    text: `${mentionIdentity(click.user)} asked to undo \`${action.id}\`: ${sanitizePlain(inverse.summary)}`,
  });
  await postApprovalCard(services, client, conversation, pending, cluster.name);
}
