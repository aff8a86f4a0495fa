import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import type { ActionType, AnyActionType } from "../../../../core/actions/action-type.ts";
import { shortDigest } from "../../../../core/actions/digest.ts";
import type { ActionTarget, PendingActionRef } from "../../../../core/actions/schema.ts";
import { approvalViewOf, viewLines } from "../../../../core/actions/view.ts";
import type { KubeObject, Pod, PodDisruptionBudget } from "../../../../core/kube/types.ts";
import type { McpDeps } from "../../../deps.ts";
import { assertTargetInScope } from "./target-scope.ts";
import { defineTool, toolError, toolText, type ToolContext, type ToolDefinition } from "../../../tool.ts";

/**
 * The one path every write tool ends in: typed arguments checked against the
 * action type, guardrails, then a signed pending action in Redis, then
 * "pending approval (id act_…)" — at once, like a 202 Accepted. Nothing here
 * can write to the cluster; the executor runs the stored action after a human
 * approves it.
 */
export interface Proposal<Args, Evidence> {
  /** Arguments as the caller sent them (for the guardrails and the audit). */
  rawArguments: Record<string, unknown>;
  /** Normalised, typed arguments: exactly what the executor will run. */
  arguments: Args;
  /** What the view needs beside the arguments (live values, pods affected). */
  evidence: Evidence;
  target: ActionTarget;
  /** The live object, for guardrails that look at its labels and owners. */
  object?: KubeObject | undefined;
  pods?: readonly Pod[];
  pdbs?: readonly PodDisruptionBudget[];
}

function requesterMissing(tool: string): CallToolResult {
  return toolError(
    `${tool} needs the requester's identity so that someone else can approve it; nothing was proposed.`,
    { refused: { rule: "requester-required" } },
  );
}

/**
 * Before a tool reads anything: the caller must be identified, and the rules
 * that need no live object (no-force, protected-namespace) must pass. Returns
 * the refusal to send back, or undefined to go on.
 */
export function precheck(
  context: ToolContext<McpDeps>,
  type: AnyActionType,
  rawArguments: Record<string, unknown>,
  target: { kind: string; namespace?: string | undefined; name: string },
): CallToolResult | undefined {
  const { deps, caller } = context;
  if (!caller.requester) return requesterMissing(type.name);
  const refused = deps.policy.precheck(
    {
      tool: type.name,
      arguments: rawArguments,
      requester: caller.requester,
      cluster: deps.config.kube.clusterName,
      target,
    },
    { conversation: caller.conversation },
  );
  if (refused && !refused.allowed) return toolError(refused.message, { refused: { rule: refused.rule } });
  assertTargetInScope(deps, type.name, target);
  return undefined;
}

export async function propose<Args extends Record<string, unknown>, Evidence extends Record<string, unknown>>(
  context: ToolContext<McpDeps>,
  type: ActionType<Args, Evidence>,
  proposal: Proposal<Args, Evidence>,
): Promise<CallToolResult> {
  const { deps, caller } = context;
  const requester = caller.requester;
  if (!requester) return requesterMissing(type.name);
  // What the runner would refuse is refused now, before anyone is asked to approve it.
  const args = type.args.safeParse(proposal.arguments);
  const evidence = type.evidence.safeParse(proposal.evidence);
  if (!args.success || !evidence.success) {
    const issues = [...(args.error?.issues ?? []), ...(evidence.error?.issues ?? [])]
      .map((issue) => `${issue.path.join(".") || "arguments"}: ${issue.message}`)
      .join("; ");
    return toolError(`${type.name} cannot be proposed: ${issues}. Nothing was stored.`, {
      refused: { rule: "invalid-arguments" },
    });
  }
  const cluster = deps.config.kube.clusterName;
  const decision = await deps.policy.evaluate(
    {
      tool: type.name,
      arguments: proposal.rawArguments,
      requester,
      cluster,
      target: {
        kind: proposal.target.kind,
        namespace: proposal.target.namespace,
        name: proposal.target.name,
        object: proposal.object,
      },
      ...(proposal.pods ? { pods: proposal.pods } : {}),
      ...(proposal.pdbs ? { pdbs: proposal.pdbs } : {}),
      podTemplates: type.podTemplates?.(args.data, evidence.data) ?? [],
    },
    { conversation: caller.conversation },
  );
  if (!decision.allowed) {
    const offer =
      decision.offer === "propose_git_change"
        ? ` Call propose_git_change with the same change to get the diff to commit.`
        : "";
    return toolError(`${decision.message}${offer}`, {
      refused: { rule: decision.rule, ...(decision.offer ? { offer: decision.offer } : {}) },
    });
  }
  const flags = [...(type.flags?.(args.data, evidence.data) ?? []), ...decision.flags];
  const action = await deps.actions.create({
    cluster,
    tool: type.name,
    arguments: args.data,
    evidence: evidence.data,
    target: proposal.target,
    risk: { level: flags.length > 0 ? "high" : "normal", flags },
    requester,
    ...(caller.reason ? { reason: caller.reason } : {}),
    ...(caller.conversation ? { conversation: caller.conversation } : {}),
    ...(caller.prompt ? { prompt: caller.prompt } : {}),
  });
  deps.audit.record({
    kind: "pending_action",
    actionId: action.id,
    tool: action.tool,
    arguments: action.arguments,
    actor: requester,
    conversation: caller.conversation,
    prompt: caller.prompt,
    decision: "pending",
    cluster,
    ...(caller.reason ? { reason: caller.reason } : {}),
    details: { risk: action.risk.level, flags: flags.map((flag) => flag.rule), digest: action.digest },
  });
  const view = approvalViewOf(action);
  const lines = [
    `pending approval (id ${action.id}, digest ${shortDigest(action.digest)})`,
    view.summary,
    ...viewLines(view),
    ...flags.map((flag) => `! ${flag.rule}: ${flag.message}`),
    `Nothing has changed yet. An authorised approver other than the requester must approve before ${action.expiresAt}; the result will be posted in the conversation.`,
  ];
  const ref: PendingActionRef = {
    id: action.id,
    tool: action.tool,
    digest: action.digest,
    expiresAt: action.expiresAt,
  };
  return toolText(lines.join("\n"), { pendingAction: ref });
}

/**
 * A write tool for an action type: the tool's name is the type's, and the
 * annotations say it writes, so it always needs approval.
 */
export function defineWriteTool<Shape extends z.ZodRawShape>(
  type: AnyActionType,
  tool: Omit<ToolDefinition<McpDeps, Shape>, "name" | "annotations"> & {
    annotations: { idempotentHint: boolean };
  },
): ToolDefinition<McpDeps, Shape> {
  return defineTool<McpDeps, Shape>({
    ...tool,
    name: type.name,
    annotations: {
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: tool.annotations.idempotentHint,
      openWorldHint: false,
    },
  });
}
