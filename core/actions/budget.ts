import { DeputyError } from "../errors.ts";

/**
 * How long an approved action may run, and how long its credential lives.
 *
 * Every action has an overall deadline: its type's budget (a drain scales with
 * its pods), or DEFAULT_ACTION_BUDGET_MS, never more than MAX_ACTION_BUDGET_MS.
 * Its lease is sized to that deadline plus a margin for revocation, within
 * Kubernetes' minimum token life (600 s) and the secrets engine's max TTL, so
 * a credential outlives the action that holds it, and not by much.
 */

/** An action that does not say otherwise: one or two API calls with their retries. */
export const DEFAULT_ACTION_BUDGET_MS = 120_000;
/** The longest run: below the executor's OpenBao token max TTL (3600 s), which its leases cannot outlive. */
export const MAX_ACTION_BUDGET_MS = 50 * 60_000;
/** Kubernetes refuses TokenRequest durations under 600 s. */
export const MIN_LEASE_TTL_SECONDS = 600;
/** Time after the deadline for the last call to end and the lease to be revoked. */
const LEASE_MARGIN_SECONDS = 60;

/** The action's deadline: its own budget, capped. */
export function actionBudgetMs(declared: number | undefined, capMs = MAX_ACTION_BUDGET_MS): number {
  const budget = declared ?? DEFAULT_ACTION_BUDGET_MS;
  if (!Number.isFinite(budget) || budget <= 0) {
    throw new DeputyError("INPUT_INVALID", `An action budget must be a positive number of ms, not ${budget}`);
  }
  return Math.min(budget, capMs);
}

/** The lease TTL for an action with this deadline, within [600 s, maxTtlSeconds]. */
export function leaseTtlSeconds(budgetMs: number, maxTtlSeconds: number): number {
  const wanted = Math.ceil(budgetMs / 1000) + LEASE_MARGIN_SECONDS;
  return Math.min(Math.max(wanted, MIN_LEASE_TTL_SECONDS), Math.max(maxTtlSeconds, MIN_LEASE_TTL_SECONDS));
}

/** An action ran past its deadline; the executor reports what it did and did not do. */
export class ActionTimedOut extends DeputyError {
  readonly budgetMs: number;
  constructor(budgetMs: number) {
    super("DEADLINE_EXCEEDED", `The action ran past its deadline of ${Math.round(budgetMs / 1000)} s`, {
      details: { budgetMs },
    });
    this.name = "ActionTimedOut";
    this.budgetMs = budgetMs;
  }
}
