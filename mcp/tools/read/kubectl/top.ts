import { type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError, describeError } from "../../../../core/errors.ts";
import { formatCpu, formatMemory } from "../../../../core/kube/quantity.ts";
import type { WireList } from "../../../../core/kube/types.ts";
import { plural, table } from "../../../diagnose/format.ts";
import { nodeUsage } from "../../../diagnose/node.ts";
import { createOutput } from "../support/output.ts";
import { type KubectlCommand } from "./parse.ts";
import { namespacePolicy } from "../support/scope.ts";

export async function top(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const { deps, signal } = context;
  const sub = command.sub;
  if (sub !== "node" && sub !== "nodes" && sub !== "pod" && sub !== "pods" && sub !== "no" && sub !== "po") {
    throw new DeputyError("INPUT_INVALID", "top needs node or pod, e.g. top pod -n shop");
  }
  const nodes = sub.startsWith("n");
  const namespace = nodes || command.allNamespaces ? undefined : (command.namespace ?? "default");
  if (namespace) namespacePolicy(deps).assert(namespace);
  const out = createOutput(deps.config.kube.outputTokenBudget);
  const path = `/apis/metrics.k8s.io/v1beta1${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ""}/${nodes ? "nodes" : "pods"}`;
  type Usage = {
    metadata?: { name?: string; namespace?: string };
    usage?: Record<string, string>;
    containers?: { usage?: Record<string, string> }[];
  };
  try {
    const metrics = await deps.kube.get<WireList<Usage>>(path, { labelSelector: command.selector }, signal);
    const policy = namespacePolicy(deps);
    const items = metrics.items.filter((m) => nodes || policy.allows(m.metadata?.namespace ?? ""));
    out.line(`Live usage from metrics.k8s.io (${plural(items.length, nodes ? "node" : "pod")}):`);
    out.line(
      table(
        [...(nodes ? [] : ["NAMESPACE"]), "NAME", "CPU", "MEMORY"],
        items.map((m) => {
          const usage = nodes ? (m.usage ?? {}) : sumUsage(m.containers ?? []);
          return [
            ...(nodes ? [] : [m.metadata?.namespace ?? ""]),
            m.metadata?.name ?? "",
            usage.cpu ?? "?",
            usage.memory ?? "?",
          ];
        }),
      ),
    );
    return out.result({ command: "top", source: "metrics", count: items.length });
  } catch (error) {
    out.line(
      `Live usage is not available: the metrics API answered "${describeError(error).slice(0, 200)}" (metrics-server missing, or not permitted for the read identity).`,
    );
  }
  // Without metrics, requests against allocatable still say how full things are.
  if (nodes) {
    const [nodeList, pods] = await Promise.all([
      deps.kube.core.listNodes({ maxItems: 2000, signal }),
      deps.kube.core.listPods(undefined, { maxItems: 20_000, signal }),
    ]);
    out.line("Requests vs allocatable instead:");
    out.line(
      table(
        ["NAME", "CPU REQ", "CPU ALLOC", "MEM REQ", "MEM ALLOC", "PODS"],
        nodeList.items.map((node) => {
          const usage = nodeUsage(
            node,
            pods.items.filter((p) => p.spec?.nodeName === node.metadata?.name),
          );
          return [
            node.metadata?.name ?? "",
            formatCpu(usage.cpuRequests),
            formatCpu(usage.cpuAllocatable),
            formatMemory(usage.memoryRequests),
            formatMemory(usage.memoryAllocatable),
            String(usage.pods),
          ];
        }),
      ),
    );
  } else {
    const pods = await deps.kube.core.listPods(namespace, {
      labelSelector: command.selector,
      maxItems: 500,
      signal,
    });
    out.line("Requests and limits instead:");
    out.line(
      table(
        ["NAME", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM"],
        pods.items.slice(0, 100).map((pod) => {
          const usage = nodeUsage({}, [pod]);
          return [
            pod.metadata?.name ?? "",
            formatCpu(usage.cpuRequests),
            formatCpu(usage.cpuLimits),
            formatMemory(usage.memoryRequests),
            formatMemory(usage.memoryLimits),
          ];
        }),
      ),
    );
  }
  return out.result({ command: "top", source: "requests" });
}

function sumUsage(containers: { usage?: Record<string, string> }[]): Record<string, string> {
  return containers[0]?.usage ?? {};
}
