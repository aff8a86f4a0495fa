import { DeputyError, isDeputyError } from "../../../../core/errors.ts";
import { isKubeApiError } from "../../../../core/kube/errors.ts";
import { createNamespacePolicy, type NamespacePolicy } from "../../../../core/kube/namespace-policy.ts";
import type { McpDeps } from "../../../deps.ts";

/**
 * Namespace scope for read tools: the configured allow/deny lists, existence
 * checks that turn an empty answer into "namespace x does not exist", and
 * not-found errors that suggest the names the caller probably meant.
 */
const policies = new WeakMap<object, Map<string, NamespacePolicy>>();

/** The configured lists, narrowed to the calling conversation's channel scope when it has one. */
export function namespacePolicy(deps: McpDeps): NamespacePolicy {
  let byScope = policies.get(deps.config);
  if (!byScope) {
    byScope = new Map();
    policies.set(deps.config, byScope);
  }
  const scope = deps.namespaceScope;
  const key = scope ? `${scope.channel}=${scope.namespaces.join("|")}${scope.clusterWide ? "|@" : ""}` : "";
  let policy = byScope.get(key);
  if (!policy) {
    policy = createNamespacePolicy({
      allow: deps.config.kube.namespaceAllow,
      deny: deps.config.kube.namespaceDeny,
      ...(scope ? { scope } : {}),
    });
    byScope.set(key, policy);
  }
  return policy;
}

export async function namespaceExists(
  deps: McpDeps,
  namespace: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await deps.kube.core.readNamespace(namespace, signal);
    return true;
  } catch (error) {
    if (isKubeApiError(error, 404)) return false;
    // Without permission to read the namespace we cannot tell; assume it exists.
    if (isKubeApiError(error, 403)) return true;
    throw error;
  }
}

/** Policy first (no API call for a denied namespace), then existence. */
export async function requireNamespace(
  deps: McpDeps,
  namespace: string,
  signal?: AbortSignal,
): Promise<void> {
  namespacePolicy(deps).assert(namespace);
  if (!(await namespaceExists(deps, namespace, signal))) {
    throw new DeputyError("NOT_FOUND", `namespace "${namespace}" does not exist`, { details: { namespace } });
  }
}

/** Names that contain or start like the wanted one: "checkout" → "checkout-7d9f-x2x4q". */
export function similarNames(wanted: string, names: readonly string[], max = 5): string[] {
  const stem = wanted.replace(/-[a-z0-9]{5}$/, "").replace(/-[a-f0-9]{8,10}$/, "");
  return names.filter((n) => n !== wanted && (n.startsWith(stem) || n.includes(wanted))).slice(0, max);
}

/**
 * Turn a 404 for a namespaced object into the clearest sentence: the
 * namespace is missing, or the object is, with close matches.
 */
export async function notFound(
  deps: McpDeps,
  error: unknown,
  what: { kind: string; namespace: string; name: string; candidates?: () => Promise<string[]> },
  signal?: AbortSignal,
): Promise<never> {
  if (!isKubeApiError(error, 404)) throw error;
  if (!(await namespaceExists(deps, what.namespace, signal))) {
    throw new DeputyError("NOT_FOUND", `namespace "${what.namespace}" does not exist`, {
      details: { namespace: what.namespace },
    });
  }
  let hint = "";
  if (what.candidates) {
    const similar = similarNames(what.name, await what.candidates().catch(() => []));
    if (similar.length > 0) hint = `; did you mean ${similar.join(", ")}?`;
  }
  throw new DeputyError(
    "NOT_FOUND",
    `${what.kind} "${what.name}" not found in namespace ${what.namespace}${hint}`,
    {
      details: { kind: what.kind, namespace: what.namespace, name: what.name },
    },
  );
}

/** Clear sentences for API refusals of user-supplied selectors. */
export function explainSelectorError(error: unknown, selector: string | undefined, kind = "label"): never {
  if (isKubeApiError(error, 400) && selector) {
    throw new DeputyError("INPUT_INVALID", `${kind} selector "${selector}" is invalid: ${error.message}`);
  }
  if (isDeputyError(error)) throw error;
  throw error;
}
