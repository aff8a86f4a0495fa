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
  scope?: { namespaces: readonly string[]; channel: string };
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
      const channel = lists.scope!.channel;
      return {
        allowed: false,
        rule: "channel-scope",
        message: `namespace "${namespace}" is outside the scope of ${channel === "dm" ? "direct messages" : `channel ${channel}`} (DEPUTY_CHANNEL_NAMESPACES: ${scope.map((a) => a.glob).join(", ") || "none"})`,
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
    restricted: allow.length > 0 || deny.length > 0 || scope !== undefined,
  };
}
