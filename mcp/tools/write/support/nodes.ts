import type { Node, Pod } from "../../../../core/kube/types.ts";
import type { McpDeps } from "../../../deps.ts";

export async function readNode(deps: McpDeps, name: string, signal: AbortSignal): Promise<Node> {
  return deps.kube.core.readNode(name, signal);
}

export async function podsOnNode(deps: McpDeps, name: string, signal: AbortSignal): Promise<Pod[]> {
  return (
    await deps.kube.core.listPods(undefined, {
      fieldSelector: `spec.nodeName=${name}`,
      maxItems: 2000,
      signal,
    })
  ).items;
}
