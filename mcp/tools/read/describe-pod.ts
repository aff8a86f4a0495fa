import { z } from "zod";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { describePod as describePodText } from "../../diagnose/describe.ts";
import { summarisePod } from "../../diagnose/pod-status.ts";
import { namespaceArg, podArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { readPodClearly } from "./support/pods.ts";
import { namespacePolicy } from "./support/scope.ts";

const inputSchema = z.object({ namespace: namespaceArg, pod: podArg });

export const describePod = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "describe_pod",
  title: "Describe a pod",
  description:
    "One pod in detail, like kubectl describe: containers, states, restarts, resources, probes, env (Secret values never shown), conditions, volumes, events. For the cause of a failure use troubleshoot_pod.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    namespacePolicy(deps).assert(args.namespace);
    const pod = await readPodClearly(deps, args.namespace, args.pod, signal);
    const events = await deps.kube.events.forObject(
      { kind: "Pod", namespace: args.namespace, name: args.pod, uid: pod.metadata?.uid },
      signal,
    );
    const summary = summarisePod(pod);
    const out = createOutput(deps.config.kube.outputTokenBudget);
    out.line(
      `Pod ${args.namespace}/${args.pod}: ${summary.status}, ready ${summary.ready}, ${summary.restarts} restarts, node ${summary.node}, age ${summary.age}.`,
    );
    out.data(`describe pod ${args.namespace}/${args.pod}`, describePodText(pod, events));
    return out.result({
      namespace: args.namespace,
      name: args.pod,
      uid: pod.metadata?.uid,
      status: summary.status,
      phase: pod.status?.phase,
      ready: summary.ready,
      restarts: summary.restarts,
      node: summary.node,
      containers: (pod.spec?.containers ?? []).map((c) => c.name),
      events: events.length,
    });
  },
});
