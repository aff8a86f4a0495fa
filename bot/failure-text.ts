import { describeError } from "../core/errors.ts";
import type { Decision } from "../core/actions/schema.ts";
import { isRedisUnavailable } from "../core/redis.ts";

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
 * The executor failed while deciding: most often before anything ran, but it
 * cannot be ruled out here, so the card (updated by whoever knows) is the
 * place to look before clicking again.
 */
export function decisionFailed(decision: Decision, error: unknown): string {
  const what = decision === "approve" ? "approval" : "rejection";
  return `I couldn't complete your ${what} because ${failureCause(error)}. If the card still shows its buttons, nothing was decided; please click again in a minute.`;
}

/** A question that could not start or finish. */
export function questionFailed(error: unknown): string {
  if (isOutage(error))
    return `I couldn't answer because ${failureCause(error)}; please ask again in a minute.`;
  return `Sorry, I could not answer: ${describeError(error)}`;
}
