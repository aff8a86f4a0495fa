import { describe, expect, it } from "vitest";
import type { Node, Pod } from "../../../core/kube/types.ts";
import { analyseNode, nodeUsage } from "../../../mcp/diagnose/node.ts";

const node: Node = {
  metadata: { name: "node-c" },
  spec: {
    taints: [
      { key: "node.kubernetes.io/not-ready", effect: "NoExecute" },
      { key: "dedicated", value: "gpu", effect: "NoSchedule" },
    ],
  },
  status: {
    allocatable: { cpu: "4", memory: "8Gi", pods: "110" },
    conditions: [
      {
        type: "Ready",
        status: "False",
        reason: "KubeletNotReady",
        message: "PLEG is not healthy",
        lastHeartbeatTime: "2025-01-01T11:50:00Z",
      },
      {
        type: "MemoryPressure",
        status: "True",
        reason: "KubeletHasInsufficientMemory",
        message: "available memory 90Mi",
      },
    ],
  },
};

describe("analyseNode", () => {
  it("reports NotReady and MemoryPressure with their messages as evidence", () => {
    const d = analyseNode(node, [], Date.parse("2025-01-01T12:00:00Z"));
    expect(d.status).toBe("NotReady");
    expect(d.severity).toBe("critical");
    const rules = d.findings.map((f) => f.rule);
    expect(rules).toEqual(expect.arrayContaining(["node-not-ready", "memory-pressure", "taints"]));
    // The controller's not-ready taint repeats the condition; only the others are news.
    expect(d.findings.find((f) => f.rule === "taints")?.evidence[0]?.lines).toEqual([
      "dedicated=gpu:NoSchedule",
    ]);
    expect(d.findings.find((f) => f.rule === "node-not-ready")?.summary).toContain(
      "last kubelet heartbeat 10m ago",
    );
    expect(d.findings.find((f) => f.rule === "memory-pressure")?.evidence[0]?.lines).toEqual([
      "available memory 90Mi",
    ]);
  });

  it("sums requests of active pods against allocatable", () => {
    const pods: Pod[] = [
      {
        spec: { containers: [{ name: "a", resources: { requests: { cpu: "500m", memory: "1Gi" } } }] },
        status: { phase: "Running" },
      },
      {
        spec: { containers: [{ name: "b", resources: { requests: { cpu: "2", memory: "6Gi" } } }] },
        status: { phase: "Running" },
      },
      {
        spec: { containers: [{ name: "c", resources: { requests: { cpu: "8" } } }] },
        status: { phase: "Succeeded" },
      },
    ];
    const usage = nodeUsage(node, pods);
    expect(usage.cpuRequests).toBe(2.5);
    expect(usage.memoryRequests).toBe(7 * 1024 ** 3);
    expect(usage.pods).toBe(2);
    expect(analyseNode(node, pods).findings.some((f) => f.rule === "overcommitted")).toBe(false);
    const full = [
      ...pods,
      {
        spec: { containers: [{ name: "d", resources: { requests: { memory: "1Gi" } } }] },
        status: { phase: "Running" },
      },
    ];
    const over = analyseNode(node, full).findings.find((f) => f.rule === "overcommitted");
    expect(over?.facts?.memoryPercent).toBe(100);
  });
});
