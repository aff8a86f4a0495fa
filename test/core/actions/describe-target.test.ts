import { describe, expect, it } from "vitest";
import { describeTarget } from "../../../core/actions/action-type.ts";

describe("describeTarget", () => {
  it("names a namespaced object and a cluster-scoped one as cards show them", () => {
    expect(describeTarget({ kind: "Deployment", namespace: "shop", name: "checkout" })).toBe(
      "Deployment shop/checkout",
    );
    expect(describeTarget({ kind: "Node", namespace: undefined, name: "node-a" })).toBe("Node node-a");
  });

  it("lowercases the kind for running text (the console's cards and triage)", () => {
    expect(
      describeTarget({ kind: "Deployment", namespace: "shop", name: "checkout" }, { lowercaseKind: true }),
    ).toBe("deployment shop/checkout");
  });
});
