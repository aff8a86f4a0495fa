import { describe, expect, it } from "vitest";
import { blockingBudgets, pdbRule } from "../../../mcp/policy/pdb.ts";
import { selectorMatches } from "../../../mcp/policy/label-selector.ts";
import { budget, input, pod } from "./support.ts";

describe("rule pdb", () => {
  it("puts a budget that allows no disruption on the card with its numbers", () => {
    const verdict = pdbRule.evaluate(
      input({ pods: [pod("db-0", { labels: { app: "db" } })], pdbs: [budget("db-pdb", { app: "db" }, 0)] }),
    );
    expect(verdict.effect).toBe("flag");
    expect(verdict.effect === "flag" && [verdict.flag].flat()[0]?.message).toBe(
      "PodDisruptionBudget shop/db-pdb allows 0 disruption(s) now (healthy 1 of 1, 1 required), covering shop/db-0. The eviction will be refused by the API server unless that changes; Deputy will not delete instead.",
    );
  });

  it("ignores budgets with room and budgets that select other pods", () => {
    const pods = [pod("web-1", { labels: { app: "web" } })];
    expect(blockingBudgets(pods, [budget("web", { app: "web" }, 1), budget("db", { app: "db" }, 0)])).toEqual(
      [],
    );
    expect(pdbRule.evaluate(input({ pods }))).toEqual({ effect: "allow" });
  });

  it("matches label selectors like the API server", () => {
    const labels = { app: "db", tier: "data" };
    expect(selectorMatches({ matchLabels: { app: "db" } }, labels)).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["data"] }] }, labels),
    ).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["data"] }] }, labels),
    ).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: "zone", operator: "Exists" }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, labels)).toBe(
      true,
    );
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches(undefined, labels)).toBe(false);
  });
});
