import { randomBytes } from "node:crypto";
import { KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { serverSideApply } from "../helpers/kube-apply.ts";
import { adminKubeConfig } from "../helpers/testenv.ts";

/**
 * Many test files set up the same cluster-wide objects (the action roles,
 * OpenBao's RBAC, deputy-reader) at the same time from their own workers.
 * Reading an object and writing it back with that resourceVersion loses to
 * any other writer in between (409 Conflict); the shared helper must not.
 */
describe("shared cluster objects applied by many test files at once", () => {
  const name = `deputy-test-shared-${randomBytes(3).toString("hex")}`;
  const api = KubernetesObjectApi.makeApiClient(adminKubeConfig());
  const role = (verbs: string[]) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs }],
  });

  afterAll(async () => {
    await api.delete(role([]));
  });

  it("creates, then changes, an object from twelve writers at once without a conflict", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => serverSideApply(adminKubeConfig(), role(["get"]))),
    );
    expect(results.filter((result) => result.status === "rejected")).toEqual([]);

    // A changed manifest in a reused environment takes effect, again with everyone at once.
    const changed = await Promise.allSettled(
      Array.from({ length: 12 }, () => serverSideApply(adminKubeConfig(), role(["get", "list"]))),
    );
    expect(changed.filter((result) => result.status === "rejected")).toEqual([]);
    const live = (await api.read(role([]))) as KubernetesObject & { rules: { verbs: string[] }[] };
    expect(live.rules.map((rule) => rule.verbs)).toEqual([["get", "list"]]);
  });
});
