import { allow, refusal, type SyncPolicyRule } from "./types.ts";

/**
 * No writes in protected namespaces: kube-system, kube-public,
 * kube-node-lease and the configured ones. The configured deny list of the
 * read side counts too: a namespace Deputy may not read, it may not change.
 */
export const PROTECTED_NAMESPACE_RULE = "protected-namespace";

export function protectedNamespace(options: {
  protectedNamespaces: readonly string[];
  denied: readonly string[];
}): {
  rule: SyncPolicyRule;
  isProtected: (namespace: string) => boolean;
} {
  const isProtected = (namespace: string): boolean =>
    options.protectedNamespaces.includes(namespace) || options.denied.includes(namespace);
  return {
    isProtected,
    rule: {
      id: PROTECTED_NAMESPACE_RULE,
      evaluate(input) {
        const namespace = input.target.namespace;
        if (namespace && isProtected(namespace)) {
          return {
            effect: "deny",
            message: refusal(
              PROTECTED_NAMESPACE_RULE,
              `namespace ${namespace} is protected; Deputy does not change anything there. Ask the platform team.`,
            ),
          };
        }
        // A node drain touches pods in every namespace: those in protected ones are left in place.
        const touched = [...new Set((input.pods ?? []).map((pod) => pod.metadata?.namespace ?? ""))].filter(
          (ns) => ns && isProtected(ns),
        );
        if (touched.length > 0) {
          return {
            effect: "flag",
            flag: {
              rule: PROTECTED_NAMESPACE_RULE,
              message: `Pods in protected namespace(s) ${touched.join(", ")} are not evicted and stay on the node.`,
            },
          };
        }
        return allow;
      },
    },
  };
}
