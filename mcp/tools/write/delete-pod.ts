import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { namespaceArg, podArg } from "../read/support/args.ts";
import { namespacePolicy, notFound } from "../read/support/scope.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { budgetsIn, targetOf } from "./support/targets.ts";

const inputSchema = writeInput({ namespace: namespaceArg, name: podArg });

export const deletePod = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "delete_pod",
  title: "Evict a pod (needs approval)",
  description:
    "Propose removing one pod through the Eviction API, so PodDisruptionBudgets are respected; its controller (ReplicaSet, StatefulSet…) starts a replacement. There is no force or grace-period option, and a budget that allows no disruption blocks the eviction (reported, never bypassed). Returns at once with 'pending approval (id act_…)'; a human approver (not the requester) must approve.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "delete_pod", args, {
      kind: "Pod",
      namespace: args.namespace,
      name: args.name,
    });
    if (refused) return refused;
    const { deps, signal } = context;
    namespacePolicy(deps).assert(args.namespace);
    const pod = await deps.kube.core
      .readPod(args.namespace, args.name, signal)
      .catch((error: unknown) =>
        notFound(deps, error, { kind: "Pod", namespace: args.namespace, name: args.name }, signal),
      );
    const pdbs = await budgetsIn(deps, args.namespace, signal);
    const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller);
    const preview = [
      `Pod ${args.namespace}/${args.name} on node ${pod.spec?.nodeName ?? "(unscheduled)"}, phase ${pod.status?.phase ?? "?"}, is evicted (graceful termination, ${pod.spec?.terminationGracePeriodSeconds ?? 30} s).`,
      owner
        ? `Owned by ${owner.kind} ${owner.name}: a replacement pod is created.`
        : "Not owned by a controller: nothing will recreate it.",
    ];
    return propose(context, {
      tool: "delete_pod",
      rawArguments: args,
      arguments: { namespace: args.namespace, name: args.name },
      target: targetOf("Pod", { metadata: { ...pod.metadata, generation: undefined } }),
      object: pod,
      pods: [pod],
      pdbs,
      summary: `Evict pod ${args.namespace}/${args.name}.`,
      preview,
      ...(owner
        ? {}
        : { flags: [{ rule: "bare-pod", message: "This pod has no controller; once evicted it is gone." }] }),
    });
  },
});
