import type { Redis } from "ioredis";
import type { AuditLog } from "../../core/audit/log.ts";
import type { Config } from "../../core/config/config.ts";
import type { ConversationRef } from "../../core/identity/identity.ts";
import type { RiskFlag } from "../../core/actions/schema.ts";
import { argocdManaged } from "./argocd-managed.ts";
import { hostAccess } from "./host-access.ts";
import { indirectWrite } from "./indirect-write.ts";
import { podSpecRisk } from "./pod-spec-risk.ts";
import { noForce } from "./no-force.ts";
import { pdbRule } from "./pdb.ts";
import { protectedNamespace } from "./protected-namespace.ts";
import { rateLimit } from "./rate-limit.ts";
import { statefulsetPod } from "./statefulset-pod.ts";
import type { PolicyDecision, PolicyInput, PolicyRule, SyncPolicyRule } from "./types.ts";
import { inSpan, inSpanSync } from "../../core/observability/tracing.ts";

export type { PolicyDecision, PolicyInput, PolicyRule } from "./types.ts";

/**
 * The guardrails, in order: cheap refusals first, then flags for the card, and
 * the rate limit last so a refused proposal does not use up the budget. Every
 * evaluation is one audit event with the decision and the deciding rule.
 */
export interface Policy {
  evaluate(
    input: PolicyInput,
    context?: { conversation?: ConversationRef | undefined },
  ): Promise<PolicyDecision>;
  /**
   * The rules that judge the request and its target (no-force,
   * protected-namespace, argocd-managed), run before a tool reads anything
   * and again, with the live object, before the dry run: a refusal is
   * audited and returned, so a write aimed at kube-system is refused even
   * when the object does not exist.
   */
  precheck(
    input: PolicyInput,
    context?: { conversation?: ConversationRef | undefined },
  ): PolicyDecision | undefined;
  /** True for kube-system and the other namespaces no write may touch. */
  isProtectedNamespace(namespace: string): boolean;
  readonly rules: readonly string[];
}

export interface PolicyOptions {
  config: Pick<Config, "guardrails" | "kube" | "redis">;
  redis: Redis;
  audit: AuditLog;
  now?: () => number;
}

export function createPolicy(options: PolicyOptions): Policy {
  const guard = options.config.guardrails;
  const protectedNs = protectedNamespace({
    protectedNamespaces: guard.protectedNamespaces,
    denied: options.config.kube.namespaceDeny,
  });
  const rules: PolicyRule[] = [
    noForce,
    protectedNs.rule,
    argocdManaged,
    hostAccess({ allowedCapabilities: guard.allowedCapabilities }),
    indirectWrite,
    statefulsetPod,
    podSpecRisk({ allowedRegistries: guard.imageRegistries, allowedCapabilities: guard.allowedCapabilities }),
    pdbRule,
    rateLimit({
      redis: options.redis,
      prefix: options.config.redis.prefix,
      perUserPerMinute: guard.rateLimitUserPerMinute,
      perClusterPerMinute: guard.rateLimitClusterPerMinute,
      ...(options.now ? { now: options.now } : {}),
    }),
  ];

  // Rules that judge the request and its target, never the result: they run before anything is
  // read (no object yet) and again before the dry run (with the live object), so a write that is
  // refused anyway is refused with its rule's sentence, not with whatever the API server answers.
  const early: SyncPolicyRule[] = [noForce, protectedNs.rule, argocdManaged];

  function audit(
    input: PolicyInput,
    decision: PolicyDecision,
    flags: RiskFlag[],
    conversation: ConversationRef | undefined,
  ): void {
    options.audit.record({
      kind: "policy_decision",
      tool: input.tool,
      arguments: input.arguments,
      cluster: input.cluster,
      decision: decision.allowed ? "allow" : "deny",
      ...(decision.allowed ? {} : { rule: decision.rule, message: decision.message }),
      ...(input.requester ? { actor: input.requester } : {}),
      ...(conversation ? { conversation } : {}),
      details: {
        target: { kind: input.target.kind, namespace: input.target.namespace, name: input.target.name },
        ...(decision.allowed && flags.length > 0 ? { flags: flags.map((flag) => flag.rule) } : {}),
      },
    });
  }

  return {
    rules: rules.map((rule) => rule.id),
    precheck: (input, context = {}) =>
      inSpanSync("policy precheck", { attributes: { "deputy.tool": input.tool } }, () => {
        for (const rule of early) {
          const verdict = rule.evaluate({ ...input, pods: [] });
          if (verdict.effect !== "deny") continue;
          const decision: PolicyDecision = {
            allowed: false,
            rule: rule.id,
            message: verdict.message,
            ...(verdict.offer ? { offer: verdict.offer } : {}),
          };
          audit(input, decision, [], context.conversation);
          return decision;
        }
        return undefined;
      }),
    isProtectedNamespace: protectedNs.isProtected,
    evaluate: (input, context = {}) =>
      inSpan("policy decision", { attributes: { "deputy.tool": input.tool } }, () =>
        evaluate(input, context),
      ),
  };

  async function evaluate(
    input: PolicyInput,
    context: { conversation?: ConversationRef | undefined },
  ): Promise<PolicyDecision> {
    const flags: RiskFlag[] = [];
    let decision: PolicyDecision | undefined;
    for (const rule of rules) {
      const verdict = await rule.evaluate(input);
      if (verdict.effect === "deny") {
        const rid = verdict.message.match(/^Refused by rule ([a-z-]+):/)?.[1] ?? rule.id;
        decision = {
          allowed: false,
          rule: rid,
          message: verdict.message,
          ...(verdict.offer ? { offer: verdict.offer } : {}),
        };
        break;
      }
      if (verdict.effect === "flag") flags.push(...[verdict.flag].flat());
    }
    decision ??= { allowed: true, flags, risk: flags.length > 0 ? "high" : "normal" };
    audit(input, decision, flags, context.conversation);
    return decision;
  }
}
