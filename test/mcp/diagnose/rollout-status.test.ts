import { describe, expect, it } from "vitest";
import { rolloutStatus } from "../../../mcp/diagnose/describe.ts";

type Deployment = Parameters<typeof rolloutStatus>[0];

const deployment = (replicas: number, status: NonNullable<Deployment["status"]>): Deployment => ({
  metadata: { name: "web", generation: 2 },
  spec: { replicas, selector: {}, template: {} },
  status: { observedGeneration: 2, ...status },
});

describe("rolloutStatus", () => {
  it("is complete when the replicas asked for are updated and available, and no more run", () => {
    expect(rolloutStatus(deployment(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 1 }))).toEqual({
      done: true,
      message: "Rollout complete: all replicas updated and available",
    });
  });

  it("is not complete while a scale-down has not reached the ReplicaSet's pods", () => {
    // The Deployment has seen the new spec; the ReplicaSet still counts both pods.
    expect(rolloutStatus(deployment(1, { replicas: 2, updatedReplicas: 2, availableReplicas: 2 }))).toEqual({
      done: false,
      message: "Waiting for the scale-down to finish: 2 replicas for 1 wanted",
    });
  });

  it("waits for an unobserved spec, an unfinished update and unavailable replicas, as kubectl does", () => {
    expect(rolloutStatus({ ...deployment(2, {}), status: { observedGeneration: 1 } }).done).toBe(false);
    expect(
      rolloutStatus(deployment(2, { replicas: 2, updatedReplicas: 1, availableReplicas: 2 })).message,
    ).toMatch(/1 of 2 updated/);
    expect(
      rolloutStatus(deployment(2, { replicas: 2, updatedReplicas: 2, availableReplicas: 1 })).message,
    ).toMatch(/1 of 2 updated replicas are available/);
  });
});
