import type { Identity } from "../../core/identity/identity.ts";
import type { KubeObject, Pod, PodDisruptionBudget } from "../../core/kube/types.ts";
import type { ObjectChange } from "../../core/actions/object-risk.ts";
import type { PodTemplateChange } from "../../core/actions/pod-spec.ts";
import type { RiskFlag } from "../../core/actions/schema.ts";

/**
 * Guardrails as code. Each rule is one module with a stable id; a rule looks
 * at a proposed write (tool, arguments, the live target and the pods it
 * affects) and allows it, flags it on the approval card, or refuses it with a
 * sentence that names the rule.
 */
export interface PolicyInput {
  tool: string;
  /** The arguments as the caller sent them (before normalisation). */
  arguments: Record<string, unknown>;
  requester: Identity | undefined;
  cluster: string;
  target: { kind: string; namespace?: string | undefined; name: string; object?: KubeObject | undefined };
  /** Pods the action would restart, evict or reschedule, when the tool knows them. */
  pods?: readonly Pod[];
  /** PodDisruptionBudgets in the namespaces of those pods. */
  pdbs?: readonly PodDisruptionBudget[];
  /** Pod templates the write creates or replaces (from its action type). */
  podTemplates?: readonly PodTemplateChange[];
  /**
   * Every object the write creates or changes, whole: the live object and the
   * API server's dry-run result. Workloads among them are analysed by the
   * pod-spec rules (in place of a `podTemplates` entry of the same workload),
   * every object by the indirect-write rule.
   */
  objects?: readonly ObjectChange[];
}

export type RuleVerdict =
  | { effect: "allow" }
  | { effect: "flag"; flag: RiskFlag | readonly RiskFlag[] }
  | { effect: "deny"; message: string; offer?: "propose_git_change" };

export interface PolicyRule {
  id: string;
  evaluate(input: PolicyInput): RuleVerdict | Promise<RuleVerdict>;
}

/** A rule that needs no I/O. */
export interface SyncPolicyRule extends PolicyRule {
  evaluate(input: PolicyInput): RuleVerdict;
}

export type PolicyDecision =
  | { allowed: true; flags: RiskFlag[]; risk: "normal" | "high" }
  | { allowed: false; rule: string; message: string; offer?: "propose_git_change" };

export const allow: RuleVerdict = { effect: "allow" };

/** "Refused by rule <id>: <sentence>" — the shape every refusal takes. */
export function refusal(rule: string, sentence: string): string {
  return `Refused by rule ${rule}: ${sentence}`;
}
