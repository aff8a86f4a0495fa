import { podOwner, podStatus } from "./pod-status.ts";
import {
  CONTAINER_RULES,
  POD_RULES_AFTER_CONTAINERS,
  POD_RULES_BEFORE_CONTAINERS,
  containersOf,
  nothingFound,
  podContext,
  type PodRule,
} from "./pod-rules.ts";
import { bySeverity, worst, type Diagnosis, type Finding, type PodEvidence } from "./types.ts";

export { classifyCrash, eventLines, explainingLines } from "./pod-text.ts";

/**
 * Rule-based pod diagnosis: the probable cause with its evidence, without a
 * model. Each rule (pod-rules.ts) reads only the pod, its events, the logs of
 * containers that failed and the node it runs on; the result is useful to a
 * person on its own.
 */
export function analysePod(input: PodEvidence): Diagnosis {
  const { pod } = input;
  const findings: Finding[] = [];
  const context = podContext(input, input.now ?? Date.now(), findings);
  const apply = (rules: readonly PodRule[]): void => {
    for (const rule of rules) {
      const finding = rule(context);
      if (finding) findings.push(finding);
    }
  };
  apply(POD_RULES_BEFORE_CONTAINERS);
  for (const container of containersOf(pod)) {
    for (const rule of CONTAINER_RULES) {
      const finding = rule(context, container);
      if (finding) {
        findings.push(finding);
        break;
      }
    }
  }
  apply(POD_RULES_AFTER_CONTAINERS);
  const status = podStatus(pod);
  if (findings.length === 0) findings.push(nothingFound(context, status));
  findings.sort(bySeverity);
  const namespace = pod.metadata?.namespace ?? "";
  const owner = podOwner(pod);
  return {
    subject: `pod ${context.ref}${owner ? ` (${owner.kind} ${namespace}/${owner.name})` : ""}`,
    status,
    severity: worst(findings.map((f) => f.severity)),
    findings,
  };
}
