import { describe, expect, it } from "vitest";
import type { Node, Pod } from "../../core/kube/types.ts";
import { nodeProblem, podProblem, podSubject } from "../../watcher/problems.ts";

function pod(status: Pod["status"], metadata: Pod["metadata"] = {}): Pod {
  return { metadata: { name: "checkout-7d9f8c6b5-abcde", namespace: "shop", ...metadata }, status };
}

const running = {
  name: "app",
  ready: true,
  restartCount: 0,
  image: "x",
  imageID: "",
  state: { running: {} },
};

describe("podProblem", () => {
  it("sees CrashLoopBackOff", () => {
    const p = pod({
      phase: "Running",
      containerStatuses: [{ ...running, ready: false, state: { waiting: { reason: "CrashLoopBackOff" } } }],
    });
    expect(podProblem(p)).toEqual({ reason: "crash-loop", status: "CrashLoopBackOff", container: "app" });
  });

  it("prefers OOMKilled over the crash loop it causes", () => {
    const p = pod({
      phase: "Running",
      containerStatuses: [
        {
          ...running,
          ready: false,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: { terminated: { reason: "OOMKilled", exitCode: 137 } },
        },
      ],
    });
    expect(podProblem(p)?.reason).toBe("oom-killed");
  });

  it("ignores an old OOM kill of a container that now runs fine", () => {
    const p = pod({
      phase: "Running",
      containerStatuses: [{ ...running, lastState: { terminated: { reason: "OOMKilled", exitCode: 137 } } }],
    });
    expect(podProblem(p)).toBeUndefined();
  });

  it("sees image pull failures and unschedulable pods", () => {
    expect(
      podProblem(
        pod({
          phase: "Pending",
          containerStatuses: [{ ...running, ready: false, state: { waiting: { reason: "ErrImagePull" } } }],
        }),
      )?.reason,
    ).toBe("image-pull");
    expect(
      podProblem(
        pod({
          phase: "Pending",
          conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
        }),
      )?.reason,
    ).toBe("unschedulable");
  });

  it("says nothing for healthy, starting or terminating pods", () => {
    expect(podProblem(pod({ phase: "Running", containerStatuses: [running] }))).toBeUndefined();
    expect(
      podProblem(
        pod({
          phase: "Pending",
          containerStatuses: [
            { ...running, ready: false, state: { waiting: { reason: "ContainerCreating" } } },
          ],
        }),
      ),
    ).toBeUndefined();
    const terminating = pod(
      {
        phase: "Running",
        containerStatuses: [{ ...running, state: { waiting: { reason: "CrashLoopBackOff" } } }],
      },
      { deletionTimestamp: "2026-01-01T00:00:00Z" },
    );
    expect(podProblem(terminating)).toBeUndefined();
  });
});

describe("podSubject", () => {
  it("names the Deployment behind a ReplicaSet so replicas share one message", () => {
    const p = pod(
      {},
      {
        labels: { "pod-template-hash": "7d9f8c6b5" },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "ReplicaSet",
            name: "checkout-7d9f8c6b5",
            uid: "u",
            controller: true,
          },
        ],
      },
    );
    expect(podSubject(p)).toEqual({
      kind: "Deployment",
      namespace: "shop",
      name: "checkout",
      pod: "checkout-7d9f8c6b5-abcde",
    });
  });

  it("names a bare pod itself", () => {
    expect(podSubject(pod({}))).toMatchObject({ kind: "Pod", name: "checkout-7d9f8c6b5-abcde" });
  });
});

describe("nodeProblem", () => {
  const node = (status: string | undefined): Node => ({
    metadata: { name: "node-c" },
    status: status === undefined ? {} : { conditions: [{ type: "Ready", status }] },
  });
  it("sees NotReady and Unknown, not Ready or a node still registering", () => {
    expect(nodeProblem(node("False"))?.reason).toBe("node-not-ready");
    expect(nodeProblem(node("Unknown"))?.status).toBe("NotReady (Unknown)");
    expect(nodeProblem(node("True"))).toBeUndefined();
    expect(nodeProblem(node(undefined))).toBeUndefined();
  });
});
