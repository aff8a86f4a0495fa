import type { KubeEvent, Node, Pod } from "../../core/kube/types.ts";

/**
 * What the rule-based analysers produce. A finding's `summary` is Deputy's own
 * sentence (only sanitised values inside); `evidence` is cluster-sourced text
 * that the renderer fences as untrusted data.
 */
export type Severity = "ok" | "info" | "warning" | "critical";

export interface Evidence {
  /** Where the text comes from, e.g. "events shop/checkout-1" or "pod-log shop/checkout-1/app (previous)". */
  source: string;
  lines: string[];
}

export interface Finding {
  /** Stable rule id, e.g. "crash-loop", "oom-killed", "image-pull", "unschedulable". */
  rule: string;
  severity: Severity;
  summary: string;
  evidence: Evidence[];
  /** Facts for structuredContent: numbers, names, reasons (no free text). */
  facts?: Record<string, string | number | boolean | undefined>;
  /** Suggested next steps, in Deputy's words. */
  next?: string[];
}

/** A container's log as the pod rules read it. */
export interface ContainerLog {
  container: string;
  previous: boolean;
  lines: string[];
  /** Why no log could be read (e.g. the container never started). */
  error?: string | undefined;
}

/** Everything a pod diagnosis reads. */
export interface PodEvidence {
  pod: Pod;
  events: KubeEvent[];
  logs: ContainerLog[];
  node?: Node | undefined;
  now?: number;
}

export interface Diagnosis {
  subject: string;
  status: string;
  severity: Severity;
  findings: Finding[];
}

const ORDER: Record<Severity, number> = { ok: 0, info: 1, warning: 2, critical: 3 };

export function worst(severities: readonly Severity[]): Severity {
  return severities.reduce<Severity>((a, b) => (ORDER[b] > ORDER[a] ? b : a), "ok");
}

export function bySeverity(a: Finding, b: Finding): number {
  return ORDER[b.severity] - ORDER[a.severity];
}
