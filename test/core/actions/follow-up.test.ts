import { describe, expect, it } from "vitest";
import { effectOf, inverseOf } from "../../../core/actions/follow-up.ts";
import type { PendingAction } from "../../../core/actions/schema.ts";

type Stored = Pick<PendingAction, "tool" | "arguments" | "evidence" | "state" | "target">;

function executed(tool: string, args: Record<string, unknown>, evidence: Record<string, unknown>): Stored {
  return {
    tool,
    arguments: args,
    evidence,
    state: "succeeded",
    target: { kind: "Deployment", namespace: "shop", name: "web", uid: "u-1" },
  };
}

const ref = { namespace: "shop", name: "web" };
const podSpec = {
  containers: [
    {
      name: "app",
      env: [
        { name: "MODE", value: "fast" },
        { name: "TOKEN", valueFrom: { secretKeyRef: { name: "s", key: "k" } } },
      ],
    },
  ],
};

describe("inverseOf", () => {
  it("puts back what each reversible action replaced, from its stored evidence", () => {
    expect(
      inverseOf(executed("scale_deployment", { ...ref, replicas: 5 }, { currentReplicas: 2, pods: [] })),
    ).toMatchObject({ tool: "scale_deployment", arguments: { ...ref, replicas: 2 } });
    expect(
      inverseOf(
        executed(
          "set_deployment_image",
          { ...ref, container: "app", image: "web:2" },
          { currentImage: "web:1", podSpec, pods: [] },
        ),
      ),
    ).toMatchObject({
      tool: "set_deployment_image",
      arguments: { ...ref, container: "app", image: "web:1" },
    });
    expect(
      inverseOf(
        executed(
          "set_deployment_env",
          { ...ref, container: "app", set: { LEVEL: "debug", MODE: "slow" }, remove: [] },
          { current: { MODE: "fast" }, podSpec, pods: [] },
        ),
      ),
    ).toMatchObject({
      tool: "set_deployment_env",
      arguments: { ...ref, container: "app", set: { MODE: "fast" }, remove: ["LEVEL"] },
    });
    expect(
      inverseOf(
        executed(
          "set_deployment_env",
          { ...ref, container: "app", set: {}, remove: ["MODE"] },
          { current: {}, podSpec, pods: [] },
        ),
      ),
    ).toMatchObject({ arguments: { set: { MODE: "fast" }, remove: [] } });
    expect(
      inverseOf(
        executed(
          "set_deployment_resources",
          { ...ref, container: "app", requests: { cpu: "500m" }, limits: {} },
          { current: { requests: { cpu: "100m" }, limits: {} }, pods: [] },
        ),
      ),
    ).toMatchObject({ arguments: { ...ref, container: "app", requests: { cpu: "100m" }, limits: {} } });
    expect(
      inverseOf(
        executed(
          "rollback_deployment",
          { ...ref, toRevision: 1, replicaSet: "web-1", replicaSetUid: "rs", template: {} },
          { currentRevision: 3, currentTemplate: {}, pods: [] },
        ),
      ),
    ).toMatchObject({ tool: "rollback_deployment", arguments: { ...ref, toRevision: 3 } });
    expect(
      inverseOf(executed("cordon_node", { name: "node-a" }, { alreadyCordoned: false, podCount: 1 })),
    ).toMatchObject({ tool: "uncordon_node", arguments: { name: "node-a" } });
    expect(
      inverseOf(executed("uncordon_node", { name: "node-a" }, { cordoned: true, ready: true })),
    ).toMatchObject({ tool: "cordon_node", arguments: { name: "node-a" } });
  });

  it("offers no undo where none is honest: restarts, unknown earlier values, no-ops, unexecuted actions", () => {
    const restart = executed("restart_deployment", ref, {
      pods: [],
      strategy: "RollingUpdate",
      maxUnavailable: "25%",
      maxSurge: "25%",
    });
    expect(inverseOf(restart)).toBeUndefined();
    // A variable that came from a Secret reference cannot come back as a plain value.
    expect(
      inverseOf(
        executed(
          "set_deployment_env",
          { ...ref, container: "app", set: {}, remove: ["TOKEN"] },
          { current: {}, podSpec, pods: [] },
        ),
      ),
    ).toBeUndefined();
    // A limit that was not set before cannot be unset through the tool.
    expect(
      inverseOf(
        executed(
          "set_deployment_resources",
          { ...ref, container: "app", requests: {}, limits: { memory: "1Gi" } },
          { current: { requests: {}, limits: {} }, pods: [] },
        ),
      ),
    ).toBeUndefined();
    expect(
      inverseOf(executed("cordon_node", { name: "node-a" }, { alreadyCordoned: true, podCount: 1 })),
    ).toBeUndefined();
    const scale = executed("scale_deployment", { ...ref, replicas: 5 }, { currentReplicas: 2, pods: [] });
    expect(inverseOf({ ...scale, state: "failed" })).toBeUndefined();
    expect(inverseOf({ ...scale, state: "pending" })).toBeUndefined();
    // Stored arguments that no longer match the declaration give nothing to propose.
    expect(inverseOf({ ...scale, arguments: { ...ref, replicas: "5" } })).toBeUndefined();
  });
});

describe("effectOf", () => {
  it("names what to watch after a run", () => {
    expect(
      effectOf(executed("scale_deployment", { ...ref, replicas: 3 }, { currentReplicas: 1, pods: [] })),
    ).toEqual({ kind: "rollout", ...ref, replicas: 3 });
    expect(
      effectOf({
        ...executed(
          "delete_pod",
          { namespace: "shop", name: "web-1" },
          {
            node: "node-a",
            phase: "Running",
            gracePeriodSeconds: 30,
            owner: "ReplicaSet web-7d",
          },
        ),
        target: { kind: "Pod", namespace: "shop", name: "web-1", uid: "pod-uid" },
      }),
    ).toEqual({
      kind: "pod-replaced",
      namespace: "shop",
      name: "web-1",
      uid: "pod-uid",
      owner: "ReplicaSet web-7d",
    });
    // With the pod's labels read at proposal, the replacement is looked for among its controller's pods.
    expect(
      effectOf({
        ...executed(
          "delete_pod",
          { namespace: "shop", name: "web-1" },
          {
            node: "node-a",
            phase: "Running",
            gracePeriodSeconds: 30,
            owner: "ReplicaSet web-7d",
            labelSelector: "app=web,pod-template-hash=7d",
            siblings: ["web-1", "web-2"],
          },
        ),
        target: { kind: "Pod", namespace: "shop", name: "web-1", uid: "pod-uid" },
      }),
    ).toMatchObject({
      kind: "pod-replaced",
      labelSelector: "app=web,pod-template-hash=7d",
      siblings: ["web-1", "web-2"],
    });
    expect(
      effectOf(executed("cordon_node", { name: "node-a" }, { alreadyCordoned: false, podCount: 0 })),
    ).toEqual({ kind: "node-schedulable", name: "node-a", unschedulable: true });
  });
});
