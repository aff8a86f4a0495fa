import type { webApi } from "@slack/bolt";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { ACTION_ID_PATTERN } from "../../core/actions/schema.ts";
import { callerMeta } from "../../core/actions/meta.ts";
import { describeError } from "../../core/errors.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import {
  cannotProposeAgain,
  describeChange,
  proposalInput,
  type FixRecord,
} from "../../core/memory/fix-record.ts";
import { pendingActionOf } from "../agent/run-agent-turn.ts";
import { mentionIdentity } from "../blocks/approval-card.ts";
import { namespaceInScope } from "../memory/incident-memory.ts";
import { sanitizePlain } from "../sanitize.ts";
import { postApprovalCard } from "./thread-replies.ts";

/** The bot's services as the card poster takes them (passed in by the listener). */
type Services = Parameters<typeof postApprovalCard>[0];

export interface ProposeSameFixClick {
  /** The button's value: a remembered fix's action id. */
  fixId: string;
  user: Identity;
  channel: string;
  messageTs: string;
  threadTs: string | undefined;
  clickKey: string;
}

/**
 * "Propose the same fix" under a recalled fix: the remembered change is
 * proposed again, as a new pending action, through the same MCP write tool
 * the agent would call, against the workload diagnosed in this thread as it
 * is now (the tool reads the live object and the API server's dry run), with
 * the person who clicked as the requester. The same guardrails, approvers and
 * two-person rule apply; nothing is written here. What is proposed, and on
 * which workload, comes from Deputy's own records of this thread (a
 * diagnosis there that the fix matches) and of the fix, never from the button.
 */
export async function handleProposeSameFix(
  services: Services,
  client: webApi.WebClient,
  click: ProposeSameFixClick,
): Promise<void> {
  const thread = click.threadTs ?? click.messageTs;
  const log = services.logger.child({ sameFixAs: click.fixId, user: click.user });
  const ephemeral = (text: string): Promise<unknown> =>
    client.chat.postEphemeral({ channel: click.channel, user: click.user.id, text, thread_ts: thread });

  if (!ACTION_ID_PATTERN.test(click.fixId)) {
    await ephemeral("This button does not carry a valid remembered fix; nothing was proposed.");
    return;
  }
  if (!(await services.deduper.claim("interaction", click.clickKey))) return;
  const conversation: ConversationRef = {
    surface: "slack",
    ...(click.user.teamId ? { teamId: click.user.teamId } : {}),
    channel: click.channel,
    thread,
  };
  // Whoever clicks becomes the requester: the rules of a question here, and channel membership.
  const refusal = await services.access.memberRefusal(click.user, conversation, click.user);
  if (refusal) {
    await ephemeral(`:no_entry: ${sanitizePlain(refusal)}`);
    return;
  }
  const memory = services.memory;
  if (!memory) {
    await ephemeral("Deputy's memory of fixes is turned off here; nothing was proposed.");
    return;
  }
  try {
    // The fix must match a diagnosis made in this thread (its cluster, namespace and cause): the
    // latest such diagnosis names the workload the same fix is proposed on.
    const entries = await memory.journal.read({ channel: click.channel, thread });
    const diagnoses = entries.filter((entry) => entry.kind === "diagnosis").reverse();
    let recalled: { cluster: string; namespace: string; workload: string; kind: string } | undefined;
    let fix: FixRecord | undefined;
    for (const diagnosis of diagnoses) {
      const candidate = await memory.fixes.get(diagnosis.cluster, click.fixId);
      if (
        candidate?.cause &&
        candidate.namespace === diagnosis.namespace &&
        diagnosis.causes.some((cause) => cause.key === candidate.cause?.key)
      ) {
        fix = candidate;
        recalled = {
          cluster: diagnosis.cluster,
          namespace: diagnosis.namespace,
          workload: diagnosis.workload.name,
          kind: diagnosis.workload.kind,
        };
        break;
      }
    }
    if (!fix || !recalled) {
      await ephemeral(
        "That fix matches no diagnosis made in this thread (or is no longer remembered), so I do not propose it here.",
      );
      return;
    }
    if (!namespaceInScope(services, conversation, recalled.namespace)) {
      await ephemeral(
        sanitizePlain(
          `Namespace ${recalled.namespace} is outside this conversation's scope; nothing was proposed.`,
        ),
      );
      return;
    }
    const why = cannotProposeAgain(fix.change, recalled.kind);
    if (why) {
      await ephemeral(
        sanitizePlain(`I cannot propose that fix again: ${why}. Ask me in the thread instead.`),
      );
      return;
    }
    const cluster = services.clusters.get(recalled.cluster) ?? services.clusters.ofAction(recalled.cluster);
    if (!cluster || cluster.name !== recalled.cluster) {
      await ephemeral(sanitizePlain(`Cluster ${recalled.cluster} is not served here; nothing was proposed.`));
      return;
    }
    const summary = `The same fix as ${fix.id}: ${describeChange(fix.change)} on Deployment ${recalled.namespace}/${recalled.workload}`;
    let result: CallToolResult;
    try {
      result = (await cluster.mcp.callTool(
        {
          name: fix.change.tool,
          arguments: proposalInput(fix.change, { namespace: recalled.namespace, name: recalled.workload }),
          _meta: callerMeta({
            requester: click.user,
            conversation,
            prompt: `Propose the same fix as ${fix.id}`,
            reason: `${summary} (remembered fix, verified ${fix.result}).`,
          }),
        },
        undefined,
        { timeout: 60_000 },
      )) as CallToolResult;
    } catch (error) {
      log.error({ err: describeError(error) }, "same-fix proposal failed");
      await ephemeral(sanitizePlain(`I could not propose the same fix: ${describeError(error)}`));
      return;
    }
    const pending = pendingActionOf(result);
    if (!pending) {
      // A guardrail, or the change no longer applies to the object as it is: the tool says why.
      const problem = result.content.map((item) => (item.type === "text" ? item.text : "")).join(" ");
      await client.chat.postMessage({
        channel: click.channel,
        thread_ts: thread,
        text: sanitizePlain(
          `:warning: The same fix as ${fix.id} was not proposed: ${problem}`.slice(0, 2900),
        ),
      });
      return;
    }
    log.info({ proposed: pending.id }, "same fix proposed");
    await client.chat.postMessage({
      channel: click.channel,
      thread_ts: thread,
      text: `${mentionIdentity(click.user)} asked to propose the same fix again: ${sanitizePlain(summary)}.`,
    });
    await postApprovalCard(services, client, conversation, pending, cluster.name);
  } catch (error) {
    log.error({ err: describeError(error) }, "same-fix click failed");
    await ephemeral(sanitizePlain(`Something went wrong: ${describeError(error)}. Nothing was proposed.`));
  }
}
