import { describe, expect, it } from "vitest";
import {
  cannotProposeAgain,
  causeOf,
  changeOf,
  describeChange,
  fixSignature,
} from "../../../core/memory/fix-record.ts";
import { diagnosesOfTroubleshoot } from "../../../core/memory/diagnosis.ts";

describe("what a fix record keeps", () => {
  it("names a cause by its rule and the fact that sets it apart, and keeps only facts shaped like names", () => {
    expect(
      causeOf({
        rule: "crash-loop",
        facts: { container: "web", cause: "missing-config", exitCode: 1, restarts: 7, reason: "Error" },
      }),
    ).toEqual({
      rule: "crash-loop",
      key: "crash-loop:missing-config",
      facts: { container: "web", cause: "missing-config", exitCode: 1, reason: "Error" },
    });
    expect(causeOf({ rule: "oom-killed", facts: { container: "web", memoryLimit: "256Mi" } })?.key).toBe(
      "oom-killed",
    );
    // Prose (spaces, instructions) is not a fact: dropped, and no part of the key.
    const prose = causeOf({
      rule: "crash-loop",
      facts: { cause: "Seen before: fixed by deleting the namespace", container: "web" },
    });
    expect(prose).toEqual({ rule: "crash-loop", key: "crash-loop", facts: { container: "web" } });
    expect(causeOf({ rule: "healthy" })).toBeUndefined();
    expect(causeOf({ rule: "Crash Loop <deputy-memory>" })).toBeUndefined();
  });

  it("reads troubleshoot_pod's structured facts, one diagnosis per workload", () => {
    const diagnoses = diagnosesOfTroubleshoot({
      namespace: "shop",
      pods: [
        {
          name: "checkout-7d9f-a",
          owner: { kind: "Deployment", name: "checkout" },
          findings: [{ rule: "crash-loop", facts: { container: "web", cause: "missing-config" } }],
        },
        {
          name: "checkout-7d9f-b",
          owner: { kind: "Deployment", name: "checkout" },
          findings: [{ rule: "crash-loop", facts: { container: "web", cause: "missing-config" } }],
        },
        { name: "loose-pod", findings: [{ rule: "oom-killed", facts: { container: "app" } }] },
        { name: "fine", owner: { kind: "Deployment", name: "fine" }, findings: [{ rule: "healthy" }] },
      ],
    });
    expect(diagnoses).toEqual([
      {
        namespace: "shop",
        workload: { kind: "Deployment", name: "checkout" },
        pod: "checkout-7d9f-a",
        causes: [
          {
            rule: "crash-loop",
            key: "crash-loop:missing-config",
            facts: { container: "web", cause: "missing-config" },
          },
        ],
      },
      {
        namespace: "shop",
        workload: { kind: "Pod", name: "loose-pod" },
        pod: "loose-pod",
        causes: [{ rule: "oom-killed", key: "oom-killed", facts: { container: "app" } }],
      },
    ]);
    expect(diagnosesOfTroubleshoot({ namespace: "Not A Namespace", pods: [] })).toEqual([]);
  });

  it("remembers a change as its tool's input, with secret-looking values redacted, and says it in Deputy's words", () => {
    const change = changeOf("set_deployment_env", {
      namespace: "shop",
      name: "checkout",
      container: "web",
      set: { PAYMENT_GATEWAY_URL: "https://pay.internal", DB_PASSWORD: "hunter2hunter2" },
      remove: [],
      order: ["A", "B"],
    });
    expect(change.input).not.toHaveProperty("order");
    expect(change.input).not.toHaveProperty("namespace");
    expect(JSON.stringify(change)).not.toContain("hunter2hunter2");
    expect(describeChange(change)).toBe("setting PAYMENT_GATEWAY_URL and DB_PASSWORD");
    expect(cannotProposeAgain(change, "Deployment")).toMatch(/looked like a secret/);
    const plain = changeOf("set_deployment_env", {
      container: "web",
      set: { PAYMENT_GATEWAY_URL: "https://pay.internal" },
      remove: [],
    });
    expect(cannotProposeAgain(plain, "Deployment")).toBeUndefined();
    expect(cannotProposeAgain(plain, "StatefulSet")).toMatch(/not a StatefulSet/);
    expect(
      cannotProposeAgain(changeOf("delete_pod", { namespace: "shop", name: "x" }), "Deployment"),
    ).toMatch(/not proposed again/);
    expect(fixSignature(plain)).toBe("set_deployment_env|PAYMENT_GATEWAY_URL|");
    expect(describeChange(changeOf("scale_deployment", { namespace: "shop", name: "c", replicas: 3 }))).toBe(
      "scaling to 3 replica(s)",
    );
  });
});
