import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import {
  PATCH_CONTENT_TYPES,
  describeTarget,
  type ActionType,
  type AnyActionType,
  type DryRunCheck,
  type WriteRequest,
} from "../../../../core/actions/action-type.ts";
import {
  diffObjects,
  normaliseObject,
  resultDigest,
  secretLiteralsIn,
  type Effect,
} from "../../../../core/actions/effect.ts";
import { isPreconditionFailure, withResourceVersion } from "../../../../core/actions/bound-write.ts";
import type { ObjectChange } from "../../../../core/actions/object-risk.ts";
import { fenceUntrusted } from "../../../../core/untrusted/fence.ts";
import { jitteredBackoff, sleep } from "../../../../core/backoff.ts";
import { isKubeApiError } from "../../../../core/kube/errors.ts";
import { shortDigest } from "../../../../core/actions/digest.ts";
import type { ActionTarget, PendingActionRef } from "../../../../core/actions/schema.ts";
import { approvalViewOf, viewFitsSlack, viewLines } from "../../../../core/actions/view.ts";
import type { KubeObject, Pod, PodDisruptionBudget } from "../../../../core/kube/types.ts";
import type { McpDeps } from "../../../deps.ts";
import type { PolicyDecision, PolicyInput } from "../../../policy/index.ts";
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
  let effect: Effect | undefined;
  let podTemplates = type.podTemplates?.(args.data, evidence.data) ?? [];
  let objects: ObjectChange[] = [];
  // What every guardrail reads: the request and its target as the read identity saw it.
  const input: PolicyInput = {
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
  };
  if (type.request) {
    const early = deps.policy.precheck(input, { conversation: caller.conversation });
    if (early && !early.allowed) return policyRefusal(early);
    const previewed = await previewEffect(
      context,
      type.name,
      type.request(args.data, evidence.data, proposal.target),
      proposal.target.uid ? proposal.object : undefined,
    );
    if ("refusal" in previewed) return previewed.refusal;
    effect = previewed.effect;
    // The guardrails judge the result, not the request: a merge can add what the request never named.
    podTemplates = [];
    objects = [
      {
        kind: effect.object.kind,
        workload: describeTarget(effect.object),
        // The live object whole (a budget's status says how many pods it covers).
        ...(proposal.target.uid && proposal.object ? { before: proposal.object } : {}),
        after: effect.result,
      },
    ];
  }
  for (const check of type.dryRunChecks?.(args.data, evidence.data, proposal.target) ?? []) {
    const refusal = await dryRunCheck(context, type.name, check);
    if (refusal) return refusal;
  }
  const decision = await deps.policy.evaluate(
    {
      ...input,
      ...(proposal.pods ? { pods: proposal.pods } : {}),
      ...(proposal.pdbs ? { pdbs: proposal.pdbs } : {}),
      podTemplates,
      objects,
    },
    { conversation: caller.conversation },
  );
  if (!decision.allowed) return policyRefusal(decision);
  const flags = [...(type.flags?.(args.data, evidence.data) ?? []), ...decision.flags];
  // Nothing the approver cannot see whole can be approved: refuse it before it is stored.
  const draftView = approvalViewOf({
    tool: type.name,
    arguments: args.data,
    evidence: evidence.data,
    target: proposal.target,
    effect,
  });
  if (!viewFitsSlack(draftView)) {
    return refuse(
      context,
      type.name,
      "view-too-long",
      `${type.name} cannot be proposed: the whole change is longer than Slack can show (card and full view), and a change nobody can read whole cannot be approved. Nothing was stored. Split it into smaller changes, or call propose_git_change with the same change to get a diff to review and commit through Git.`,
    );
  }
  const action = await deps.actions.create({
    cluster,
    tool: type.name,
    arguments: args.data,
    evidence: evidence.data,
    target: proposal.target,
    ...(effect ? { effect } : {}),
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

/** A guardrail's refusal (already audited by the policy), with the offer it makes. */
function policyRefusal(decision: Extract<PolicyDecision, { allowed: false }>): CallToolResult {
  const offer =
    decision.offer === "propose_git_change"
      ? ` Call propose_git_change with the same change to get the diff to commit.`
      : "";
  return toolError(`${decision.message}${offer}`, {
    refused: { rule: decision.rule, ...(decision.offer ? { offer: decision.offer } : {}) },
  });
}

/** A refusal before anything is stored: audited as a policy decision, answered as a tool error. */
function refuse(context: ToolContext<McpDeps>, tool: string, rule: string, message: string): CallToolResult {
  const { deps, caller } = context;
  deps.audit.record({
    kind: "policy_decision",
    tool,
    decision: "deny",
    rule,
    message,
    cluster: deps.config.kube.clusterName,
    ...(caller.requester ? { actor: caller.requester } : {}),
    ...(caller.conversation ? { conversation: caller.conversation } : {}),
  });
  return toolError(message, { refused: { rule } });
}

/**
 * The refusal to send while the preview identity is not known to be dry-run
 * only (fail closed), after looking again once rather than trusting a stale
 * verdict; undefined when it may be used.
 */
const RECHECK_AFTER_MS = 5_000;
const lookedAgain = new WeakMap<object, number>();

async function usablePreview(
  context: ToolContext<McpDeps>,
  tool: string,
): Promise<{ preview: NonNullable<McpDeps["preview"]> } | { refusal: CallToolResult }> {
  const { preview } = context.deps;
  let health = preview?.health();
  // Not usable: look again now rather than trust a stale verdict (the first look may still be
  // under way), but not on every proposal, since each look sends a real probe write.
  if (preview && !health?.usable && Date.now() - (lookedAgain.get(preview) ?? 0) > RECHECK_AFTER_MS) {
    lookedAgain.set(preview, Date.now());
    health = await preview.check().catch(() => health);
  }
  if (preview && health?.usable) return { preview };
  return {
    refusal: refuse(
      context,
      tool,
      "preview-unavailable",
      `Nothing was proposed: the API server's answer to this change cannot be previewed, so nobody could approve what it would really do. ${health?.sentence ?? "No preview identity is configured for the MCP server."}`,
    ),
  };
}

/**
 * A removal the run will send (an eviction), asked of the API server as a dry
 * run first: what it refuses (admission, a budget where no wait is possible)
 * is never proposed. Undefined: accepted.
 */
async function dryRunCheck(
  context: ToolContext<McpDeps>,
  tool: string,
  check: DryRunCheck,
): Promise<CallToolResult | undefined> {
  const { signal } = context;
  const usable = await usablePreview(context, tool);
  if ("refusal" in usable) return usable.refusal;
  try {
    await usable.preview.dryRun(
      {
        method: check.method,
        path: check.path,
        body: check.body,
        contentType: check.patchType ? PATCH_CONTENT_TYPES[check.patchType] : "application/json",
      },
      signal,
    );
    return undefined;
  } catch (error) {
    if (!isKubeApiError(error) || (error.status === 429 && check.tolerate429)) {
      if (isKubeApiError(error)) return undefined;
      throw error;
    }
    return refuse(
      context,
      tool,
      "dry-run-refused",
      `The API server refused a dry run of ${check.what} (${error.status}${error.reason ? ` ${error.reason}` : ""}); nothing was stored. Its reason, as the cluster gave it:\n${fenceUntrusted("api-server dry-run answer", error.message)}`,
    );
  }
}

/**
 * The API server's own answer to the exact request, from the preview identity
 * (a server-side dry run: after merge, defaults and admission), beside the
 * live object. Refused, with the reason, when the preview identity is not
 * known to be dry-run only, when the API server refuses the request, when the
 * answer changes nothing, or when a value in it looks like a credential (an
 * approval view is never redacted, so it could not be shown).
 */
/** Dry runs of one change in all, against the version read each time (about 1.5 s of waiting at most). */
const PREVIEW_ROUNDS = 8;
const PREVIEW_BACKOFF = { baseMs: 50, capMs: 800 };

async function previewEffect(
  context: ToolContext<McpDeps>,
  tool: string,
  request: WriteRequest,
  live: KubeObject | undefined,
): Promise<{ effect: Effect } | { refusal: CallToolResult }> {
  const { deps, signal } = context;
  const what = describeTarget(request.object);
  const usable = await usablePreview(context, tool);
  if ("refusal" in usable) return usable;
  // On the version that was read, so the diff is against exactly that object. A controller
  // updating status in between moves the version: read again and ask again, backing off, so a
  // burst of updates (a new or rolling Deployment under a busy controller) is outlasted.
  let answer: { object: unknown; warnings: string[] } | undefined;
  let seen = live;
  for (let round = 1; answer === undefined; round++) {
    try {
      const guarded = withResourceVersion(request, seen?.metadata?.resourceVersion);
      answer = await usable.preview.dryRun(
        {
          method: guarded.method,
          path: guarded.path,
          body: guarded.body,
          contentType: PATCH_CONTENT_TYPES[request.patchType],
          query: request.query,
        },
        signal,
      );
    } catch (error) {
      if (!isKubeApiError(error)) throw error;
      if (seen && round < PREVIEW_ROUNDS && isPreconditionFailure(request, error)) {
        await sleep(jitteredBackoff(round, PREVIEW_BACKOFF), signal);
        seen = await deps.kube.get<KubeObject>(request.path, undefined, signal);
        continue;
      }
      return {
        refusal: refuse(
          context,
          tool,
          "dry-run-refused",
          `The API server refused a dry run of this change to ${what} (${error.status}${error.reason ? ` ${error.reason}` : ""}); nothing was stored. Its reason, as the cluster gave it:\n${fenceUntrusted("api-server dry-run answer", error.message)}`,
        ),
      };
    }
  }
  const result = normaliseObject(answer.object);
  const before = seen ? normaliseObject(seen) : undefined;
  const changes = diffObjects(before, result);
  if (changes.length === 0) {
    return {
      refusal: refuse(
        context,
        tool,
        "no-change",
        `The API server's answer shows that this changes nothing in ${what}; nothing was proposed.`,
      ),
    };
  }
  const secrets = secretLiteralsIn(changes);
  if (secrets.length > 0) {
    return {
      refusal: refuse(
        context,
        tool,
        "secret-literal",
        `Nothing was proposed: ${what} would hold a literal value that looks like a credential (${secrets.join(", ")}). An approval shows every value as it will be applied and never hides one, so a credential cannot go through it: put the value in a Secret and reference it (env valueFrom.secretKeyRef, envFrom.secretRef or a secret volume).`,
      ),
    };
  }
  return {
    effect: {
      object: request.object,
      ...(before ? { live: before } : {}),
      result,
      warnings: answer.warnings,
      digest: resultDigest(answer.object, { created: !live }),
    },
  };
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
