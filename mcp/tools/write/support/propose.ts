import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { KubeObject, Pod, PodDisruptionBudget } from "../../../../core/kube/types.ts";
import type { PendingAction, RiskFlag } from "../../../../core/pending.ts";
import { summarizeAction } from "../../../../executor/action-store.ts";
import type { McpDeps } from "../../../deps.ts";
import { toolError, toolText, type ToolContext } from "../../../tool.ts";

/**
 * The one path every write tool ends in: guardrails, then a pending action in
 * Redis, then "pending approval (id act_…)" — at once, like a 202 Accepted.
 * Nothing here can write to the cluster; the executor runs the stored action
 * after a human approves it.
 */
export interface Proposal {
  tool: string;
  /** Arguments as the caller sent them (for the guardrails and the audit). */
  rawArguments: Record<string, unknown>;
  /** Normalised arguments: exactly what the executor will run. */
  arguments: Record<string, unknown>;
  target: PendingAction["target"];
  /** The live object, for guardrails that look at its labels and owners. */
  object?: KubeObject | undefined;
  pods?: readonly Pod[];
  pdbs?: readonly PodDisruptionBudget[];
  summary: string;
  preview: string[];
  /** Risks the tool itself knows about (e.g. scaling to zero). */
  flags?: RiskFlag[];
}

function requesterMissing(tool: string): CallToolResult {
  return toolError(
    `${tool} needs the requester's identity (_meta "deputy/requester") so that someone else can approve it; nothing was proposed.`,
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
  tool: string,
  rawArguments: Record<string, unknown>,
  target: { kind: string; namespace?: string | undefined; name: string },
): CallToolResult | undefined {
  const { deps, caller } = context;
  if (!caller.requester) return requesterMissing(tool);
  const refused = deps.policy.precheck(
    {
      tool,
      arguments: rawArguments,
      requester: caller.requester,
      cluster: deps.config.kube.clusterName,
      target,
    },
    { conversation: caller.conversation },
  );
  if (refused && !refused.allowed) return toolError(refused.message, { refused: { rule: refused.rule } });
  return undefined;
}

export async function propose(context: ToolContext<McpDeps>, proposal: Proposal): Promise<CallToolResult> {
  const { deps, caller } = context;
  const requester = caller.requester;
  if (!requester) return requesterMissing(proposal.tool);
  const cluster = deps.config.kube.clusterName;
  const decision = await deps.policy.evaluate(
    {
      tool: proposal.tool,
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
  const flags = [...(proposal.flags ?? []), ...decision.flags];
  const action = await deps.actions.create({
    cluster,
    tool: proposal.tool,
    arguments: proposal.arguments,
    target: proposal.target,
    summary: proposal.summary,
    preview: proposal.preview,
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
  const lines = [
    `pending approval (id ${action.id})`,
    action.summary,
    ...action.preview.map((line) => `- ${line}`),
    ...flags.map((flag) => `! ${flag.rule}: ${flag.message}`),
    `Nothing has changed yet. An authorised approver other than the requester must approve before ${action.expiresAt}; the result will be posted in the conversation.`,
  ];
  return toolText(lines.join("\n"), { pendingAction: summarizeAction(action) });
}
