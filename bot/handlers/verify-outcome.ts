import type { webApi } from "@slack/bolt";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ExpectedEffect } from "../../core/actions/action-type.ts";
import { describeTarget } from "../../core/actions/action-type.ts";
import { effectOf, inverseOf } from "../../core/actions/follow-up.ts";
import type { ApprovalProgress, PendingAction } from "../../core/actions/schema.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { describeError } from "../../core/errors.ts";
import {
  fenceUntrusted,
  neutraliseFenceTags,
  outcomeCloseTag,
  outcomeOpenTag,
  outsideFences,
} from "../../core/untrusted/fence.ts";
import type { ConversationRef } from "../../core/identity/identity.ts";
import { META_KEYS } from "../../core/actions/meta.ts";
import { approvalContext, decidedCardBlocks } from "../blocks/approval-card.ts";
import { followUpBlocks, verificationLine, type Verification } from "../blocks/follow-up.ts";
import type { BotServices, FollowUpSettings } from "../deps.ts";
import { answerQuestion } from "./question.ts";
import { noteInThread, rememberOutcome, type Verdict } from "../memory/incident-memory.ts";

/**
 * After an approved action ran, watch what it should have caused — a rollout
 * complete, replicas reached, a pod replaced, a node (un)cordoned or drained —
 * through Deputy's MCP read tools, i.e. with the read-only identity: the
 * executor holds no standing credential to look with, and the bot has no
 * cluster access of its own. The verdict updates the card, is posted in the
 * thread, and resumes the agent with the outcome as Deputy's own facts.
 */

interface Observation {
  /**
   * True: the effect is there; false: it is not (yet); "stuck": it will not
   * come without help; "unreadable": the read itself is refused, so waiting
   * cannot tell.
   */
  done: boolean | "stuck" | "unreadable";
  message: string;
  /** Cluster-derived text (a diagnosis line): shown sanitised, handed to the agent fenced. */
  cause?: string;
}

async function read(
  mcp: Client,
  tool: string,
  args: Record<string, unknown>,
  conversation?: ConversationRef,
) {
  const result = (await mcp.callTool(
    {
      name: tool,
      arguments: args,
      ...(conversation ? { _meta: { [META_KEYS.conversation]: conversation } } : {}),
    },
    undefined,
    { timeout: 30_000 },
  )) as CallToolResult;
  const text = result.content.map((item) => (item.type === "text" ? item.text : "")).join("\n");
  return {
    isError: result.isError === true,
    /** Deputy's own first line (outside any fence of cluster text). */
    firstLine: outsideFences(text).trim().split("\n")[0] ?? "",
    structured: (result.structuredContent ?? {}) as Record<string, unknown>,
  };
}

const num = (value: unknown): number => (typeof value === "number" ? value : 0);

/** One look at the cluster for the effect. */
export async function observeEffect(
  mcp: Client,
  effect: ExpectedEffect,
  conversation?: ConversationRef,
): Promise<Observation> {
  switch (effect.kind) {
    case "rollout": {
      const what = `Deployment ${effect.namespace}/${effect.name}`;
      const got = await read(
        mcp,
        "describe_deployment",
        { namespace: effect.namespace, name: effect.name },
        conversation,
      );
      if (got.isError) return { done: "unreadable", message: `${what} could not be read: ${got.firstLine}` };
      const s = got.structured;
      const counts = `${num(s.availableReplicas)} of ${num(s.replicas)} replica(s) available, ${num(s.updatedReplicas)} updated`;
      const status = got.firstLine.replace(/^Deployment [^:]+: /, "").replace(/\.$/, "");
      if (/^Rollout stuck/i.test(status))
        return { done: "stuck", message: `${what}: ${status} (${counts}).` };
      const reached = effect.replicas === undefined || num(s.replicas) === effect.replicas;
      if (s.rolloutComplete === true && reached) {
        return {
          done: true,
          message: `${what}: rollout complete, ${counts}${typeof s.revision === "string" ? ` (revision ${s.revision})` : ""}.`,
        };
      }
      return { done: false, message: `${what}: ${status} (${counts}).` };
    }
    case "pod-replaced": {
      const what = `Pod ${effect.namespace}/${effect.name}`;
      const got = await read(
        mcp,
        "describe_pod",
        { namespace: effect.namespace, pod: effect.name },
        conversation,
      );
      if (got.isError) return replacementOf(mcp, effect, conversation);
      if (effect.uid && got.structured.uid !== effect.uid) {
        // A replacement that is not running yet (Pending, crash-looping) is not the effect.
        const status = String(got.structured.status ?? "?");
        return status === "Running"
          ? { done: true, message: `${what} was replaced by a new pod of the same name (status Running).` }
          : {
              done: false,
              message: `${what} was replaced by a new pod of the same name, not running yet (status ${status}).`,
            };
      }
      return {
        done: false,
        message: `${what} is still there (status ${String(got.structured.status ?? "?")}).`,
      };
    }
    case "node-schedulable": {
      const got = await read(mcp, "troubleshoot_node", { name: effect.name }, conversation);
      if (got.isError)
        return { done: "unreadable", message: `Node ${effect.name} could not be read: ${got.firstLine}` };
      const findings = Array.isArray(got.structured.findings)
        ? (got.structured.findings as { rule?: unknown }[])
        : [];
      const cordoned = findings.some((finding) => finding.rule === "cordoned");
      return cordoned === effect.unschedulable
        ? {
            done: true,
            message: `Node ${effect.name} is ${cordoned ? "cordoned: no new pods are scheduled on it" : "schedulable again"}.`,
          }
        : { done: false, message: `Node ${effect.name} is still ${cordoned ? "cordoned" : "schedulable"}.` };
    }
    case "node-drained": {
      const got = await read(
        mcp,
        "list_pods",
        { fieldSelector: `spec.nodeName=${effect.name}`, limit: 500 },
        conversation,
      );
      if (got.isError)
        return {
          done: "unreadable",
          message: `Pods on node ${effect.name} could not be listed: ${got.firstLine}`,
        };
      const pods = Array.isArray(got.structured.pods)
        ? (got.structured.pods as { namespace?: unknown; name?: unknown }[])
        : [];
      const present = new Set(pods.map((pod) => `${String(pod.namespace)}/${String(pod.name)}`));
      const remaining = effect.pods.filter((pod) => present.has(pod));
      return remaining.length === 0
        ? {
            done: true,
            message: `Node ${effect.name} is drained: the ${effect.pods.length} evicted pod(s) are gone from it.`,
          }
        : {
            done: false,
            message: `${remaining.length} evicted pod(s) are still on node ${effect.name}: ${remaining.slice(0, 10).join(", ")}.`,
          };
    }
  }
}

/** An evicted pod is gone: its controller's new pod, running, is the effect. */
async function replacementOf(
  mcp: Client,
  effect: Extract<ExpectedEffect, { kind: "pod-replaced" }>,
  conversation?: ConversationRef,
): Promise<Observation> {
  const what = `Pod ${effect.namespace}/${effect.name}`;
  // An action proposed before replacements were looked for: only that the pod is gone.
  if (!effect.labelSelector) return { done: true, message: `${what} is gone; its controller replaces it.` };
  const by = effect.owner ?? "its controller";
  const got = await read(
    mcp,
    "list_pods",
    { namespace: effect.namespace, labelSelector: effect.labelSelector, limit: 500 },
    conversation,
  );
  if (got.isError)
    return {
      done: "unreadable",
      message: `${what} is gone; the pods of ${by} could not be listed: ${got.firstLine}`,
    };
  const before = new Set([effect.name, ...(effect.siblings ?? [])]);
  const fresh = (
    Array.isArray(got.structured.pods) ? (got.structured.pods as { name?: unknown; status?: unknown }[]) : []
  )
    .map((pod) => ({ name: String(pod.name), status: String(pod.status ?? "?") }))
    .filter((pod) => !before.has(pod.name));
  const running = fresh.find((pod) => pod.status === "Running");
  if (running)
    return {
      done: true,
      message: `${what} is gone; ${by} replaced it with pod ${running.name} (status Running).`,
    };
  return fresh[0]
    ? {
        done: false,
        message: `${what} is gone; its replacement ${fresh[0].name} is not running yet (status ${fresh[0].status}).`,
      }
    : { done: false, message: `${what} is gone; ${by} has no new pod yet.` };
}

/** Watch until the effect is there, stuck, or the deadline passes. */
export async function watchEffect(
  mcp: Client,
  effect: ExpectedEffect,
  settings: FollowUpSettings,
  conversation?: ConversationRef,
): Promise<Verification & { cause?: string }> {
  const started = Date.now();
  const seconds = (): number => Math.round((Date.now() - started) / 1000);
  let last: Observation | undefined;
  for (;;) {
    try {
      last = await observeEffect(mcp, effect, conversation);
    } catch (error) {
      last = { done: false, message: `The read failed: ${describeError(error)}` };
    }
    if (last.done === true) return { status: "verified", message: last.message, seconds: seconds() };
    if (last.done === "unreadable") return { status: "unknown", message: last.message, seconds: seconds() };
    if (last.done === "stuck" || Date.now() - started + settings.intervalMs > settings.timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, settings.intervalMs));
  }
  const cause = effect.kind === "rollout" ? await rolloutCause(mcp, effect, conversation) : undefined;
  return {
    status: "not_verified",
    message:
      last.done === "stuck"
        ? last.message
        : `Not reached within ${Math.round(settings.timeoutMs / 1000)} s. Last seen: ${last.message}`,
    seconds: seconds(),
    ...(cause ? { cause } : {}),
  };
}

/** Why a rollout is not finishing: the first line of the pods' diagnosis (it names the cause). */
async function rolloutCause(
  mcp: Client,
  effect: Extract<ExpectedEffect, { kind: "rollout" }>,
  conversation?: ConversationRef,
): Promise<string | undefined> {
  try {
    const got = await read(
      mcp,
      "troubleshoot_pod",
      { namespace: effect.namespace, name: effect.name },
      conversation,
    );
    return got.firstLine || undefined;
  } catch {
    return undefined;
  }
}

export interface FollowUpInput {
  action: PendingAction;
  /** Where the card is. */
  channel: string;
  cardTs: string;
  threadTs: string;
  conversation: ConversationRef;
  /** Under an approval policy file: the rule and who approved, kept on the card as it is redrawn. */
  approval?: ApprovalProgress | undefined;
}

/** The facts the agent reads when it is resumed: Deputy's own observations, cluster text fenced. */
export function outcomeForAgent(
  action: PendingAction,
  verification: Verification & { cause?: string },
): string {
  const approver = action.decidedBy ? `${action.decidedBy.kind}:${action.decidedBy.id}` : "an approver";
  const lines = [
    outcomeOpenTag(action.id),
    neutraliseFenceTags(
      `${action.tool} on ${describeTarget(action.target)} (cluster ${action.cluster}) was approved by ${approver} and ran: ${action.outcome?.message ?? "done"}`,
    ),
    neutraliseFenceTags(
      `Deputy watched the effect with its read-only identity: ${verification.status} after ${verification.seconds} s. ${verification.message}`,
    ),
    outcomeCloseTag(),
    ...(verification.cause ? [fenceUntrusted("pod diagnosis", verification.cause)] : []),
    "Write one short incident-log entry for the thread: what ran, what Deputy verified, and what to watch or do next. Propose a change only if the outcome shows a new problem.",
  ];
  return lines.join("\n");
}

/** Watch, update the card, tell the thread, resume the agent. Never throws: it reports instead. */
export async function followOutcome(
  services: BotServices,
  client: webApi.WebClient,
  input: FollowUpInput,
): Promise<void> {
  const { action } = input;
  const log = services.logger.child({ actionId: action.id, followUp: true });
  const effect = effectOf(action);
  const inverse = inverseOf(action);
  // Remembered as a fix with Deputy's verdict, under the served cluster's name (recall's key).
  const remember = (verdict: Verdict): Promise<void> =>
    rememberOutcome(services, client, {
      action,
      cluster: services.clusters.ofAction(action.cluster)?.name ?? action.cluster,
      conversation: input.conversation,
      verdict,
    });
  if (!effect && !inverse) {
    await remember({ status: "unknown", seconds: 0 });
    return;
  }
  const view = approvalViewOf(action);
  const updateCard = async (verification: Verification | "watching" | undefined): Promise<void> => {
    await client.chat
      .update({
        channel: input.channel,
        ts: input.cardTs,
        text: `${action.tool}: ${action.state}`,
        blocks: decidedCardBlocks(action, view, [
          ...(input.approval ? approvalContext(input.approval) : []),
          ...followUpBlocks({ actionId: action.id, verification, inverse }),
        ]),
      })
      .catch((error: unknown) => log.warn({ err: describeError(error) }, "card update failed"));
  };
  // The effect is read in the cluster the action ran in, with that cluster's read identity.
  const cluster = services.clusters.ofAction(action.cluster);
  await updateCard(effect && cluster ? "watching" : undefined);
  if (!effect || !cluster) {
    await remember({ status: "unknown", seconds: 0 });
    return;
  }

  const verification = await watchEffect(cluster.mcp, effect, services.followUp, input.conversation);
  log.info({ verification: verification.status, seconds: verification.seconds }, "effect watched");
  await noteInThread(services, input.conversation, {
    kind: "verified",
    action: action.id,
    status: verification.status,
    seconds: verification.seconds,
  });
  await remember(verification);
  await updateCard(verification);
  await client.chat
    .postMessage({
      channel: input.channel,
      thread_ts: input.threadTs,
      text: verificationLine(verification),
      unfurl_links: false,
      unfurl_media: false,
    })
    .catch((error: unknown) => log.warn({ err: describeError(error) }, "could not post the verdict"));

  // The agent hears the outcome now, not when someone next speaks; its entry lands in the thread.
  if (!services.agent || action.conversation?.surface !== "slack") return;
  await answerQuestion(services, client, {
    requester: action.requester,
    conversation: input.conversation,
    text: outcomeForAgent(action, verification),
    fromDeputy: true,
    aboutCluster: cluster.name,
  });
}
