import { objectRisks } from "../../core/actions/object-risk.ts";
import type { RiskFlag } from "../../core/actions/schema.ts";
import { allow, refusal, type SyncPolicyRule } from "./types.ts";

/**
 * Objects without a pod template that make controllers write elsewhere:
 * Service externalIPs and Ingress snippet annotations are refused (each under
 * its own rule id); exposure outside the cluster, redirected traffic, an HPA
 * taking over a workload, a budget that blocks every eviction, new owners and
 * finalizers are high risk, named on the card. See core/actions/object-risk.ts.
 */
export const INDIRECT_WRITE_RULE = "indirect-write";

export const indirectWrite: SyncPolicyRule = {
  id: INDIRECT_WRITE_RULE,
  evaluate(input) {
    const flags: RiskFlag[] = [];
    for (const change of input.objects ?? []) {
      const risks = objectRisks(change);
      const refused = risks.refusals[0];
      if (refused) return { effect: "deny", message: refusal(refused.rule, refused.sentence) };
      flags.push(...risks.flags);
    }
    return flags.length > 0 ? { effect: "flag", flag: flags } : allow;
  },
};
