import type { TriageMessage, TriageObjectRef } from "../core/observability/alerts.ts";
import { describeError } from "../core/errors.ts";
import type { KubeClients } from "../core/kube/client.ts";
import type { Node, Pod } from "../core/kube/types.ts";
import { redactText } from "../core/untrusted/redact.ts";
import { analyseNode } from "../mcp/diagnose/node.ts";
import { diagnosePod } from "../mcp/diagnose/pod-evidence.ts";
import type { Diagnosis, Finding } from "../mcp/diagnose/types.ts";
import type { Problem } from "./problems.ts";

/**
 * Builds the triage message: the MCP server's rule-based analysers (the same
 * ones troubleshoot_pod and troubleshoot_node use) over the pod's events, the
 * previous log of the failing container and its node. Evidence is cluster
 * text: it is redacted here and quoted, and the surface that posts it must
 * still sanitise it (no mentions, no links).
 */

const EVIDENCE_LINES = 12;

export function renderDiagnosis(diagnosis: Diagnosis): string {
  const lines: string[] = [];
  for (const finding of diagnosis.findings) {
    if (finding.severity === "ok") continue;
    lines.push(`• ${redactText(finding.summary)}`);
    for (const evidence of finding.evidence) {
      const shown = evidence.lines.slice(-EVIDENCE_LINES);
      lines.push(`  ${redactText(evidence.source)} (cluster text, untrusted):`);
      for (const line of shown) lines.push(`  > ${redactText(line).slice(0, 300)}`);
    }
    for (const next of finding.next ?? []) lines.push(`  Next: ${redactText(next)}`);
  }
  return lines.length > 0 ? lines.join("\n") : "No rule explains it yet; ask Deputy to troubleshoot it.";
}

function title(subject: TriageObjectRef, problem: Problem): string {
  const where = subject.namespace ? `${subject.namespace}/${subject.name}` : subject.name;
  const pod = subject.pod && subject.pod !== subject.name ? ` (pod ${subject.pod})` : "";
  const what: Record<Problem["reason"], string> = {
    "crash-loop": "is crash-looping (CrashLoopBackOff)",
    "oom-killed": "was OOMKilled",
    "image-pull": `cannot pull its image (${problem.status})`,
    unschedulable: "cannot be scheduled",
    "node-not-ready": `is ${problem.status}`,
  };
  return `Triage: ${subject.kind} ${where}${pod} ${what[problem.reason]}`;
}

/** Diagnose, render, and wrap as a triage message; a failed diagnosis says so and what was seen. */
async function triageMessage(
  subject: TriageObjectRef,
  problem: Problem,
  diagnose: () => Promise<Diagnosis>,
  seen: string,
  payload: (severity: string | undefined) => Record<string, unknown>,
): Promise<TriageMessage> {
  let diagnosis: string;
  let severity: string | undefined;
  /** The findings' rules and facts (no text): what the bot recalls earlier fixes by. */
  let findings: { rule: string; facts?: Finding["facts"] }[] = [];
  try {
    const result = await diagnose();
    diagnosis = renderDiagnosis(result);
    severity = result.severity;
    findings = result.findings.map((f) => ({ rule: f.rule, ...(f.facts ? { facts: f.facts } : {}) }));
  } catch (error) {
    diagnosis = `The rule-based diagnosis failed (${describeError(error)}); ${seen}.`;
  }
  return {
    reason: problem.reason,
    object: subject,
    title: title(subject, problem),
    diagnosis,
    at: new Date().toISOString(),
    payload: { ...payload(severity), findings },
  };
}

export function buildPodTriage(
  kube: KubeClients,
  pod: Pod,
  subject: TriageObjectRef,
  problem: Problem,
  signal: AbortSignal,
): Promise<TriageMessage> {
  return triageMessage(
    subject,
    problem,
    // The same gathering and analysis as troubleshoot_pod, so chat and triage agree on a pod.
    () => diagnosePod(kube, pod, signal),
    `the pod shows ${problem.status}`,
    (severity) => ({
      status: problem.status,
      container: problem.container,
      severity,
      uid: pod.metadata?.uid,
    }),
  );
}

export function buildNodeTriage(
  kube: KubeClients,
  node: Node,
  subject: TriageObjectRef,
  problem: Problem,
  signal: AbortSignal,
): Promise<TriageMessage> {
  return triageMessage(
    subject,
    problem,
    async () => {
      const name = node.metadata?.name ?? "";
      const pods = await kube.core
        .listPods(undefined, { fieldSelector: `spec.nodeName=${name}`, maxItems: 500, signal })
        .then((list) => list.items)
        .catch(() => undefined);
      return analyseNode(node, pods);
    },
    `the node is ${problem.status}`,
    (severity) => ({ status: problem.status, severity, uid: node.metadata?.uid }),
  );
}
