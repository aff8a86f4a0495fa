import type { McpDeps } from "../../../deps.ts";
import { namespacePolicy } from "../../read/support/scope.ts";

/**
 * Every write's target against what the conversation may change, before
 * anything is read: a namespaced target's namespace against the allow/deny
 * lists and the channel's namespaces, a cluster-scoped target (a node, whose
 * cordon or drain affects every namespace) against a channel scope that says
 * `@cluster` explicitly. Throws POLICY_DENIED naming the rule.
 */
export function assertTargetInScope(
  deps: McpDeps,
  tool: string,
  target: { kind: string; namespace?: string | undefined; name: string },
): void {
  const policy = namespacePolicy(deps);
  if (target.namespace) policy.assert(target.namespace);
  else policy.assertClusterWide(`${tool} on ${target.kind} ${target.name}`);
}
