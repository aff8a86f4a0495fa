import type { webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import type { PendingActionRef } from "../../core/actions/schema.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { errorBlocks } from "../blocks/answer.ts";
import { approvalCardBlocks, approvalCardText } from "../blocks/approval-card.ts";
import { cardPolicyFor } from "../approvers.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";
import { noteInThread } from "../memory/incident-memory.ts";
import type { StatusMessage } from "../status-message.ts";

/**
 * What a question in a thread is, and the replies every handler of one may
 * post there: the approval card of a proposed action, or a sentence saying
 * what went wrong. Questions, direct commands and undo all use these.
 */

export interface Question {
  requester: Identity;
  conversation: ConversationRef;
  /** Plain text of the question (bot mention removed). */
  text: string;
  /** Set for /deputy: usage errors are shown instead of asking the model. */
  strictCommands?: boolean;
  /** Text Deputy composed (an outcome, a fenced subject): never a command, never counted as user-given text. */
  fromDeputy?: boolean;
  /** The cluster a question Deputy composed is about (an outcome names its action's cluster). */
  aboutCluster?: string;
}

/**
 * Post an approval card in the conversation's thread, rendered from the
 * stored action (its MAC verified), never from the tool result that named it:
 * the card shows exactly what the executor will run.
 */
export async function postApprovalCard(
  services: BotServices,
  client: webApi.WebClient,
  conversation: ConversationRef,
  ref: PendingActionRef,
  /** The cluster whose MCP server proposed it: a card is posted only for an action of that cluster. */
  cluster: string,
): Promise<void> {
  let problem: string | undefined;
  const action = await services.actions.get(ref.id).catch((error: unknown) => {
    problem = describeError(error);
    return undefined;
  });
  // With several clusters, a card only for an action of the cluster whose MCP server proposed it
  // (with one, that cluster's executor refuses any other cluster's action itself).
  const crossCluster = services.clusters.all.length > 1 && action !== undefined && action.cluster !== cluster;
  if (crossCluster) {
    // One cluster's MCP server cannot put a card for another cluster's action in front of an approver.
    problem = `it names cluster ${action.cluster} but was proposed through cluster ${cluster}'s MCP server`;
    services.audit?.record({
      kind: "anomaly",
      rule: "action-wrong-cluster",
      decision: "refused",
      actionId: ref.id,
      cluster,
      message: `Action ${ref.id} names cluster ${action.cluster} but came from cluster ${cluster}'s MCP server; no card was posted`,
    });
  }
  if (!action || action.digest !== ref.digest || crossCluster) {
    services.logger.error({ actionId: ref.id, problem }, "approval card not posted: stored action unusable");
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text: sanitizePlain(
        `I could not show the approval card for ${ref.id}: ${problem ?? "the stored action is missing or differs from what was proposed"}. It cannot be approved; ask again to propose it anew.`,
      ),
    });
    return;
  }
  const posted = await client.chat.postMessage({
    channel: conversation.channel,
    thread_ts: conversation.thread,
    text: approvalCardText(action),
    blocks: approvalCardBlocks(action, approvalViewOf(action), {
      approverMention: services.approverMention,
      nameCluster: services.clusters.all.length > 1,
      policy: await cardPolicyFor(services.approvalPolicy, action),
    }),
    unfurl_links: false,
    unfurl_media: false,
  });
  await noteInThread(services, conversation, {
    kind: "proposal",
    action: action.id,
    tool: action.tool,
    cluster: action.cluster,
  });
  if (posted.ts) {
    await services.cards
      .remember({ action: ref, channel: conversation.channel, ts: posted.ts, conversation })
      .catch((error: unknown) =>
        services.logger.warn({ err: describeError(error) }, "could not track the card"),
      );
  }
}

/** Post a plain sentence in the thread, replacing the status message if there is one. */
export async function reportError(
  client: webApi.WebClient,
  conversation: ConversationRef,
  status: StatusMessage | undefined,
  sentence: string,
): Promise<void> {
  const blocks = errorBlocks(sentence);
  const text = sanitizePlain(sentence);
  if (status?.ts) {
    await status.flush();
    await client.chat.update({ channel: conversation.channel, ts: status.ts, text, blocks });
  } else {
    await client.chat.postMessage({
      channel: conversation.channel,
      thread_ts: conversation.thread,
      text,
      blocks,
    });
  }
}
