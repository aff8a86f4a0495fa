import { DeputyError } from "../errors.ts";
import { describeTarget, type ApprovalView } from "./action-type.ts";
import { diffObjects, effectChangeLines, type Effect } from "./effect.ts";
import { podSpecOfWorkload, podSpecSummary } from "./pod-spec.ts";
import type { PendingAction } from "./schema.ts";
import { actionTypeOf } from "./types/index.ts";

/**
 * The approval view of a stored action, computed from its typed arguments by
 * its action type: what both cards and the thread show. An action whose type
 * is unknown or whose arguments no longer parse cannot be shown, so it cannot
 * be approved either.
 */
export function approvalViewOf(
  action: Pick<PendingAction, "tool" | "arguments" | "evidence" | "target" | "effect">,
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
  const view = type.view(args.data, evidence.data, action.target);
  if (!type.request && action.effect) {
    throw new DeputyError(
      "INPUT_INVALID",
      `The stored ${action.tool} action carries a result its type never asks the API server for; it cannot be shown or run.`,
    );
  }
  if (type.request && !action.effect) {
    // Stored before results were previewed (or by something else): shown, never runnable.
    const reason =
      "This action was stored without the API server's answer to it, so its real effect was never shown: it cannot be approved or run. Propose it again.";
    return { ...view, security: [reason, ...view.security], unapprovable: reason };
  }
  return action.effect ? effectView(view, action.effect) : view;
}

/**
 * The view of an action whose effect the API server answered: the type's
 * summary and notes around the complete diff between the live object and the
 * dry-run result, and the security facts of the result itself (not of what
 * was asked for: the merge can add what the request never named).
 */
function effectView(view: ApprovalView, effect: Effect): ApprovalView {
  const what = describeTarget(effect.object);
  const podSpec = podSpecOfWorkload(effect.object.kind, effect.result);
  return {
    summary: view.summary,
    security: [
      ...effect.warnings.map((warning) => `API server warning: ${warning}`),
      ...(podSpec === undefined
        ? []
        : podSpecSummary({ workload: what, kind: effect.object.kind, after: podSpec })),
    ],
    changes: [
      effect.live
        ? `${what} as the API server answers the dry run, against the live object (every field that changes):`
        : `${what} is created; every field of the API server's dry-run answer:`,
      ...effectChangeLines(diffObjects(effect.live, effect.result)),
    ],
    notes: [
      ...view.notes,
      "This is the API server's own answer to the exact request (server-side dry run, after merge, defaults and admission). Right before the write the executor repeats the dry run with its own credential and does nothing if the answer differs.",
    ],
  };
}

/**
 * What Slack can show of a view: a card of four code sections and a modal of
 * 98, each at most 2,800 characters after escaping. The bot packs with the
 * same numbers; the MCP server refuses a proposal whose view does not fit, and
 * the executor refuses to run one.
 */
export const VIEW_LIMITS = { sectionChars: 2800, cardSections: 4, modalSections: 98 } as const;

/** Characters a line takes once Slack's `&`, `<` and `>` are escaped. */
function escapedLength(line: string): number {
  let length = line.length;
  for (const char of line) {
    if (char === "&") length += 4;
    else if (char === "<" || char === ">") length += 3;
    // A broadcast word gets a zero-width space after its @.
    else if (char === "@" || char === "＠") length += 1;
  }
  return length;
}

/** The full-view lines (what the modal shows), security first. */
export function fullViewLines(view: ApprovalView): string[] {
  return [
    ...(view.security.length > 0 ? ["Read first:", ...view.security.map((line) => `  ${line}`)] : []),
    "What changes:",
    ...view.changes.map((line) => `  ${line}`),
    ...(view.notes.length > 0 ? ["Notes:", ...view.notes.map((line) => `  ${line}`)] : []),
  ];
}

/** How many code sections of `limit` characters the lines take, packed as the bot packs them. */
export function sectionsNeeded(lines: readonly string[], limit: number = VIEW_LIMITS.sectionChars): number {
  let sections = 0;
  let current = -1;
  const push = (length: number): void => {
    if (current >= 0 && current + 1 + length <= limit) {
      current += 1 + length;
      return;
    }
    sections += 1;
    current = length;
  };
  for (const line of lines) {
    const length = escapedLength(line);
    if (length === 0) push(0);
    for (let i = 0; i < length; i += limit) push(Math.min(limit, length - i));
  }
  return sections;
}

/** Whether Slack can show the whole view (card plus its modal): otherwise it cannot be approved. */
export function viewFitsSlack(view: ApprovalView): boolean {
  return sectionsNeeded(fullViewLines(view)) <= VIEW_LIMITS.modalSections;
}

/** Why a view cannot be approved (no Approve button, the executor refuses), or undefined. */
export function unapprovableReason(view: ApprovalView): string | undefined {
  if (view.unapprovable) return view.unapprovable;
  if (!viewFitsSlack(view)) {
    return "This change is too long for Slack to show whole, so it cannot be approved here: the executor refuses to run a change nobody could read whole. Propose it through Git instead.";
  }
  return undefined;
}

/** The view as plain lines, security first: for the model's tool result and the full-text view. */
export function viewLines(view: ApprovalView): string[] {
  return [
    ...view.security.map((line) => `! ${line}`),
    ...view.changes.map((line) => `- ${line}`),
    ...view.notes.map((line) => `  ${line}`),
  ];
}
