import { z } from "zod";
import { isKubeApiError } from "../../../core/kube/errors.ts";
import type { Node, Pod } from "../../../core/kube/types.ts";
import { describeError } from "../../../core/errors.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { analysePod, type ContainerLog } from "../../diagnose/pod.ts";
import { summarisePod } from "../../diagnose/pod-status.ts";
import type { Diagnosis } from "../../diagnose/types.ts";
import { namespaceArg } from "./support/args.ts";
import { objectName } from "../../../core/kube/names.ts";
import { createOutput } from "./support/output.ts";
import { podsOfWorkload, readPodClearly } from "./support/pods.ts";
import { namespacePolicy } from "./support/scope.ts";

const inputSchema = z.object({
  namespace: namespaceArg,
  name: objectName("name").describe(
    "a pod name, or a Deployment/StatefulSet/DaemonSet name to diagnose its unhealthy pods (e.g. checkout)",
  ),
});

const MAX_PODS = 3;
const LOG_LINES = 60;

/** Gather what the analyser needs: events, the node, and logs of containers that failed. */
async function evidenceFor(deps: McpDeps, pod: Pod, signal: AbortSignal): Promise<Diagnosis> {
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  const failed = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ].filter(
    (s) =>
      (s.restartCount ?? 0) > 0 ||
      s.state?.terminated !== undefined ||
      s.lastState?.terminated !== undefined ||
      s.state?.waiting?.reason === "CrashLoopBackOff",
  );
  const readLog = async (container: string, previous: boolean): Promise<ContainerLog> => {
    try {
      const tail = await deps.kube.logs.tail(namespace, name, {
        container,
        previous,
        tailLines: LOG_LINES,
        signal,
      });
      return { container, previous, lines: tail.lines };
    } catch (error) {
      return { container, previous, lines: [], error: describeError(error) };
    }
  };
  const [events, node, logs] = await Promise.all([
    deps.kube.events.forObject({ kind: "Pod", namespace, name, uid: pod.metadata?.uid }, signal),
    pod.spec?.nodeName
      ? deps.kube.core.readNode(pod.spec.nodeName, signal).catch((): Node | undefined => undefined)
      : Promise.resolve(undefined),
    Promise.all(
      failed.map(async (s) => {
        // The previous run's log explains a crash; fall back to the current one.
        const previous = await readLog(s.name, true);
        if (previous.lines.length > 0) return previous;
        const current = await readLog(s.name, false);
        return current.lines.length > 0 ? current : previous;
      }),
    ),
  ]);
  return analysePod({ pod, events, logs, node });
}

export const troubleshootPod = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "troubleshoot_pod",
  title: "Troubleshoot a pod or workload",
  description:
    "Diagnose why a pod (or the pods of a Deployment/StatefulSet/DaemonSet, by name) is failing, without guessing: rule-based analysis of status, events, the previous container log and the node. States the probable cause with evidence — CrashLoopBackOff with exit code and the log lines that explain it, OOMKilled with the memory limit, ImagePullBackOff with the image and pull error, Pending/unschedulable with the scheduler's reason, failing probes, NotReady node — plus next steps. Start here for 'why is X broken?'.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    namespacePolicy(deps).assert(args.namespace);
    let pods: Pod[];
    let scope: string;
    try {
      pods = [await deps.kube.core.readPod(args.namespace, args.name, signal)];
      scope = `pod ${args.namespace}/${args.name}`;
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
      scope = `${workload.kind} ${args.namespace}/${args.name}: ${workload.pods.length} pods, ${unhealthy.length} unhealthy${unhealthy.length > MAX_PODS ? `, diagnosing the first ${MAX_PODS}` : ""}`;
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
    out.line(`Diagnosis of ${scope}.`);
    for (const diagnosis of diagnoses) {
      out.line(`\n${diagnosis.subject}: ${diagnosis.status} [${diagnosis.severity}]`);
      out.diagnosis(diagnosis);
    }
    return out.result({
      namespace: args.namespace,
      pods: diagnoses.map((d, i) => ({
        name: pods[i]?.metadata?.name,
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
