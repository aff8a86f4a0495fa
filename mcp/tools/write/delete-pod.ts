import { namespaceArg, podArg } from "../read/support/args.ts";
import { namespacePolicy, notFound } from "../read/support/scope.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { budgetsIn, targetOf } from "./support/targets.ts";

const type = actions.deletePod;

const inputSchema = writeInput({ namespace: namespaceArg, name: podArg });

export const deletePod = defineWriteTool<typeof inputSchema.shape>(type, {
  title: "Evict a pod (needs approval)",
  description:
    "Propose evicting one pod through the Eviction API; its controller replaces it. No force or grace-period option; a PodDisruptionBudget that allows no disruption blocks it (reported, never bypassed).",
  inputSchema,
  annotations: { idempotentHint: false },
  async handler(args, context) {
    const refused = precheck(context, type, args, {
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
    // Its controller's replacement carries the same labels and is none of the pods seen now.
    const labels = Object.entries(pod.metadata?.labels ?? {});
    const labelSelector =
      owner && labels.length > 0 ? labels.map(([key, value]) => `${key}=${value}`).join(",") : undefined;
    const siblings = labelSelector
      ? (await deps.kube.core.listPods(args.namespace, { labelSelector, maxItems: 500, signal })).items
          .map((sibling) => sibling.metadata?.name ?? "")
          .slice(0, 500)
      : undefined;
    return propose(context, type, {
      rawArguments: args,
      arguments: { namespace: args.namespace, name: args.name },
      evidence: {
        node: pod.spec?.nodeName ?? "(unscheduled)",
        phase: pod.status?.phase ?? "?",
        gracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds ?? 30,
        ...(owner ? { owner: `${owner.kind} ${owner.name}` } : {}),
        ...(labelSelector && siblings ? { labelSelector, siblings } : {}),
      },
      target: targetOf("Pod", { metadata: { ...pod.metadata, generation: undefined } }),
      object: pod,
      pods: [pod],
      pdbs,
    });
  },
});
