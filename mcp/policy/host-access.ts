import { HOST_ACCESS_RULE, hostAccessOf } from "../../core/actions/pod-spec.ts";
import { podTemplatesOf } from "./pod-templates.ts";
import { allow, refusal, type SyncPolicyRule } from "./types.ts";

/**
 * No pod Deputy writes may reach into its node: privileged containers,
 * hostPath volumes, the node's network/PID/IPC namespaces, host ports,
 * SELinux spc_t, Windows HostProcess and capabilities beyond a small
 * allow-list are refused, whoever approves. Such
 * workloads belong in Git, reviewed as platform changes.
 */
export function hostAccess(options: { allowedCapabilities: readonly string[] }): SyncPolicyRule {
  return {
    id: HOST_ACCESS_RULE,
    evaluate(input) {
      for (const change of podTemplatesOf(input)) {
        const found = hostAccessOf(change.after, options.allowedCapabilities);
        if (found.length === 0) continue;
        return {
          effect: "deny",
          message: refusal(
            HOST_ACCESS_RULE,
            `${change.workload} would get access to its node: ${found.join("; ")}. Deputy never runs pods with host access; change such workloads through Git.`,
          ),
        };
      }
      return allow;
    },
  };
}
