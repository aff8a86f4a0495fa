import { allow, refusal, type SyncPolicyRule } from "./types.ts";

/**
 * Deputy never force-deletes and never skips graceful termination. The write
 * tools' schemas do not even have `force` or `gracePeriodSeconds` (a request
 * naming them is refused by the schema with this rule's id); this rule also
 * catches them nested in a manifest or patch, and a pod template that sets
 * `terminationGracePeriodSeconds: 0`.
 */
export const NO_FORCE_RULE = "no-force";

export const FORBIDDEN_ARGUMENTS = [
  "force",
  "gracePeriodSeconds",
  "grace_period_seconds",
  "grace-period",
  "now",
];

/**
 * The first forbidden setting in a tool's arguments, as a path, or undefined:
 * a forbidden argument name at the top level, or a zero
 * terminationGracePeriodSeconds anywhere (e.g. in an applied pod template).
 * Nested keys that merely share a name (a ConfigMap entry called "force") are data.
 */
export function findForceSetting(args: Record<string, unknown>): string | undefined {
  const top = Object.keys(args).find((key) => FORBIDDEN_ARGUMENTS.includes(key));
  if (top) return top;
  return findZeroGrace(args, "");
}

function findZeroGrace(value: unknown, path: string): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const entries = Array.isArray(value)
    ? value.map((item, index) => [`[${index}]`, item] as const)
    : Object.entries(value as Record<string, unknown>).map(
        ([key, item]) => [path ? `.${key}` : key, item] as const,
      );
  for (const [step, item] of entries) {
    const here = `${path}${step}`;
    if (step.endsWith("terminationGracePeriodSeconds") && item === 0) return `${here}: 0`;
    const found = findZeroGrace(item, here);
    if (found) return found;
  }
  return undefined;
}

export function forceRefusal(setting: string): string {
  return refusal(
    NO_FORCE_RULE,
    `"${setting}" is not accepted. Deputy never force-deletes or skips graceful termination; pods are removed through the Eviction API so PodDisruptionBudgets apply.`,
  );
}

export const noForce: SyncPolicyRule = {
  id: NO_FORCE_RULE,
  evaluate(input) {
    const setting = findForceSetting(input.arguments);
    return setting ? { effect: "deny", message: forceRefusal(setting) } : allow;
  },
};
