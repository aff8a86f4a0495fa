import { causeOf, type Cause } from "./fix-record.ts";

/**
 * A diagnosis as the memory reads it: which workload, which pod, and the
 * causes its findings name, from the structured facts of troubleshoot_pod
 * (and the triage watcher's findings), never from its text.
 */
export interface DiagnosedWorkload {
  namespace: string;
  workload: { kind: string; name: string };
  pod?: string;
  causes: Cause[];
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KIND = /^[A-Z][A-Za-z]*$/;

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

/** Causes named by a list of findings `{rule, facts}`; one per cause key. */
export function causesOf(findings: unknown): Cause[] {
  const seen = new Map<string, Cause>();
  for (const finding of Array.isArray(findings) ? findings : []) {
    const cause = causeOf(record(finding));
    if (cause && !seen.has(cause.key)) seen.set(cause.key, cause);
  }
  return [...seen.values()];
}

/**
 * troubleshoot_pod's structuredContent as diagnosed workloads: one per
 * workload (its pods' causes merged), a pod without an owner as itself.
 */
export function diagnosesOfTroubleshoot(structured: unknown): DiagnosedWorkload[] {
  const content = record(structured);
  const namespace = content.namespace;
  if (typeof namespace !== "string" || !NAME.test(namespace)) return [];
  const byWorkload = new Map<string, DiagnosedWorkload>();
  for (const raw of Array.isArray(content.pods) ? content.pods : []) {
    const pod = record(raw);
    const podName = typeof pod.name === "string" && NAME.test(pod.name) ? pod.name : undefined;
    const owner = record(pod.owner);
    const workload =
      typeof owner.kind === "string" &&
      KIND.test(owner.kind) &&
      typeof owner.name === "string" &&
      NAME.test(owner.name)
        ? { kind: owner.kind, name: owner.name }
        : podName
          ? { kind: "Pod", name: podName }
          : undefined;
    if (!workload) continue;
    const causes = causesOf(pod.findings);
    if (causes.length === 0) continue;
    const key = `${workload.kind}/${workload.name}`;
    const known = byWorkload.get(key);
    if (known) {
      for (const cause of causes)
        if (!known.causes.some((c) => c.key === cause.key)) known.causes.push(cause);
    } else {
      byWorkload.set(key, { namespace, workload, ...(podName ? { pod: podName } : {}), causes });
    }
  }
  return [...byWorkload.values()];
}
