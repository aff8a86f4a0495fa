import type { CoordinationV1Api, CoreV1Api, ObjectCache, V1Node } from "@kubernetes/client-node";
import type { Logger } from "../../core/observability/logger.ts";
import { FAKE_NODES, MERGE_PATCH, shortHash, statusCode, type FakeNodeSpec } from "./modes.ts";

/**
 * The kubelet's node side: Node objects with their conditions and capacity,
 * kept fresh with status heartbeats and Lease renewals, and put back when a
 * test deletes one.
 */
const KUBELET_VERSION = "v1.35.4";

/** Kubernetes MicroTime wants exactly six fractional digits. */
function microTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class NodeHeartbeats {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly kubeletPort: number;
  private readonly logger: Logger;
  private readonly startedAt: Date;

  constructor(
    core: CoreV1Api,
    coordination: CoordinationV1Api,
    kubeletPort: number,
    logger: Logger,
    startedAt: Date,
  ) {
    this.core = core;
    this.coordination = coordination;
    this.kubeletPort = kubeletPort;
    this.logger = logger;
    this.startedAt = startedAt;
  }

  private nodeConditions(spec: FakeNodeSpec, now: string): Record<string, string>[] {
    const since = this.startedAt.toISOString();
    const condition = (
      type: string,
      status: string,
      reason: string,
      message: string,
    ): Record<string, string> => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: since,
    });
    return [
      spec.memoryPressure
        ? condition(
            "MemoryPressure",
            "True",
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
          )
        : condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
          ),
      condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      spec.ready
        ? condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        : condition(
            "Ready",
            "False",
            "KubeletNotReady",
            "container runtime is down: PLEG is not healthy: pleg was last seen active 3m12s ago; threshold is 3m0s",
          ),
    ];
  }

  async ensureNode(spec: FakeNodeSpec): Promise<void> {
    try {
      await this.core.readNode({ name: spec.name });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      const taints = spec.ready
        ? []
        : [
            { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" },
            ...(spec.memoryPressure
              ? [{ key: "node.kubernetes.io/memory-pressure", effect: "NoSchedule" }]
              : []),
          ];
      await this.core
        .createNode({
          body: {
            metadata: {
              name: spec.name,
              labels: {
                "kubernetes.io/hostname": spec.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "m6i.xlarge",
                "topology.kubernetes.io/zone": spec.name === "node-b" ? "zone-b" : "zone-a",
              },
            },
            spec: { taints },
          },
        })
        .catch((createError: unknown) => {
          if (statusCode(createError) !== 409) throw createError;
        });
    }
    await this.patchNodeStatus(spec, true);
    await this.renewLease(spec);
  }

  private async patchNodeStatus(spec: FakeNodeSpec, full: boolean): Promise<void> {
    const now = new Date().toISOString();
    const status: Record<string, unknown> = { conditions: this.nodeConditions(spec, now) };
    if (full) {
      Object.assign(status, {
        addresses: [
          { type: "InternalIP", address: "127.0.0.1" },
          { type: "Hostname", address: spec.name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletPort } },
        capacity: { cpu: "4", memory: "16317640Ki", pods: "110", "ephemeral-storage": "101203188Ki" },
        allocatable: { cpu: "3920m", memory: "15166664Ki", pods: "110", "ephemeral-storage": "93268106Ki" },
        nodeInfo: {
          machineID: shortHash(`machine-${spec.name}`, 32),
          systemUUID: shortHash(`uuid-${spec.name}`, 32),
          bootID: shortHash(`boot-${spec.name}-${this.startedAt.getTime()}`, 32),
          kernelVersion: "6.8.0-1021-aws",
          osImage: "Ubuntu 24.04.2 LTS",
          containerRuntimeVersion: "containerd://2.0.4",
          kubeletVersion: KUBELET_VERSION,
          kubeProxyVersion: KUBELET_VERSION,
          operatingSystem: "linux",
          architecture: "amd64",
        },
      });
    }
    await this.core.patchNodeStatus({ name: spec.name, body: { status } }, MERGE_PATCH);
  }

  private async renewLease(spec: FakeNodeSpec): Promise<void> {
    const renewTime = microTime();
    try {
      await this.coordination.patchNamespacedLease(
        { name: spec.name, namespace: "kube-node-lease", body: { spec: { renewTime } } },
        MERGE_PATCH,
      );
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      await this.coordination.createNamespacedLease({
        namespace: "kube-node-lease",
        body: {
          metadata: { name: spec.name, namespace: "kube-node-lease" },
          spec: {
            holderIdentity: spec.name,
            leaseDurationSeconds: 40,
            renewTime: renewTime as unknown as Date,
          },
        },
      });
    }
  }

  async heartbeat(nodes: ObjectCache<V1Node> | undefined): Promise<void> {
    for (const spec of FAKE_NODES) {
      try {
        // A test may have deleted a node; put it back like a re-registering kubelet.
        if (!nodes?.get(spec.name)) await this.ensureNode(spec);
        else {
          await this.patchNodeStatus(spec, false);
          await this.renewLease(spec);
        }
      } catch (error) {
        this.logger.warn({ node: spec.name, err: String(error) }, "node heartbeat failed");
      }
    }
  }
}
