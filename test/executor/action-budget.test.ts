import { describe, expect, it } from "vitest";
import {
  ActionTimedOut,
  DEFAULT_ACTION_BUDGET_MS,
  MAX_ACTION_BUDGET_MS,
  actionBudgetMs,
  leaseTtlSeconds,
} from "../../core/actions/budget.ts";
import { isDeputyError } from "../../core/errors.ts";
import { DRAIN_PER_POD_MS, drainNode } from "../../core/actions/types/drain-node.ts";
import { loadOpenBaoRoles } from "../../core/identity/openbao-roles.ts";

const pods = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ namespace: "shop", name: `p-${i}`, uid: `u-${i}` }));

describe("action budgets and credential TTLs", () => {
  const maxTtl = loadOpenBaoRoles().secretsEngine.token_max_ttl;

  it("gives an action without a budget the default deadline and Kubernetes' minimum lease", () => {
    expect(actionBudgetMs(undefined)).toBe(DEFAULT_ACTION_BUDGET_MS);
    expect(leaseTtlSeconds(DEFAULT_ACTION_BUDGET_MS, maxTtl)).toBe(600);
  });

  it("sizes a drain's deadline and lease to its pods, capped", () => {
    const evidence = { alreadyCordoned: false, leave: [] };
    const ten = drainNode.budgetMs!({ name: "n", evict: pods(10) }, evidence);
    expect(ten).toBe(60_000 + 10 * DRAIN_PER_POD_MS);
    expect(leaseTtlSeconds(actionBudgetMs(ten), maxTtl)).toBe(Math.ceil(ten / 1000) + 60);
    const huge = drainNode.budgetMs!({ name: "n", evict: pods(500) }, evidence);
    expect(actionBudgetMs(huge)).toBe(MAX_ACTION_BUDGET_MS);
    expect(leaseTtlSeconds(actionBudgetMs(huge), maxTtl)).toBe(MAX_ACTION_BUDGET_MS / 1000 + 60);
    expect(leaseTtlSeconds(actionBudgetMs(huge), maxTtl)).toBeLessThanOrEqual(maxTtl);
    // Never above the secrets engine's max TTL, whatever the budget.
    expect(leaseTtlSeconds(10 * 3_600_000, maxTtl)).toBe(maxTtl);
    // The longest action still fits in the executor's renewable OpenBao token.
    const executor = loadOpenBaoRoles().auth.roles.find((role) => role.name === "deputy-executor")!;
    expect(MAX_ACTION_BUDGET_MS).toBeLessThan(executor.token_max_ttl * 1000);
  });

  it("refuses a budget that is not a positive number", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => actionBudgetMs(bad)).toThrow(/positive number/);
    }
    expect(isDeputyError(new ActionTimedOut(1000), "DEADLINE_EXCEEDED")).toBe(true);
  });
});
