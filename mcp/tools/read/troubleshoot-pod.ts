import { z } from "zod";
import { isKubeApiError } from "../../../core/kube/errors.ts";
import type { Pod } from "../../../core/kube/types.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { diagnosePod } from "../../diagnose/pod-evidence.ts";
import { plural } from "../../diagnose/format.ts";
import { podOwner, summarisePod } from "../../diagnose/pod-status.ts";
import type { Diagnosis } from "../../diagnose/types.ts";
import { namespaceArg } from "./support/args.ts";
import { objectName } from "../../../core/kube/names.ts";
import { createOutput } from "./support/output.ts";
import { podsOfWorkload, readPodClearly } from "./support/pods.ts";
import { namespacePolicy } from "./support/scope.ts";

const inputSchema = z.object({
  namespace: namespaceArg,
  name: objectName("name").describe(
    "a pod, or a Deployment/StatefulSet/DaemonSet to diagnose its unhealthy pods",
  ),
});

const MAX_PODS = 3;
/** The shared gathering and analysis (the triage watcher takes the same path). */
function evidenceFor(deps: McpDeps, pod: Pod, signal: AbortSignal): Promise<Diagnosis> {
  return diagnosePod(deps.kube, pod, signal);
}

/** What makes two pods' diagnoses the same: their rules and the facts that name the cause. */
function sameness(diagnosis: Diagnosis): string {
  return JSON.stringify(
    diagnosis.findings.map((f) => [f.rule, f.facts?.reason, f.facts?.exitCode, f.facts?.image]),
  );
}

export const troubleshootPod = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "troubleshoot_pod",
  title: "Troubleshoot a pod or workload",
  description:
    "Start here for 'why is X failing?': the probable cause and the evidence for it (exit code and the log lines of a crash, OOMKilled with the limit, image pull error, scheduler reason, probes, NotReady node), with next steps.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    namespacePolicy(deps).assert(args.namespace);
    let pods: Pod[];
    let scope: string | undefined;
    let workloadPods: number | undefined;
    try {
      pods = [await deps.kube.core.readPod(args.namespace, args.name, signal)];
    } catch (error) {
      if (!isKubeApiError(error, 404)) throw error;
      const workload = await podsOfWorkload(deps, args.namespace, args.name, signal);
      if (!workload) {
        // Neither a pod nor a workload: let the pod lookup explain (namespace missing, close names).
        await readPodClearly(deps, args.namespace, args.name, signal);
        throw error;
      }
      const summaries = workload.pods.map((p) => ({ pod: p, summary: summarisePod(p) }));
      const unhealthy = summaries.filter((s) => s.summary.unhealthy);
      pods = (unhealthy.length > 0 ? unhealthy : summaries)
        .slice(0, unhealthy.length > 0 ? MAX_PODS : 1)
        .map((s) => s.pod);
      workloadPods = workload.pods.length;
      scope = `${workload.kind} ${args.namespace}/${args.name}: ${plural(workload.pods.length, "pod")}, ${unhealthy.length} unhealthy${unhealthy.length > MAX_PODS ? `, diagnosing the first ${MAX_PODS}` : ""}`;
      if (workload.pods.length === 0) {
        const out = createOutput(deps.config.kube.outputTokenBudget);
        out.line(
          `${scope}. It has no pods; run describe_deployment to see its rollout and ReplicaSet events.`,
        );
        return out.result({
          namespace: args.namespace,
          workload: { kind: workload.kind, name: args.name },
          pods: [],
        });
      }
    }
    const diagnoses = await Promise.all(pods.map((pod) => evidenceFor(deps, pod, signal)));
    const out = createOutput(deps.config.kube.outputTokenBudget);
    // Replicas failing the same way are one diagnosis: the first in full, the others by name.
    const shown = new Map<string, string>();
    for (const diagnosis of diagnoses) {
      const key = sameness(diagnosis);
      const first = shown.get(key);
      if (first) {
        out.line(`${diagnosis.subject}: ${diagnosis.status}, the same findings as ${first}.`);
        continue;
      }
      shown.set(key, diagnosis.subject.split(" ")[1] ?? diagnosis.subject);
      out.diagnosis(diagnosis, `${diagnosis.subject}, ${diagnosis.status}:`);
    }
    // The workload's size matters when it has replicas besides the ones shown.
    if (scope && (workloadPods ?? 0) > 1) out.line(`${scope}.`);
    return out.result({
      namespace: args.namespace,
      pods: diagnoses.map((d, i) => ({
        name: pods[i]?.metadata?.name,
        // The workload the pod belongs to (a Deployment through its ReplicaSet), for what follows.
        ...(pods[i] && podOwner(pods[i]) ? { owner: podOwner(pods[i]) } : {}),
        status: d.status,
        severity: d.severity,
        findings: d.findings.map((f) => ({
          rule: f.rule,
          severity: f.severity,
          ...(f.facts ? { facts: f.facts } : {}),
        })),
      })),
    });
  },
});
