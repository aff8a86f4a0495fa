import { delegate, targets, resolveReadable, namespaceFor, type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import { describeDeployment } from "../describe-deployment.ts";
import { describePod } from "../describe-pod.ts";
import { getResource } from "../get-resource.ts";
import { troubleshootNode } from "../troubleshoot-node.ts";
import { type KubectlCommand } from "./parse.ts";

export async function describe(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const wanted = targets(command.args);
  if (wanted.length !== 1 || wanted[0]!.names.length !== 1) {
    throw new DeputyError(
      "INPUT_INVALID",
      "describe needs exactly one TYPE and NAME, e.g. describe pod checkout-7d9f-x2x4q -n shop",
    );
  }
  const { type, names } = wanted[0]!;
  const name = names[0]!;
  const resource = await resolveReadable(context.deps, type, context.signal);
  const namespace = namespaceFor(command, resource) ?? command.namespace;
  if (resource.resource === "pods" && resource.group === "")
    return delegate(describePod, { namespace, pod: name }, context);
  if (resource.resource === "deployments" && resource.group === "apps")
    return delegate(describeDeployment, { namespace, name }, context);
  if (resource.resource === "nodes" && resource.group === "")
    return delegate(troubleshootNode, { name }, context);
  return delegate(
    getResource,
    { kind: type, name, namespace: resource.namespaced ? namespace : undefined },
    context,
  );
}
