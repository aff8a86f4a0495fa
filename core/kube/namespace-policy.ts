import { CLUSTER_WIDE, describeScope, type ChannelScope } from "../identity/access.ts";
import { DeputyError } from "../errors.ts";

/**
 * Which namespaces Deputy may look at, from DEPUTY_NAMESPACE_ALLOW and
 * DEPUTY_NAMESPACE_DENY (comma-separated names, `*` globs allowed). Deny wins;
 * a non-empty allow list admits only what it names. A refusal names the rule.
 */
export interface NamespaceDecision {
  allowed: boolean;
  /** Stable rule id for audit: "namespace-deny" or "namespace-allow". */
  rule?: string;
  message?: string;
}

export interface NamespacePolicy {
  check(namespace: string): NamespaceDecision;
  allows(namespace: string): boolean;
  /** Throws POLICY_DENIED naming the rule. */
  assert(namespace: string): void;
  /**
   * Throws POLICY_DENIED (rule channel-scope) unless the conversation may
   * change cluster-scoped objects: no channel scope, or one naming @cluster.
   * `what` names the change ("cordon_node on node n1").
   */
  assertClusterWide(what: string): void;
  /** True when some namespaces are hidden (lists across namespaces are filtered). */
  readonly restricted: boolean;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

export function createNamespacePolicy(lists: {
  allow: readonly string[];
  deny: readonly string[];
  /**
   * A further allow list: the namespaces of the conversation's channel
   * (DEPUTY_CHANNEL_NAMESPACES). Both lists must admit a namespace.
   */
  scope?: ChannelScope;
}): NamespacePolicy {
  const allow = lists.allow.map((glob) => ({ glob, re: globToRegExp(glob) }));
  const deny = lists.deny.map((glob) => ({ glob, re: globToRegExp(glob) }));
  const scope = lists.scope?.namespaces.map((glob) => ({ glob, re: globToRegExp(glob) }));
  const check = (namespace: string): NamespaceDecision => {
    const denied = deny.find((d) => d.re.test(namespace));
    if (denied) {
      return {
        allowed: false,
        rule: "namespace-deny",
        message: `namespace "${namespace}" is denied by the namespace deny list (DEPUTY_NAMESPACE_DENY entry "${denied.glob}")`,
      };
    }
    if (allow.length > 0 && !allow.some((a) => a.re.test(namespace))) {
      return {
        allowed: false,
        rule: "namespace-allow",
        message: `namespace "${namespace}" is not in the namespace allow list (DEPUTY_NAMESPACE_ALLOW: ${allow.map((a) => a.glob).join(", ")})`,
      };
    }
    if (scope && !scope.some((a) => a.re.test(namespace))) {
      return {
        allowed: false,
        rule: "channel-scope",
        message: `namespace "${namespace}" is outside the scope of ${describeScope(lists.scope!)}`,
      };
    }
    return { allowed: true };
  };
  return {
    check,
    allows: (namespace) => check(namespace).allowed,
    assert(namespace) {
      const decision = check(namespace);
      if (!decision.allowed) {
        throw new DeputyError("POLICY_DENIED", decision.message!, {
          details: { rule: decision.rule, namespace },
        });
      }
    },
    assertClusterWide(what) {
      const channelScope = lists.scope;
      if (!channelScope || channelScope.clusterWide) return;
      throw new DeputyError(
        "POLICY_DENIED",
        `${what} affects the whole cluster, and the scope of ${describeScope(channelScope)} does not include ${CLUSTER_WIDE}; ask in a channel whose scope does.`,
        { details: { rule: "channel-scope" } },
      );
    },
    restricted: allow.length > 0 || deny.length > 0 || scope !== undefined,
  };
}
