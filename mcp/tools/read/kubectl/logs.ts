import { delegate, checkName, type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import { checkLogs } from "../check-logs.ts";
import { type KubectlCommand } from "./parse.ts";
import { podsOfWorkload } from "../support/pods.ts";
import { namespacePolicy } from "../support/scope.ts";

export async function logs(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const [target] = command.args;
  if (!target)
    throw new DeputyError("INPUT_INVALID", "logs needs a pod name, e.g. logs checkout-7d9f-x2x4q -n shop");
  const namespace = command.namespace ?? "default";
  let pod = target;
  if (target.includes("/")) {
    const [type, name] = target.split("/") as [string, string | undefined];
    if (!name) throw new DeputyError("INPUT_INVALID", `"${target}" is not TYPE/NAME`);
    if (/^(po|pod|pods)$/.test(type)) pod = name;
    else {
      namespacePolicy(context.deps).assert(namespace);
      checkName(name, "workload name");
      const workload = await podsOfWorkload(context.deps, namespace, name, context.signal);
      const first = workload?.pods[0]?.metadata?.name;
      if (!first) throw new DeputyError("NOT_FOUND", `no pods found for ${target} in namespace ${namespace}`);
      pod = first;
    }
  }
  return delegate(
    checkLogs,
    {
      namespace,
      pod,
      container: command.container,
      tailLines: command.tail ?? 100,
      sinceSeconds: command.sinceSeconds,
      previous: command.previous,
      timestamps: command.timestamps,
    },
    context,
  );
}
