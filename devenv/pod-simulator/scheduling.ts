import type { CoreV1Api, ObjectCache, V1Node, V1Pod } from "@kubernetes/client-node";
import { FAKE_NODES, MERGE_PATCH } from "./modes.ts";
import type { PodEvents } from "./logs-events.ts";

/**
 * The scheduler's part: bind an unscheduled pod to a Ready, schedulable fake
 * node (round robin, honouring a hostname nodeSelector), or mark it
 * Unschedulable with the scheduler's message.
 */
export class Scheduler {
  private nextNode = 0;

  private readonly core: CoreV1Api;
  private readonly events: PodEvents;
  private readonly nodes: () => ObjectCache<V1Node> | undefined;

  constructor(core: CoreV1Api, events: PodEvents, nodes: () => ObjectCache<V1Node> | undefined) {
    this.core = core;
    this.events = events;
    this.nodes = nodes;
  }

  private schedulableNodes(): string[] {
    const ready = new Set(FAKE_NODES.filter((spec) => spec.ready).map((spec) => spec.name));
    return (this.nodes()?.list() ?? [])
      .filter((node) => ready.has(node.metadata!.name!) && !node.spec?.unschedulable)
      .map((node) => node.metadata!.name!)
      .sort();
  }

  async bind(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    const wanted = pod.spec?.nodeSelector?.["kubernetes.io/hostname"];
    const candidates = this.schedulableNodes().filter((node) => wanted === undefined || node === wanted);
    if (candidates.length === 0) {
      await this.markUnschedulable(
        pod,
        `0/3 nodes are available: ${wanted ? `node(s) didn't match Pod's node affinity/selector` : "no Ready, schedulable node"}.`,
      );
      return;
    }
    const node = candidates[this.nextNode++ % candidates.length]!;
    await this.core.createNamespacedPodBinding({
      name,
      namespace,
      body: { metadata: { name, namespace }, target: { apiVersion: "v1", kind: "Node", name: node } },
    });
    void this.events.record(
      pod,
      "Normal",
      "Scheduled",
      `Successfully assigned ${namespace}/${name} to ${node}`,
      "default-scheduler",
    );
  }

  async markUnschedulable(pod: V1Pod, message: string): Promise<void> {
    const already = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (already?.status === "False" && already.message === message) return;
    const condition = {
      type: "PodScheduled",
      status: "False",
      reason: "Unschedulable",
      message,
      lastTransitionTime: new Date().toISOString(),
    };
    await this.core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        body: { status: { phase: "Pending", conditions: [condition] } },
      },
      MERGE_PATCH,
    );
    void this.events.record(pod, "Warning", "FailedScheduling", message, "default-scheduler");
  }
}
