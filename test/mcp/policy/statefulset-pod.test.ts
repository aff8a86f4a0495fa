import { describe, expect, it } from "vitest";
import { statefulsetPod } from "../../../mcp/policy/statefulset-pod.ts";
import { input, pod } from "./support.ts";

describe("rule statefulset-pod", () => {
  it("flags StatefulSet pods high-risk with the reason", () => {
    const verdict = statefulsetPod.evaluate(input({ pods: [pod("db-0", { owner: "StatefulSet" })] }));
    expect(verdict.effect).toBe("flag");
    expect(verdict.effect === "flag" && verdict.flag).toEqual({
      rule: "statefulset-pod",
      message:
        "High risk: shop/db-0 (StatefulSet owner) is a StatefulSet pod; the replica is down until it returns with the same identity and storage.",
    });
  });

  it("allows pods of ReplicaSets and bare pods", () => {
    expect(
      statefulsetPod.evaluate(input({ pods: [pod("web-1", { owner: "ReplicaSet" }), pod("bare")] })),
    ).toEqual({ effect: "allow" });
  });
});
