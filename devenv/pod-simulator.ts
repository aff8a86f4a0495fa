import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type ObjectCache,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "../core/logger.ts";

/**
 * Plays the kubelet (and the scheduler) for fake nodes: keeps Node objects
 * and their Leases fresh, binds unscheduled pods to a Ready node, and drives
 * each pod's status from the `testenv.deputy.dev/simulate` annotation so
 * Deployments, StatefulSets and PodDisruptionBudgets behave as on a cluster.
 */
export const SIMULATE_ANNOTATION = "testenv.deputy.dev/simulate";
export const LOG_TEMPLATE_ANNOTATION = "testenv.deputy.dev/log-template";
export const SIMULATION_MODES = ["running", "crashloop", "oomkilled", "imagepull", "pending"] as const;
export type SimulationMode = (typeof SIMULATION_MODES)[number];

export interface FakeNodeSpec {
  name: string;
  ready: boolean;
  memoryPressure: boolean;
}

export const FAKE_NODES: readonly FakeNodeSpec[] = [
  { name: "node-a", ready: true, memoryPressure: false },
  { name: "node-b", ready: true, memoryPressure: false },
  { name: "node-c", ready: false, memoryPressure: true },
];

const HEARTBEAT_MS = 20_000;
const RESTART_MS = 30_000;
const RESYNC_MS = 5_000;
const KUBELET_VERSION = "v1.35.4";
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface SimulatorOptions {
  kubeConfig: KubeConfig;
  kubeletPort: number;
  logsDir: string;
  templatesDir: string;
  logger: Logger;
}

function modeOf(pod: V1Pod): SimulationMode {
  const raw = pod.metadata?.annotations?.[SIMULATE_ANNOTATION];
  return (SIMULATION_MODES as readonly string[]).includes(raw ?? "") ? (raw as SimulationMode) : "running";
}

function statusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

function shortHash(value: string, length = 64): string {
  return createHash("sha256").update(value).digest("hex").slice(0, length);
}

/** Kubernetes MicroTime wants exactly six fractional digits. */
function microTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

const SAFE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Render a log template: `{{ts}}` spreads lines one second apart ending now; `{{ts:-600}}` is now minus 600 s. */
export function renderLogTemplate(
  template: string,
  vars: { namespace: string; pod: string; container: string },
  now: number = Date.now(),
): string {
  const lines = template.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return (
    lines
      .map((line, index) =>
        line
          .replace(/\{\{ts(?::(-?\d+))?\}\}/g, (_match, offset: string | undefined) =>
            new Date(
              offset === undefined ? now - (lines.length - index) * 1000 : now + Number(offset) * 1000,
            ).toISOString(),
          )
          .replaceAll("{{namespace}}", vars.namespace)
          .replaceAll("{{pod}}", vars.pod)
          .replaceAll("{{container}}", vars.container),
      )
      .join("\n") + "\n"
  );
}

export class PodSimulator {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly options: SimulatorOptions;
  private readonly logger: Logger;
  private pods: (Informer<V1Pod> & ObjectCache<V1Pod>) | undefined;
  private nodes: (Informer<V1Node> & ObjectCache<V1Node>) | undefined;
  private readonly inFlight = new Set<string>();
  /** Pods that changed while work on them was in flight: handled again right after. */
  private readonly dirty = new Set<string>();
  private readonly deleting = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date();
  private nextNode = 0;
  private stopped = false;

  constructor(options: SimulatorOptions) {
    this.options = options;
    this.logger = options.logger;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async start(): Promise<void> {
    await Promise.all(FAKE_NODES.map((node) => this.ensureNode(node)));
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
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_MS));
    this.timers.push(setInterval(() => void this.restartCrashingContainers(), RESTART_MS));
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

  // ---- nodes ---------------------------------------------------------------

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

  private async ensureNode(spec: FakeNodeSpec): Promise<void> {
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
        daemonEndpoints: { kubeletEndpoint: { Port: this.options.kubeletPort } },
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

  private async heartbeat(): Promise<void> {
    for (const spec of FAKE_NODES) {
      try {
        // A test may have deleted a node; put it back like a re-registering kubelet.
        if (!this.nodes?.get(spec.name)) await this.ensureNode(spec);
        else {
          await this.patchNodeStatus(spec, false);
          await this.renewLease(spec);
        }
      } catch (error) {
        this.logger.warn({ node: spec.name, err: String(error) }, "node heartbeat failed");
      }
    }
  }

  private schedulableNodes(): string[] {
    const ready = new Set(FAKE_NODES.filter((spec) => spec.ready).map((spec) => spec.name));
    return (this.nodes?.list() ?? [])
      .filter((node) => ready.has(node.metadata!.name!) && !node.spec?.unschedulable)
      .map((node) => node.metadata!.name!)
      .sort();
  }

  // ---- pods ----------------------------------------------------------------

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
    return !this.statusMatches(pod, mode);
  }

  private statusMatches(pod: V1Pod, mode: SimulationMode): boolean {
    const statuses = pod.status?.containerStatuses ?? [];
    if (statuses.length !== (pod.spec?.containers.length ?? 0) || statuses.length === 0) return false;
    switch (mode) {
      case "running":
        return pod.status?.phase === "Running" && statuses.every((s) => s.ready && s.state?.running);
      case "crashloop":
        return statuses.every((s) => s.state?.waiting?.reason === "CrashLoopBackOff");
      case "oomkilled":
        return statuses.every((s) => s.state?.terminated?.reason === "OOMKilled");
      case "imagepull":
        return statuses.every((s) => s.state?.waiting?.reason === "ImagePullBackOff");
      case "pending":
        // A pending pod that someone bound anyway just sits in ContainerCreating.
        return statuses.every((s) => s.state?.waiting?.reason === "ContainerCreating");
    }
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
        await this.markUnschedulable(
          pod,
          "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
        );
        return;
      }
      await this.bind(pod);
      return;
    }
    await this.writeLogs(pod, mode);
    await this.core.patchNamespacedPodStatus(
      { name, namespace, body: { status: this.desiredStatus(pod, mode) } },
      MERGE_PATCH,
    );
    // Events are best effort and must not hold up the next change to this pod.
    void this.recordEvents(pod, mode);
  }

  private async bind(pod: V1Pod): Promise<void> {
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
    void this.event(
      pod,
      "Normal",
      "Scheduled",
      `Successfully assigned ${namespace}/${name} to ${node}`,
      "default-scheduler",
    );
  }

  private async markUnschedulable(pod: V1Pod, message: string): Promise<void> {
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
    void this.event(pod, "Warning", "FailedScheduling", message, "default-scheduler");
  }

  private desiredStatus(pod: V1Pod, mode: SimulationMode): Record<string, unknown> {
    const now = new Date().toISOString();
    const created = (pod.metadata?.creationTimestamp as unknown as string | undefined) ?? now;
    const uid = pod.metadata!.uid!;
    const running = mode === "running";
    const notReady = (reason: string): string =>
      `containers with unready status: [${pod.spec!.containers.map((c) => c.name).join(" ")}]${reason}`;
    const conditions = [
      {
        type: "PodReadyToStartContainers",
        status: mode === "imagepull" || mode === "pending" ? "False" : "True",
      },
      { type: "Initialized", status: "True" },
      running
        ? { type: "Ready", status: "True" }
        : { type: "Ready", status: "False", reason: "ContainersNotReady", message: notReady("") },
      running
        ? { type: "ContainersReady", status: "True" }
        : { type: "ContainersReady", status: "False", reason: "ContainersNotReady", message: notReady("") },
      { type: "PodScheduled", status: "True" },
    ].map((condition) => ({ ...condition, lastProbeTime: null, lastTransitionTime: now }));

    const containerStatuses = pod.spec!.containers.map((container) => {
      const previous = pod.status?.containerStatuses?.find((s) => s.name === container.name);
      const containerId = `containerd://${shortHash(`${uid}/${container.name}/${previous?.restartCount ?? 0}`)}`;
      const image = container.image ?? "";
      const base = {
        name: container.name,
        image,
        imageID: mode === "imagepull" ? "" : `${image.split(":")[0]}@sha256:${shortHash(image)}`,
        ...(mode === "imagepull" || mode === "pending" ? {} : { containerID: containerId }),
      };
      const lastExit = (reason: string, exitCode: number) => ({
        terminated: {
          exitCode,
          reason,
          startedAt: new Date(Date.now() - 45_000).toISOString(),
          finishedAt: new Date(Date.now() - 15_000).toISOString(),
          containerID: containerId,
        },
      });
      switch (mode) {
        case "running":
          return {
            ...base,
            ready: true,
            started: true,
            restartCount: previous?.restartCount ?? 0,
            state: { running: { startedAt: now } },
            lastState: previous?.lastState ?? {},
          };
        case "crashloop":
          return {
            ...base,
            ready: false,
            started: false,
            restartCount: Math.max(previous?.restartCount ?? 0, 5),
            state: {
              waiting: {
                reason: "CrashLoopBackOff",
                message: `back-off 5m0s restarting failed container=${container.name} pod=${pod.metadata!.name}_${pod.metadata!.namespace}(${uid})`,
              },
            },
            lastState: lastExit("Error", 1),
          };
        case "oomkilled":
          return {
            ...base,
            ready: false,
            started: false,
            restartCount: Math.max(previous?.restartCount ?? 0, 3),
            state: lastExit("OOMKilled", 137),
            lastState: lastExit("OOMKilled", 137),
          };
        case "imagepull":
          return {
            ...base,
            ready: false,
            started: false,
            restartCount: 0,
            state: {
              waiting: {
                reason: "ImagePullBackOff",
                message: `Back-off pulling image "${image}": ErrImagePull: failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
              },
            },
            lastState: {},
          };
        case "pending":
          return {
            ...base,
            ready: false,
            started: false,
            restartCount: 0,
            state: { waiting: { reason: "ContainerCreating" } },
            lastState: {},
          };
      }
    });

    const nodeIndex = Math.max(
      0,
      FAKE_NODES.findIndex((node) => node.name === pod.spec!.nodeName),
    );
    const ipByte = (Number.parseInt(shortHash(uid, 2), 16) % 250) + 2;
    const podIP = `10.244.${nodeIndex + 1}.${ipByte}`;
    return {
      phase: mode === "imagepull" || mode === "pending" ? "Pending" : "Running",
      conditions,
      hostIP: "127.0.0.1",
      hostIPs: [{ ip: "127.0.0.1" }],
      ...(mode === "imagepull" || mode === "pending" ? {} : { podIP, podIPs: [{ ip: podIP }] }),
      startTime: created,
      qosClass: pod.status?.qosClass ?? "BestEffort",
      containerStatuses,
    };
  }

  private async restartCrashingContainers(): Promise<void> {
    for (const pod of this.pods?.list() ?? []) {
      const mode = modeOf(pod);
      if (
        (mode !== "crashloop" && mode !== "oomkilled") ||
        !pod.spec?.nodeName ||
        pod.metadata?.deletionTimestamp
      )
        continue;
      if (!this.statusMatches(pod, mode)) continue;
      const containerStatuses = (pod.status?.containerStatuses ?? []).map((status) => ({
        ...status,
        restartCount: status.restartCount + 1,
      }));
      try {
        await this.core.patchNamespacedPodStatus(
          {
            name: pod.metadata!.name!,
            namespace: pod.metadata!.namespace!,
            body: { status: { containerStatuses } },
          },
          MERGE_PATCH,
        );
      } catch (error) {
        if (statusCode(error) !== 404)
          this.logger.warn({ err: String(error) }, "restart count update failed");
      }
    }
  }

  // ---- logs and events -------------------------------------------------------

  private podLogDir(namespace: string, pod: string): string {
    return join(this.options.logsDir, namespace, pod);
  }

  private async template(pod: V1Pod): Promise<string> {
    const requested = pod.metadata?.annotations?.[LOG_TEMPLATE_ANNOTATION];
    const name = requested && /^[a-z0-9][a-z0-9-]*$/.test(requested) ? requested : "default";
    try {
      return await readFile(join(this.options.templatesDir, `${name}.txt`), "utf8");
    } catch {
      this.logger.warn({ template: name }, "log template not found; using the default");
      return readFile(join(this.options.templatesDir, "default.txt"), "utf8");
    }
  }

  /** Give each container a log once (never overwriting what a test wrote). */
  private async writeLogs(pod: V1Pod, mode: SimulationMode): Promise<void> {
    if (mode === "imagepull" || mode === "pending") return;
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    if (!SAFE_NAME.test(namespace) || !SAFE_NAME.test(name)) return;
    const dir = this.podLogDir(namespace, name);
    await mkdir(dir, { recursive: true });
    const template = await this.template(pod);
    for (const container of pod.spec!.containers) {
      const vars = { namespace, pod: name, container: container.name };
      const files: [string, number][] = [[`${container.name}.log`, Date.now()]];
      if (mode !== "running") files.push([`${container.name}.previous.log`, Date.now() - 60_000]);
      for (const [file, now] of files) {
        await writeFile(join(dir, file), renderLogTemplate(template, vars, now), { flag: "wx" }).catch(
          (error: NodeJS.ErrnoException) => {
            if (error.code !== "EEXIST") throw error;
          },
        );
      }
    }
  }

  private async forget(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (pod.metadata?.uid) this.deleting.delete(pod.metadata.uid);
    if (!namespace || !name || !SAFE_NAME.test(namespace) || !SAFE_NAME.test(name)) return;
    // A StatefulSet pod comes back under the same name; only remove logs if no pod of that name exists now.
    if (this.pods?.get(name, namespace)) return;
    // A pod re-created under the same name may be writing its logs into this directory right now
    // (ENOTEMPTY): retry, and never let log cleanup take the simulator down.
    await rm(this.podLogDir(namespace, name), {
      recursive: true,
      force: true,
      maxRetries: 5,
      retryDelay: 50,
    }).catch(() => undefined);
  }

  private async recordEvents(pod: V1Pod, mode: SimulationMode): Promise<void> {
    const container = pod.spec!.containers[0]!;
    const image = container.image ?? "";
    switch (mode) {
      case "running":
        await this.event(pod, "Normal", "Pulled", `Container image "${image}" already present on machine`);
        await this.event(pod, "Normal", "Created", `Created container: ${container.name}`);
        await this.event(pod, "Normal", "Started", `Started container ${container.name}`);
        return;
      case "crashloop":
        await this.event(
          pod,
          "Warning",
          "BackOff",
          "Back-off restarting failed container " +
            `${container.name} in pod ${pod.metadata!.name}_${pod.metadata!.namespace}(${pod.metadata!.uid})`,
        );
        return;
      case "oomkilled":
        await this.event(
          pod,
          "Warning",
          "BackOff",
          `Back-off restarting failed container ${container.name} in pod ${pod.metadata!.name}_${pod.metadata!.namespace}(${pod.metadata!.uid})`,
        );
        await this.event(
          pod,
          "Warning",
          "OOMKilling",
          `Memory cgroup out of memory: Killed process 4127 (${container.name}) total-vm:1843212kB, anon-rss:262144kB`,
        );
        return;
      case "imagepull":
        await this.event(pod, "Normal", "Pulling", `Pulling image "${image}"`);
        await this.event(
          pod,
          "Warning",
          "Failed",
          `Failed to pull image "${image}": rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
        );
        await this.event(pod, "Warning", "Failed", "Error: ErrImagePull");
        await this.event(pod, "Normal", "BackOff", `Back-off pulling image "${image}"`);
        return;
      case "pending":
        return;
    }
  }

  private async event(
    pod: V1Pod,
    type: string,
    reason: string,
    message: string,
    component = "kubelet",
  ): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${pod.metadata!.name}.`, namespace },
          involvedObject: {
            apiVersion: "v1",
            kind: "Pod",
            name: pod.metadata!.name,
            namespace,
            uid: pod.metadata!.uid,
            resourceVersion: pod.metadata!.resourceVersion,
            ...(component === "kubelet"
              ? { fieldPath: `spec.containers{${pod.spec!.containers[0]!.name}}` }
              : {}),
          },
          reason,
          message,
          type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: {
            component,
            ...(component === "kubelet" && pod.spec?.nodeName ? { host: pod.spec.nodeName } : {}),
          },
          reportingComponent: component,
          reportingInstance: component === "kubelet" ? (pod.spec?.nodeName ?? "") : "default-scheduler",
        },
      });
    } catch (error) {
      // Events are best effort, as in the real kubelet; a deleted namespace refuses them.
      if (statusCode(error) !== 403 && statusCode(error) !== 404) {
        this.logger.debug({ err: String(error) }, "event not recorded");
      }
    }
  }
}
