import {
  CoordinationV1Api,
  CoreV1Api,
  makeInformer,
  type Informer,
  type KubeConfig,
  type ObjectCache,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "../../core/observability/logger.ts";
import { NodeHeartbeats } from "./heartbeats.ts";
import { PodEvents, PodLogs } from "./logs-events.ts";
import { FAKE_NODES, MERGE_PATCH, modeOf, statusCode } from "./modes.ts";
import { desiredStatus, restartCrashingContainers, statusMatches } from "./pod-status.ts";
import { Scheduler } from "./scheduling.ts";

/**
 * Plays the kubelet (and the scheduler) for fake nodes: keeps Node objects
 * and their Leases fresh (heartbeats.ts), binds unscheduled pods to a Ready
 * node (scheduling.ts), and drives each pod's status from the
 * `testenv.deputy.dev/simulate` annotation (pod-status.ts), with its logs and
 * events (logs-events.ts), so Deployments, StatefulSets and
 * PodDisruptionBudgets behave as on a cluster. This file watches and
 * dispatches.
 */
export {
  FAKE_NODES,
  LOG_TEMPLATE_ANNOTATION,
  SIMULATE_ANNOTATION,
  SIMULATION_MODES,
  type FakeNodeSpec,
  type SimulationMode,
} from "./modes.ts";
export { renderLogTemplate } from "./logs-events.ts";

const HEARTBEAT_MS = 20_000;
const RESTART_MS = 30_000;
const RESYNC_MS = 5_000;

export interface SimulatorOptions {
  kubeConfig: KubeConfig;
  kubeletPort: number;
  logsDir: string;
  templatesDir: string;
  logger: Logger;
}

export class PodSimulator {
  private readonly core: CoreV1Api;
  private readonly options: SimulatorOptions;
  private readonly logger: Logger;
  private readonly heartbeats: NodeHeartbeats;
  private readonly scheduler: Scheduler;
  private readonly logs: PodLogs;
  private readonly events: PodEvents;
  private pods: (Informer<V1Pod> & ObjectCache<V1Pod>) | undefined;
  private nodes: (Informer<V1Node> & ObjectCache<V1Node>) | undefined;
  private readonly inFlight = new Set<string>();
  /** Pods that changed while work on them was in flight: handled again right after. */
  private readonly dirty = new Set<string>();
  private readonly deleting = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(options: SimulatorOptions) {
    this.options = options;
    this.logger = options.logger;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    const coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.heartbeats = new NodeHeartbeats(
      this.core,
      coordination,
      options.kubeletPort,
      this.logger,
      new Date(),
    );
    this.events = new PodEvents(this.core, this.logger);
    this.logs = new PodLogs(options.logsDir, options.templatesDir, this.logger);
    this.scheduler = new Scheduler(this.core, this.events, () => this.nodes);
  }

  async start(): Promise<void> {
    await Promise.all(FAKE_NODES.map((node) => this.heartbeats.ensureNode(node)));
    this.nodes = makeInformer(this.options.kubeConfig, "/api/v1/nodes", () => this.core.listNode());
    this.pods = makeInformer(this.options.kubeConfig, "/api/v1/pods", () =>
      this.core.listPodForAllNamespaces(),
    );
    this.pods.on("add", (pod) => this.handle(pod));
    this.pods.on("update", (pod) => this.handle(pod));
    this.pods.on("delete", (pod) => void this.forget(pod));
    this.restartOnError(this.nodes, "nodes");
    this.restartOnError(this.pods, "pods");
    await this.nodes.start();
    await this.pods.start();
    this.timers.push(setInterval(() => void this.heartbeats.heartbeat(this.nodes), HEARTBEAT_MS));
    this.timers.push(
      setInterval(
        () => void restartCrashingContainers(this.core, this.pods?.list() ?? [], this.logger),
        RESTART_MS,
      ),
    );
    // Retry pods whose last update failed or that waited for a schedulable node (cache only, no API polling).
    this.timers.push(setInterval(() => this.resync(), RESYNC_MS));
  }

  private restartOnError(informer: Informer<V1Pod> | Informer<V1Node>, what: string): void {
    const restart = (error: unknown): void => {
      if (this.stopped) return;
      this.logger.warn({ watch: what, err: String(error) }, "watch failed; restarting in 1 s");
      setTimeout(() => {
        informer.start().catch((startError: unknown) => restart(startError));
      }, 1000);
    };
    informer.on("error", restart);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([this.pods?.stop(), this.nodes?.stop()]);
  }

  /** Why a container has no log to serve, as the kubelet says it, or undefined. */
  waitingReason(namespace: string, podName: string, container: string): string | undefined {
    const pod = this.pods?.get(podName, namespace);
    if (!pod) return undefined;
    const mode = modeOf(pod);
    if (mode === "imagepull") {
      return `container "${container}" in pod "${podName}" is waiting to start: trying and failing to pull image`;
    }
    if (mode === "pending" || !pod.spec?.nodeName) {
      return `container "${container}" in pod "${podName}" is waiting to start: ContainerCreating`;
    }
    return undefined;
  }

  private resync(): void {
    for (const pod of this.pods?.list() ?? []) this.handle(pod);
  }

  private handle(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid || this.stopped) return;
    if (this.inFlight.has(uid)) {
      this.dirty.add(uid);
      return;
    }
    if (!this.needsWork(pod)) return;
    this.inFlight.add(uid);
    this.work(pod)
      .catch((error: unknown) => {
        const code = statusCode(error);
        // 404/409: the pod changed or went away meanwhile; the watch brings the news.
        if (code !== 404 && code !== 409) {
          this.logger.warn(
            { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`, err: String(error) },
            "simulating pod failed",
          );
        }
      })
      .finally(() => {
        this.inFlight.delete(uid);
        if (!this.dirty.delete(uid)) return;
        const latest = this.pods?.get(pod.metadata!.name!, pod.metadata!.namespace);
        if (latest?.metadata?.uid === uid) this.handle(latest);
      });
  }

  private needsWork(pod: V1Pod): boolean {
    if (pod.metadata?.deletionTimestamp) return !this.deleting.has(pod.metadata.uid!);
    const mode = modeOf(pod);
    if (!pod.spec?.nodeName) {
      if (mode !== "pending") return true;
      return !pod.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False");
    }
    return !statusMatches(pod, mode);
  }

  private async work(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    const uid = pod.metadata!.uid!;
    if (pod.metadata?.deletionTimestamp) {
      // The kubelet's part of graceful deletion: containers stopped, object removed.
      this.deleting.add(uid);
      await this.core.deleteNamespacedPod({
        name,
        namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
      return;
    }
    const mode = modeOf(pod);
    if (!pod.spec?.nodeName) {
      if (mode === "pending") {
        await this.scheduler.markUnschedulable(
          pod,
          "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
        );
        return;
      }
      await this.scheduler.bind(pod);
      return;
    }
    await this.logs.writeLogs(pod, mode);
    await this.core.patchNamespacedPodStatus(
      { name, namespace, body: { status: desiredStatus(pod, mode) } },
      MERGE_PATCH,
    );
    // Events are best effort and must not hold up the next change to this pod.
    void this.events.forMode(pod, mode);
  }

  private async forget(pod: V1Pod): Promise<void> {
    if (pod.metadata?.uid) this.deleting.delete(pod.metadata.uid);
    await this.logs.forget(pod, (name, namespace) => this.pods?.get(name, namespace) !== undefined);
  }
}
