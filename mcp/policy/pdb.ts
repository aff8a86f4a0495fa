import type { Pod, PodDisruptionBudget } from "../../core/kube/types.ts";
import { selectorMatches } from "./label-selector.ts";
import { allow, type SyncPolicyRule } from "./types.ts";

/**
 * PodDisruptionBudgets are respected: pods are only ever evicted, so the API
 * server enforces the budget at execution time (a 429 is reported with the
 * budget's numbers and the action stops — there is no fallback to delete).
 * At proposal time this rule puts the budget's current numbers on the card, so
 * the approver knows the eviction will be refused unless they change.
 */
export const PDB_RULE = "pdb";

export interface BudgetBlock {
  pdb: PodDisruptionBudget;
  pods: Pod[];
}

export function describeBudget(pdb: PodDisruptionBudget): string {
  const status = pdb.status;
  return `PodDisruptionBudget ${pdb.metadata?.namespace}/${pdb.metadata?.name} allows ${status?.disruptionsAllowed ?? 0} disruption(s) now (healthy ${status?.currentHealthy ?? "?"} of ${status?.expectedPods ?? "?"}, ${status?.desiredHealthy ?? "?"} required)`;
}

/** Budgets covering the given pods that allow no disruption right now. */
export function blockingBudgets(pods: readonly Pod[], pdbs: readonly PodDisruptionBudget[]): BudgetBlock[] {
  const blocks: BudgetBlock[] = [];
  for (const pdb of pdbs) {
    if ((pdb.status?.disruptionsAllowed ?? 0) > 0) continue;
    const covered = pods.filter(
      (pod) =>
        pod.metadata?.namespace === pdb.metadata?.namespace &&
        selectorMatches(pdb.spec?.selector, pod.metadata?.labels ?? {}),
    );
    if (covered.length > 0) blocks.push({ pdb, pods: covered });
  }
  return blocks;
}

export const pdbRule: SyncPolicyRule = {
  id: PDB_RULE,
  evaluate(input) {
    const blocks = blockingBudgets(input.pods ?? [], input.pdbs ?? []);
    if (blocks.length === 0) return allow;
    const text = blocks
      .map(
        ({ pdb, pods }) =>
          `${describeBudget(pdb)}, covering ${pods.map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`).join(", ")}`,
      )
      .join("; ");
    return {
      effect: "flag",
      flag: {
        rule: PDB_RULE,
        message: `${text}. The eviction will be refused by the API server unless that changes; Deputy will not delete instead.`,
      },
    };
  },
};
