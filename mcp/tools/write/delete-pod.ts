import { namespaceArg, podArg } from "../read/support/args.ts";
import { namespacePolicy, notFound } from "../read/support/scope.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { defineWriteTool, precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { budgetsIn, matchLabelsSelector, targetOf } from "./support/targets.ts";
import type { McpDeps } from "../../deps.ts";

const type = actions.deletePod;

const inputSchema = writeInput({ namespace: namespaceArg, name: podArg });

/**
 * The label selector of a pod's controller (matchLabels only; undefined when
 * it has expressions too or cannot be read): the verdict looks for the
 * replacement with it.
 */
async function controllerSelector(
  deps: McpDeps,
  namespace: string,
  owner: { kind: string; name: string },
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    const resource = await deps.kube.discovery.resolve(owner.kind, signal);
    const controller = await deps.kube.get<{
      spec?: { selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } };
    }>(deps.kube.discovery.path(resource, namespace, owner.name), undefined, signal);
    const selector = controller.spec?.selector;
    if (selector?.matchExpressions?.length) return undefined;
    return matchLabelsSelector(selector?.matchLabels);
  } catch {
    return undefined;
  }
}

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
    // Its controller's replacement is among the pods the controller's selector picks, and is none
    // of those there now. (A pod's own labels are no guide: binding adds the node's zone.)
    const labelSelector = owner ? await controllerSelector(deps, args.namespace, owner, signal) : undefined;
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
