import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "../../core/observability/logger.ts";
import { LOG_TEMPLATE_ANNOTATION, statusCode, type SimulationMode } from "./modes.ts";

/**
 * What the kubelet leaves behind for a pod: container log files (rendered
 * from a template, served by the fake kubelet's log endpoint, removed with
 * the pod) and the events a real kubelet and scheduler would record.
 */
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

export class PodLogs {
  private readonly logsDir: string;
  private readonly templatesDir: string;
  private readonly logger: Logger;

  constructor(logsDir: string, templatesDir: string, logger: Logger) {
    this.logsDir = logsDir;
    this.templatesDir = templatesDir;
    this.logger = logger;
  }

  private podLogDir(namespace: string, pod: string): string {
    return join(this.logsDir, namespace, pod);
  }

  private async template(pod: V1Pod): Promise<string> {
    const requested = pod.metadata?.annotations?.[LOG_TEMPLATE_ANNOTATION];
    const name = requested && /^[a-z0-9][a-z0-9-]*$/.test(requested) ? requested : "default";
    try {
      return await readFile(join(this.templatesDir, `${name}.txt`), "utf8");
    } catch {
      this.logger.warn({ template: name }, "log template not found; using the default");
      return readFile(join(this.templatesDir, "default.txt"), "utf8");
    }
  }

  /** Give each container a log once (never overwriting what a test wrote). */
  async writeLogs(pod: V1Pod, mode: SimulationMode): Promise<void> {
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

  /** Remove a deleted pod's logs, unless a pod of that name exists again. */
  async forget(pod: V1Pod, exists: (name: string, namespace: string) => boolean): Promise<void> {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (!namespace || !name || !SAFE_NAME.test(namespace) || !SAFE_NAME.test(name)) return;
    // A StatefulSet pod comes back under the same name; only remove logs if no pod of that name exists now.
    if (exists(name, namespace)) return;
    // A pod re-created under the same name may be writing its logs into this directory right now
    // (ENOTEMPTY): retry, and never let log cleanup take the simulator down.
    await rm(this.podLogDir(namespace, name), {
      recursive: true,
      force: true,
      maxRetries: 5,
      retryDelay: 50,
    }).catch(() => undefined);
  }
}

export class PodEvents {
  private readonly core: CoreV1Api;
  private readonly logger: Logger;

  constructor(core: CoreV1Api, logger: Logger) {
    this.core = core;
    this.logger = logger;
  }

  /** The events a pod in this mode would have. */
  async forMode(pod: V1Pod, mode: SimulationMode): Promise<void> {
    const container = pod.spec!.containers[0]!;
    const image = container.image ?? "";
    switch (mode) {
      case "running":
        await this.record(pod, "Normal", "Pulled", `Container image "${image}" already present on machine`);
        await this.record(pod, "Normal", "Created", `Created container: ${container.name}`);
        await this.record(pod, "Normal", "Started", `Started container ${container.name}`);
        return;
      case "crashloop":
        await this.record(
          pod,
          "Warning",
          "BackOff",
          "Back-off restarting failed container " +
            `${container.name} in pod ${pod.metadata!.name}_${pod.metadata!.namespace}(${pod.metadata!.uid})`,
        );
        return;
      case "oomkilled":
        await this.record(
          pod,
          "Warning",
          "BackOff",
          `Back-off restarting failed container ${container.name} in pod ${pod.metadata!.name}_${pod.metadata!.namespace}(${pod.metadata!.uid})`,
        );
        await this.record(
          pod,
          "Warning",
          "OOMKilling",
          `Memory cgroup out of memory: Killed process 4127 (${container.name}) total-vm:1843212kB, anon-rss:262144kB`,
        );
        return;
      case "imagepull":
        await this.record(pod, "Normal", "Pulling", `Pulling image "${image}"`);
        await this.record(
          pod,
          "Warning",
          "Failed",
          `Failed to pull image "${image}": rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
        );
        await this.record(pod, "Warning", "Failed", "Error: ErrImagePull");
        await this.record(pod, "Normal", "BackOff", `Back-off pulling image "${image}"`);
        return;
      case "pending":
        return;
    }
  }

  async record(
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
