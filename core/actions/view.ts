import { DeputyError } from "../errors.ts";
import type { ApprovalView } from "./action-type.ts";
import type { PendingAction } from "./schema.ts";
import { actionTypeOf } from "./types/index.ts";

/**
 * The approval view of a stored action, computed from its typed arguments by
 * its action type: what both cards and the thread show. An action whose type
 * is unknown or whose arguments no longer parse cannot be shown, so it cannot
 * be approved either.
 */
export function approvalViewOf(
  action: Pick<PendingAction, "tool" | "arguments" | "evidence" | "target">,
): ApprovalView {
  const type = actionTypeOf(action.tool);
  if (!type)
    throw new DeputyError(
      "INPUT_INVALID",
      `No action type is declared for ${action.tool}; it cannot be shown or run.`,
    );
  const args = type.args.safeParse(action.arguments);
  const evidence = type.evidence.safeParse(action.evidence);
  if (!args.success || !evidence.success) {
    throw new DeputyError(
      "INPUT_INVALID",
      `The stored ${action.tool} action does not match its declaration; it cannot be shown or run.`,
    );
  }
  return type.view(args.data, evidence.data, action.target);
}

/** The view as plain lines, security first: for the model's tool result and the full-text view. */
export function viewLines(view: ApprovalView): string[] {
  return [
    ...view.security.map((line) => `! ${line}`),
    ...view.changes.map((line) => `- ${line}`),
    ...view.notes.map((line) => `  ${line}`),
  ];
}
