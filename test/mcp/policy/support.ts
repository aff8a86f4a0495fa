import type { Pod, PodDisruptionBudget } from "../../../core/kube/types.ts";
import type { PolicyInput } from "../../../mcp/policy/types.ts";

export function input(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    tool: "delete_pod",
    arguments: { namespace: "shop", name: "web-1" },
    requester: { kind: "slack", teamId: "T1", id: "U_ALICE" },
    cluster: "test",
    target: { kind: "Pod", namespace: "shop", name: "web-1" },
    ...overrides,
  };
}

export function pod(
  name: string,
  extra: { labels?: Record<string, string>; owner?: string; namespace?: string } = {},
): Pod {
  return {
    metadata: {
      name,
      namespace: extra.namespace ?? "shop",
      labels: extra.labels ?? {},
      ...(extra.owner
        ? {
            ownerReferences: [
              { apiVersion: "apps/v1", kind: extra.owner, name: "owner", uid: "o-1", controller: true },
            ],
          }
        : {}),
    },
  };
}

export function budget(name: string, selector: Record<string, string>, allowed: number): PodDisruptionBudget {
  return {
    metadata: { name, namespace: "shop" },
    spec: { selector: { matchLabels: selector } },
    status: { disruptionsAllowed: allowed, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1 },
  };
}
