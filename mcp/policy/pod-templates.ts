import type { PodTemplateChange } from "../../core/actions/pod-spec.ts";
import { podTemplateChangeOf } from "../../core/actions/object-risk.ts";
import type { PolicyInput } from "./types.ts";

/**
 * The pod templates a write results in, for the pod-spec rules: those derived
 * from `objects` (the API server's dry-run result) and, for workloads
 * `objects` does not cover, the ones the action type declares. When both name
 * a workload the result wins: it is what will be stored.
 */
export function podTemplatesOf(input: PolicyInput): PodTemplateChange[] {
  const fromObjects = (input.objects ?? []).flatMap((change) => {
    const template = podTemplateChangeOf(change);
    return template === undefined ? [] : [template];
  });
  const covered = new Set((input.objects ?? []).map((change) => change.workload));
  return [...fromObjects, ...(input.podTemplates ?? []).filter((change) => !covered.has(change.workload))];
}
