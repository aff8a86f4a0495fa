import type { ExpectedEffect, InverseProposal } from "./action-type.ts";
import type { PendingAction } from "./schema.ts";
import { actionTypeOf } from "./types/index.ts";

/**
 * What follows a run, from the action type's declaration and the stored,
 * verified action: the undo that can be proposed and the effect to watch.
 * An action that did not succeed, or whose stored arguments no longer parse,
 * has neither.
 */
function parsed(
  action: Pick<PendingAction, "tool" | "arguments" | "evidence">,
): { type: NonNullable<ReturnType<typeof actionTypeOf>>; args: unknown; evidence: unknown } | undefined {
  const type = actionTypeOf(action.tool);
  if (!type) return undefined;
  const args = type.args.safeParse(action.arguments);
  const evidence = type.evidence.safeParse(action.evidence);
  if (!args.success || !evidence.success) return undefined;
  return { type, args: args.data, evidence: evidence.data };
}

/** The inverse of an executed action, to be proposed as a new pending action; undefined: no Undo. */
export function inverseOf(
  action: Pick<PendingAction, "tool" | "arguments" | "evidence" | "state">,
): InverseProposal | undefined {
  if (action.state !== "succeeded") return undefined;
  const found = parsed(action);
  return found?.type.inverse?.(found.args, found.evidence);
}

/** What a succeeded action should visibly cause in the cluster; undefined: nothing to watch. */
export function effectOf(
  action: Pick<PendingAction, "tool" | "arguments" | "evidence" | "state" | "target">,
): ExpectedEffect | undefined {
  if (action.state !== "succeeded") return undefined;
  const found = parsed(action);
  return found?.type.effect?.(found.args, found.evidence, action.target);
}
