import { describeError } from "../core/errors.ts";
import type { Decision } from "../core/actions/schema.ts";
import { isRedisUnavailable } from "../core/state/redis.ts";

/**
 * The sentences people read when Deputy could not do what they asked. Each
 * names the cause in plain words and says what to do next; a listener that
 * fails says one of these rather than nothing.
 */

/** Why it failed, as the end of "because …". */
export function failureCause(error: unknown): string {
  if (isRedisUnavailable(error)) return "my state store is unavailable";
  const slack = error as { code?: unknown; data?: { error?: unknown } } | null;
  if (slack?.code === "slack_webapi_platform_error" && typeof slack.data?.error === "string")
    return `Slack refused one of my messages (${slack.data.error})`;
  return describeError(error).replace(/\.$/, "");
}

/** Whether asking again later may work (an outage) rather than being pointless. */
export function isOutage(error: unknown): boolean {
  return (
    isRedisUnavailable(error) || (error as { code?: unknown } | null)?.code === "slack_webapi_platform_error"
  );
}

/** A click that was not recorded before anything was decided: nothing ran, and clicking again later works. */
export function decisionNotRecorded(decision: Decision, error: unknown): string {
  const what = decision === "approve" ? "approval" : "rejection";
  const outcome = decision === "approve" ? "nothing ran" : "the action is still pending";
  return `I couldn't record your ${what} because ${failureCause(error)}; ${outcome}; please click again in a minute.`;
}

/**
 * The executor's answer did not come, and the action, read back, is still
 * pending: nothing was decided, so clicking again is safe.
 */
export function decisionNotTaken(decision: Decision, error: unknown): string {
  const what = decision === "approve" ? "approval" : "rejection";
  const outcome = decision === "approve" ? "nothing ran" : "nothing was decided";
  return `I couldn't complete your ${what} because ${failureCause(error)}. The action is still pending, so ${outcome}; please click again in a minute.`;
}

/**
 * The executor's answer did not come, but the action, read back, was decided
 * and is running: its result follows in the thread, and a second click could
 * only confuse.
 */
export function decisionStillRunning(decision: Decision, error: unknown): string {
  const what = decision === "approve" ? "approval" : "rejection";
  return `Your ${what} was taken and the action is still running, but I lost the executor's answer (${failureCause(error)}). Its result will be posted in the thread when it ends; please don't click again.`;
}

/** The same, said in the thread for everyone. */
export function runningWithoutAnswer(error: unknown): string {
  return `The executor's answer was lost (${failureCause(error)}), but the action was approved and is still running. Its result will be posted here when it ends.`;
}

/**
 * The executor's answer did not come and the action's state cannot be read
 * either: the outcome is not known yet. Never an invitation to click again on
 * something that may be running.
 */
export function decisionOutcomeUnknown(decision: Decision, error: unknown): string {
  const what = decision === "approve" ? "approval" : "rejection";
  return `I couldn't complete your ${what} because ${failureCause(error)}, and I can't read the action's state right now, so its outcome is not known yet. The thread will be told what became of it; please don't click again.`;
}

/** The same, said in the thread for everyone. */
export function outcomeNotKnownYet(error: unknown): string {
  return `A decision on this action was sent, but its answer was lost (${failureCause(error)}) and its state cannot be read right now, so the outcome is not known yet. This thread will be told what became of it (or, if nothing was decided, when its card expires).`;
}

/** A card whose action is no longer stored: what the card and the thread say instead of buttons. */
export function actionVanished(actionId: string): string {
  return `Action ${actionId} is no longer stored (it expired and was removed, or the state store lost it), so nothing can be decided or run from this card. Ask again if the change is still needed.`;
}

/** A question that could not start or finish. */
export function questionFailed(error: unknown): string {
  if (isOutage(error))
    return `I couldn't answer because ${failureCause(error)}; please ask again in a minute.`;
  return `Sorry, I could not answer: ${describeError(error)}`;
}
