import { describe, expect, it } from "vitest";
import { protectedNamespace } from "../../../mcp/policy/protected-namespace.ts";
import { input, pod } from "./support.ts";

describe("rule protected-namespace", () => {
  const { rule, isProtected } = protectedNamespace({
    protectedNamespaces: ["kube-system", "payments"],
    denied: ["vault"],
  });

  it("refuses writes in kube-system, configured and denied namespaces with a sentence naming the rule", () => {
    for (const namespace of ["kube-system", "payments", "vault"]) {
      const verdict = rule.evaluate(input({ target: { kind: "Pod", namespace, name: "x" } }));
      expect(verdict).toEqual({
        effect: "deny",
        message: `Refused by rule protected-namespace: namespace ${namespace} is protected; Deputy does not change anything there. Ask the platform team.`,
      });
    }
    expect(isProtected("shop")).toBe(false);
  });

  it("flags node-wide actions that touch pods in protected namespaces", () => {
    const verdict = rule.evaluate(
      input({
        tool: "drain_node",
        target: { kind: "Node", name: "node-a" },
        pods: [pod("dns", { namespace: "kube-system" }), pod("web")],
      }),
    );
    expect(verdict).toMatchObject({ effect: "flag", flag: { rule: "protected-namespace" } });
    expect(rule.evaluate(input({ target: { kind: "Node", name: "node-a" }, pods: [pod("web")] }))).toEqual({
      effect: "allow",
    });
  });
});
