import { podSpecRisks, type PodSpecOptions } from "../../core/actions/pod-spec.ts";
import { podTemplatesOf } from "./pod-templates.ts";
import { allow, type SyncPolicyRule } from "./types.ts";

/**
 * Pod templates that read Secrets, change their service account or token,
 * opt out of the sandbox, pin a node, pull images from outside the allowed
 * registries, run as root or as a DaemonSet, or remove hardening the live
 * workload had are allowed, but high risk: two-person rule and the confirm
 * dialog, with the Secret, account, image or setting named on the card.
 */
export const POD_SPEC_RISK_RULE = "pod-spec-risk";

export function podSpecRisk(options: PodSpecOptions): SyncPolicyRule {
  return {
    id: POD_SPEC_RISK_RULE,
    evaluate(input) {
      const flags = podTemplatesOf(input).flatMap((change) => podSpecRisks(change, options));
      return flags.length > 0 ? { effect: "flag", flag: flags } : allow;
    },
  };
}
