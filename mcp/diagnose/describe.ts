import type {
  Container,
  ContainerStatus,
  Deployment,
  KubeEvent,
  Node,
  Pod,
  ReplicaSet,
} from "../../core/kube/types.ts";
import { describeEnvVar, redactArgs } from "../../core/untrusted/redact.ts";
import { eventTime } from "../../core/kube/client.ts";
import { age, eventMessage, table } from "./format.ts";
import { podOwner, podStatus } from "./pod-status.ts";

/**
 * kubectl-describe-like text for pods, deployments and nodes. The output is
 * cluster-sourced (annotations, messages), so callers fence it; env values
 * from Secrets appear only as references, and the noisy last-applied
 * annotation is left out.
 */

const SKIPPED_ANNOTATIONS = new Set(["kubectl.kubernetes.io/last-applied-configuration"]);

function kv(map: Record<string, string> | undefined, indent = "  "): string[] {
  const entries = Object.entries(map ?? {}).filter(([k]) => !SKIPPED_ANNOTATIONS.has(k));
  if (entries.length === 0) return [`${indent}<none>`];
  return entries.map(([k, v]) => `${indent}${k}=${v.length > 300 ? `${v.slice(0, 300)}…` : v}`);
}

function state(status: ContainerStatus["state"] | undefined): string {
  if (!status) return "Unknown";
  if (status.running) return `Running (started ${age(status.running.startedAt)} ago)`;
  if (status.waiting)
    return `Waiting: ${status.waiting.reason ?? ""}${status.waiting.message ? ` — ${status.waiting.message}` : ""}`;
  if (status.terminated) {
    const t = status.terminated;
    return `Terminated: ${t.reason ?? ""} (exit code ${t.exitCode}${t.signal ? `, signal ${t.signal}` : ""})${t.finishedAt ? ` ${age(t.finishedAt)} ago` : ""}${t.message ? ` — ${t.message}` : ""}`;
  }
  return "Unknown";
}

function resources(container: Container): string[] {
  const r = container.resources;
  const fmt = (m: Record<string, string> | undefined): string =>
    Object.entries(m ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(", ") || "<none>";
  return [
    `    Requests: ${fmt(r?.requests as Record<string, string> | undefined)}`,
    `    Limits: ${fmt(r?.limits as Record<string, string> | undefined)}`,
  ];
}

function probe(name: string, p: Container["livenessProbe"]): string[] {
  if (!p) return [];
  const how = p.httpGet
    ? `http-get ${p.httpGet.path ?? "/"} port ${String(p.httpGet.port)}`
    : p.tcpSocket
      ? `tcp-socket port ${String(p.tcpSocket.port)}`
      : p.exec
        ? `exec ${(p.exec.command ?? []).join(" ")}`
        : p.grpc
          ? `grpc port ${p.grpc.port}`
          : "?";
  return [
    `    ${name}: ${how} delay=${p.initialDelaySeconds ?? 0}s timeout=${p.timeoutSeconds ?? 1}s period=${p.periodSeconds ?? 10}s failure=${p.failureThreshold ?? 3}`,
  ];
}

export function describeEvents(events: readonly KubeEvent[], max = 15): string[] {
  if (events.length === 0) return ["  <none>"];
  const recent = events.slice(-max);
  const lines = table(
    ["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"],
    recent.map((e) => [
      age(eventTime(e)),
      e.type ?? "",
      e.reason ?? "",
      String(e.count ?? 1),
      eventMessage(e.message, 400),
    ]),
  ).split("\n");
  return [
    ...(events.length > max ? [`  (${events.length - max} older events not shown)`] : []),
    ...lines.map((l) => `  ${l}`),
  ];
}

export function describePod(pod: Pod, events: readonly KubeEvent[]): string {
  const owner = podOwner(pod);
  const lines: string[] = [
    `Name: ${pod.metadata?.name}`,
    `Namespace: ${pod.metadata?.namespace}`,
    `Status: ${podStatus(pod)} (phase ${pod.status?.phase ?? "Unknown"})`,
    `Node: ${pod.spec?.nodeName ?? "<none>"}`,
    `IP: ${pod.status?.podIP ?? "<none>"}`,
    `Created: ${age(pod.metadata?.creationTimestamp)} ago`,
    `Controlled By: ${owner ? `${owner.kind}/${owner.name}` : "<none>"}`,
    `Service Account: ${pod.spec?.serviceAccountName ?? "default"}`,
    `QoS Class: ${pod.status?.qosClass ?? "?"}`,
    "Labels:",
    ...kv(pod.metadata?.labels),
    "Annotations:",
    ...kv(pod.metadata?.annotations),
  ];
  const statusOf = (name: string, init: boolean): ContainerStatus | undefined =>
    (init ? pod.status?.initContainerStatuses : pod.status?.containerStatuses)?.find((s) => s.name === name);
  const describeContainers = (title: string, containers: Container[] | undefined, init: boolean): void => {
    if (!containers || containers.length === 0) return;
    lines.push(`${title}:`);
    for (const c of containers) {
      const s = statusOf(c.name, init);
      lines.push(`  ${c.name}:`);
      lines.push(`    Image: ${c.image ?? ""}`);
      // Redacted as one argv before joining: an element with spaces after `-password` is one value.
      const argv = redactArgs([...(c.command ?? []), ...(c.args ?? [])]);
      const commandLength = c.command?.length ?? 0;
      if (commandLength > 0) lines.push(`    Command: ${argv.slice(0, commandLength).join(" ")}`);
      if (c.args?.length) lines.push(`    Args: ${argv.slice(commandLength).join(" ")}`);
      if (c.ports?.length)
        lines.push(
          `    Ports: ${c.ports.map((p) => `${p.containerPort}/${p.protocol ?? "TCP"}`).join(", ")}`,
        );
      lines.push(`    State: ${state(s?.state)}`);
      if (s?.lastState && Object.keys(s.lastState).length > 0)
        lines.push(`    Last State: ${state(s.lastState)}`);
      lines.push(`    Ready: ${s?.ready ?? false}`, `    Restart Count: ${s?.restartCount ?? 0}`);
      lines.push(...resources(c));
      lines.push(
        ...probe("Liveness", c.livenessProbe),
        ...probe("Readiness", c.readinessProbe),
        ...probe("Startup", c.startupProbe),
      );
      if (c.env?.length) {
        lines.push("    Environment:");
        for (const env of c.env) lines.push(`      ${describeEnvVar(env, pod.metadata?.namespace)}`);
      }
      if (c.envFrom?.length) {
        lines.push("    Environment From:");
        for (const from of c.envFrom) {
          if (from.secretRef) lines.push(`      secret ${from.secretRef.name} (all keys, values not shown)`);
          if (from.configMapRef) lines.push(`      configmap ${from.configMapRef.name} (all keys)`);
        }
      }
      if (c.volumeMounts?.length) {
        lines.push(
          `    Mounts: ${c.volumeMounts.map((m) => `${m.mountPath} from ${m.name}${m.readOnly ? " (ro)" : ""}`).join(", ")}`,
        );
      }
    }
  };
  describeContainers("Init Containers", pod.spec?.initContainers, true);
  describeContainers("Containers", pod.spec?.containers, false);
  lines.push("Conditions:");
  for (const c of pod.status?.conditions ?? []) {
    lines.push(
      `  ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""}${c.message ? `: ${c.message}` : ""}`,
    );
  }
  if (pod.spec?.volumes?.length) {
    lines.push("Volumes:");
    for (const v of pod.spec.volumes) {
      const source = v.secret
        ? `secret ${v.secret.secretName}`
        : v.configMap
          ? `configmap ${v.configMap.name}`
          : v.persistentVolumeClaim
            ? `pvc ${v.persistentVolumeClaim.claimName}`
            : v.emptyDir
              ? "emptyDir"
              : v.projected
                ? "projected"
                : v.hostPath
                  ? `hostPath ${v.hostPath.path}`
                  : "other";
      lines.push(`  ${v.name}: ${source}`);
    }
  }
  if (pod.spec?.nodeSelector) lines.push("Node-Selectors:", ...kv(pod.spec.nodeSelector));
  if (pod.spec?.tolerations?.length) {
    lines.push(
      `Tolerations: ${pod.spec.tolerations.map((t) => `${t.key ?? "*"}${t.operator === "Exists" ? "" : `=${t.value ?? ""}`}:${t.effect ?? "*"}`).join(", ")}`,
    );
  }
  lines.push("Events:", ...describeEvents(events));
  return lines.join("\n");
}

/** Rollout status in kubectl's words. */
export function rolloutStatus(d: Deployment): { done: boolean; message: string } {
  const spec = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const progressing = s.conditions?.find((c) => c.type === "Progressing");
  if ((d.metadata?.generation ?? 0) > (s.observedGeneration ?? 0)) {
    return { done: false, message: "Waiting for the deployment spec update to be observed" };
  }
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return {
      done: false,
      message: `Rollout stuck: progress deadline exceeded (${s.updatedReplicas ?? 0} of ${spec} updated)`,
    };
  }
  if ((s.updatedReplicas ?? 0) < spec) {
    return {
      done: false,
      message: `Waiting for rollout to finish: ${s.updatedReplicas ?? 0} of ${spec} updated replicas are available`,
    };
  }
  if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0)) {
    return {
      done: false,
      message: `Waiting for rollout to finish: ${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replicas are pending termination`,
    };
  }
  // A scale-down the ReplicaSet has not finished: kubectl calls it complete, but the replicas
  // asked for are not what runs yet.
  const running = Math.max(s.replicas ?? 0, s.availableReplicas ?? 0);
  if (running > spec) {
    return {
      done: false,
      message: `Waiting for the scale-down to finish: ${running} replicas for ${spec} wanted`,
    };
  }
  if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)) {
    return {
      done: false,
      message: `Waiting for rollout to finish: ${s.availableReplicas ?? 0} of ${s.updatedReplicas ?? 0} updated replicas are available`,
    };
  }
  return { done: true, message: "Rollout complete: all replicas updated and available" };
}

export function gitOpsManager(
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined,
): string | undefined {
  if (metadata?.annotations?.["argocd.argoproj.io/tracking-id"]) return "Argo CD";
  if (metadata?.labels?.["argocd.argoproj.io/instance"]) return "Argo CD";
  if (
    metadata?.labels?.["kustomize.toolkit.fluxcd.io/name"] ||
    metadata?.labels?.["helm.toolkit.fluxcd.io/name"]
  )
    return "Flux";
  return undefined;
}

export function describeDeployment(
  d: Deployment,
  replicaSets: readonly ReplicaSet[],
  pods: readonly Pod[],
  events: readonly KubeEvent[],
): string {
  const s = d.status ?? {};
  const strategy = d.spec?.strategy;
  const lines: string[] = [
    `Name: ${d.metadata?.name}`,
    `Namespace: ${d.metadata?.namespace}`,
    `Created: ${age(d.metadata?.creationTimestamp)} ago`,
    `Revision: ${d.metadata?.annotations?.["deployment.kubernetes.io/revision"] ?? "?"}`,
    `Replicas: ${d.spec?.replicas ?? 1} desired | ${s.updatedReplicas ?? 0} updated | ${s.replicas ?? 0} total | ${s.availableReplicas ?? 0} available | ${s.unavailableReplicas ?? 0} unavailable`,
    `Strategy: ${strategy?.type ?? "RollingUpdate"}${strategy?.rollingUpdate ? ` (maxUnavailable ${String(strategy.rollingUpdate.maxUnavailable ?? "25%")}, maxSurge ${String(strategy.rollingUpdate.maxSurge ?? "25%")})` : ""}`,
    `Selector: ${Object.entries(d.spec?.selector?.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",")}`,
    `Paused: ${d.spec?.paused ?? false}`,
    "Labels:",
    ...kv(d.metadata?.labels),
    "Annotations:",
    ...kv(d.metadata?.annotations),
    "Containers:",
  ];
  for (const c of d.spec?.template?.spec?.containers ?? []) {
    lines.push(`  ${c.name}: ${c.image ?? ""}`, ...resources(c));
    for (const env of c.env ?? []) lines.push(`    ${describeEnvVar(env, d.metadata?.namespace)}`);
  }
  lines.push("Conditions:");
  for (const c of s.conditions ?? []) {
    lines.push(
      `  ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""}${c.message ? `: ${c.message}` : ""}`,
    );
  }
  lines.push("ReplicaSets:");
  const sorted = [...replicaSets].sort(
    (a, b) =>
      Number(b.metadata?.annotations?.["deployment.kubernetes.io/revision"] ?? 0) -
      Number(a.metadata?.annotations?.["deployment.kubernetes.io/revision"] ?? 0),
  );
  lines.push(
    ...table(
      ["REVISION", "NAME", "DESIRED", "READY", "IMAGES", "AGE"],
      sorted
        .slice(0, 6)
        .map((rs) => [
          rs.metadata?.annotations?.["deployment.kubernetes.io/revision"] ?? "?",
          rs.metadata?.name ?? "",
          String(rs.spec?.replicas ?? 0),
          String(rs.status?.readyReplicas ?? 0),
          (rs.spec?.template?.spec?.containers ?? []).map((c) => c.image).join(","),
          age(rs.metadata?.creationTimestamp),
        ]),
    )
      .split("\n")
      .map((l) => `  ${l}`),
  );
  const counts = new Map<string, number>();
  for (const pod of pods) counts.set(podStatus(pod), (counts.get(podStatus(pod)) ?? 0) + 1);
  lines.push(`Pods: ${[...counts].map(([st, n]) => `${n} ${st}`).join(", ") || "<none>"}`);
  lines.push("Events:", ...describeEvents(events, 10));
  return lines.join("\n");
}

export function describeNodeText(node: Node): string {
  const info = node.status?.nodeInfo;
  const lines = [
    `Name: ${node.metadata?.name}`,
    `Roles: ${
      Object.keys(node.metadata?.labels ?? {})
        .filter((k) => k.startsWith("node-role.kubernetes.io/"))
        .map((k) => k.slice(24))
        .join(",") || "<none>"
    }`,
    `Created: ${age(node.metadata?.creationTimestamp)} ago`,
    `Unschedulable: ${node.spec?.unschedulable ?? false}`,
    `Taints: ${(node.spec?.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`).join(", ") || "<none>"}`,
    "Labels:",
    ...kv(node.metadata?.labels),
    "Conditions:",
    ...(node.status?.conditions ?? []).map(
      (c) =>
        `  ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""} heartbeat ${age(c.lastHeartbeatTime)} ago${c.message ? `: ${c.message}` : ""}`,
    ),
    `Addresses: ${(node.status?.addresses ?? []).map((a) => `${a.type}=${a.address}`).join(", ")}`,
    `Capacity: ${Object.entries(node.status?.capacity ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
    `Allocatable: ${Object.entries(node.status?.allocatable ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
    `System: kubelet ${info?.kubeletVersion ?? "?"}, ${info?.osImage ?? "?"}, runtime ${info?.containerRuntimeVersion ?? "?"}`,
  ];
  return lines.join("\n");
}
