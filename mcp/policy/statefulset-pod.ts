import type { Pod } from "../../core/kube/types.ts";
import { allow, type SyncPolicyRule } from "./types.ts";

/**
 * StatefulSet pods carry identity and storage: evicting one takes a replica of
 * a database or quorum down until it comes back under the same name. Allowed,
 * but flagged high-risk on the approval card with the reason.
 */
export const STATEFULSET_POD_RULE = "statefulset-pod";

export function statefulSetOwner(pod: Pod): string | undefined {
  return pod.metadata?.ownerReferences?.find((owner) => owner.kind === "StatefulSet" && owner.controller)
    ?.name;
}

export const statefulsetPod: SyncPolicyRule = {
  id: STATEFULSET_POD_RULE,
  evaluate(input) {
    const stateful = (input.pods ?? [])
      .map((pod) => ({ pod, owner: statefulSetOwner(pod) }))
      .filter((entry): entry is { pod: Pod; owner: string } => entry.owner !== undefined);
    if (stateful.length === 0) return allow;
    const names = stateful.map(
      ({ pod, owner }) => `${pod.metadata?.namespace}/${pod.metadata?.name} (StatefulSet ${owner})`,
    );
    return {
      effect: "flag",
      flag: {
        rule: STATEFULSET_POD_RULE,
        message: `High risk: ${names.join(", ")} ${stateful.length === 1 ? "is a StatefulSet pod" : "are StatefulSet pods"}; the replica is down until it returns with the same identity and storage.`,
      },
    };
  },
};
