import { isKubeApiError } from "../../kube/errors.ts";
import type { Node } from "../../kube/types.ts";
import { ActionFailed, assertUnchanged, type RunContext } from "../action-type.ts";
import { nodePath } from "./support.ts";

/** Node status changes constantly, so the uid is the precondition. */
export async function liveNode(context: RunContext<{ name: string }>): Promise<Node> {
  const { name } = context.args;
  try {
    const node = await context.kube.get<Node>(nodePath(name));
    assertUnchanged(node, { ...context.action.target, generation: undefined }, `Node ${name}`);
    return node;
  } catch (error) {
    if (isKubeApiError(error, 404))
      throw new ActionFailed("NOT_FOUND", `Node ${name} no longer exists; nothing was done.`, 404);
    throw error;
  }
}

export async function setUnschedulable(
  context: RunContext<unknown>,
  node: Node,
  unschedulable: boolean,
): Promise<void> {
  await context.kube.patch(
    nodePath(node.metadata?.name ?? ""),
    // The uid in the body is immutable: a different node of the same name fails with 422.
    { metadata: { uid: node.metadata?.uid }, spec: { unschedulable: unschedulable ? true : null } },
    "merge",
    { fieldManager: "deputy" },
  );
}
