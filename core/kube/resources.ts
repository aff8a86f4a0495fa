import type { Readable } from "node:stream";
import { tailLogStream, type LogTail } from "./log-tail.ts";
import type { GetJson, ListOptions, ListResult } from "./paging.ts";
import type { Query } from "./transport.ts";
import type {
  DaemonSet,
  Deployment,
  KubeEvent,
  Namespace,
  Node,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  Service,
  StatefulSet,
} from "./types.ts";

/**
 * The typed facade: one method per resource Deputy reads, each naming its API
 * path once. Built over any get/list/stream, so it holds no transport state.
 */

export interface LogOptions {
  container?: string | undefined;
  tailLines?: number | undefined;
  sinceSeconds?: number | undefined;
  previous?: boolean | undefined;
  timestamps?: boolean | undefined;
  /** Keep only matching lines; the whole log (up to maxScanBytes) is scanned for them. */
  grep?: RegExp | undefined;
  maxLineChars?: number | undefined;
  maxScanBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface KubeResources {
  core: {
    listNamespaces(options?: ListOptions): Promise<ListResult<Namespace>>;
    readNamespace(name: string, signal?: AbortSignal): Promise<Namespace>;
    listPods(namespace: string | undefined, options?: ListOptions): Promise<ListResult<Pod>>;
    readPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod>;
    listNodes(options?: ListOptions): Promise<ListResult<Node>>;
    readNode(name: string, signal?: AbortSignal): Promise<Node>;
    listEvents(namespace: string | undefined, options?: ListOptions): Promise<ListResult<KubeEvent>>;
    listServices(namespace: string | undefined, options?: ListOptions): Promise<ListResult<Service>>;
  };
  apps: {
    listDeployments(namespace: string | undefined, options?: ListOptions): Promise<ListResult<Deployment>>;
    readDeployment(namespace: string, name: string, signal?: AbortSignal): Promise<Deployment>;
    listReplicaSets(namespace: string | undefined, options?: ListOptions): Promise<ListResult<ReplicaSet>>;
    listStatefulSets(namespace: string | undefined, options?: ListOptions): Promise<ListResult<StatefulSet>>;
    readStatefulSet(namespace: string, name: string, signal?: AbortSignal): Promise<StatefulSet>;
    listDaemonSets(namespace: string | undefined, options?: ListOptions): Promise<ListResult<DaemonSet>>;
  };
  policy: {
    listPodDisruptionBudgets(
      namespace: string | undefined,
      options?: ListOptions,
    ): Promise<ListResult<PodDisruptionBudget>>;
  };
  events: {
    /** Events about one object, oldest first. */
    forObject(
      target: { kind: string; namespace?: string | undefined; name: string; uid?: string | undefined },
      signal?: AbortSignal,
    ): Promise<KubeEvent[]>;
  };
  logs: {
    /** The tail of a container's log, streamed with bounded memory. */
    tail(namespace: string, pod: string, options?: LogOptions): Promise<LogTail>;
  };
}

export interface ResourceAccess {
  get: GetJson;
  list<T>(path: string, options?: ListOptions): Promise<ListResult<T>>;
  stream(path: string, query?: Query, signal?: AbortSignal): Promise<Readable>;
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function ns(namespace: string | undefined): string {
  return namespace ? `/namespaces/${segment(namespace)}` : "";
}

export function createKubeResources({ get, list, stream }: ResourceAccess): KubeResources {
  return {
    core: {
      listNamespaces: (o) => list<Namespace>("/api/v1/namespaces", o),
      readNamespace: (name, signal) =>
        get<Namespace>(`/api/v1/namespaces/${segment(name)}`, undefined, signal),
      listPods: (namespace, o) => list<Pod>(`/api/v1${ns(namespace)}/pods`, o),
      readPod: (namespace, name, signal) =>
        get<Pod>(`/api/v1${ns(namespace)}/pods/${segment(name)}`, undefined, signal),
      listNodes: (o) => list<Node>("/api/v1/nodes", o),
      readNode: (name, signal) => get<Node>(`/api/v1/nodes/${segment(name)}`, undefined, signal),
      listEvents: (namespace, o) => list<KubeEvent>(`/api/v1${ns(namespace)}/events`, o),
      listServices: (namespace, o) => list<Service>(`/api/v1${ns(namespace)}/services`, o),
    },
    apps: {
      listDeployments: (namespace, o) => list<Deployment>(`/apis/apps/v1${ns(namespace)}/deployments`, o),
      readDeployment: (namespace, name, signal) =>
        get<Deployment>(`/apis/apps/v1${ns(namespace)}/deployments/${segment(name)}`, undefined, signal),
      listReplicaSets: (namespace, o) => list<ReplicaSet>(`/apis/apps/v1${ns(namespace)}/replicasets`, o),
      listStatefulSets: (namespace, o) => list<StatefulSet>(`/apis/apps/v1${ns(namespace)}/statefulsets`, o),
      readStatefulSet: (namespace, name, signal) =>
        get<StatefulSet>(`/apis/apps/v1${ns(namespace)}/statefulsets/${segment(name)}`, undefined, signal),
      listDaemonSets: (namespace, o) => list<DaemonSet>(`/apis/apps/v1${ns(namespace)}/daemonsets`, o),
    },
    policy: {
      listPodDisruptionBudgets: (namespace, o) =>
        list<PodDisruptionBudget>(`/apis/policy/v1${ns(namespace)}/poddisruptionbudgets`, o),
    },
    events: {
      async forObject(target, signal) {
        const selectors = [`involvedObject.name=${target.name}`, `involvedObject.kind=${target.kind}`];
        if (target.namespace) selectors.push(`involvedObject.namespace=${target.namespace}`);
        if (target.uid) selectors.push(`involvedObject.uid=${target.uid}`);
        const result = await list<KubeEvent>(`/api/v1${ns(target.namespace)}/events`, {
          fieldSelector: selectors.join(","),
          maxItems: 500,
          signal,
        });
        return result.items.sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
      },
    },
    logs: {
      async tail(namespace, pod, o = {}) {
        const tailLines = o.tailLines ?? 100;
        const response = await stream(
          `/api/v1/namespaces/${segment(namespace)}/pods/${segment(pod)}/log`,
          {
            container: o.container,
            // With a filter the whole log is scanned; without one the kubelet tails for us.
            tailLines: o.grep ? undefined : tailLines,
            sinceSeconds: o.sinceSeconds,
            previous: o.previous ? true : undefined,
            timestamps: o.timestamps ? true : undefined,
            limitBytes: o.maxScanBytes,
          },
          o.signal,
        );
        try {
          return await tailLogStream(response, {
            tailLines,
            grep: o.grep,
            maxLineChars: o.maxLineChars ?? 2000,
            maxScanBytes: o.maxScanBytes,
          });
        } finally {
          response.destroy();
        }
      },
    },
  };
}

/** The best timestamp an event has, as an ISO string ("" when none). */
export function eventTime(event: KubeEvent): string {
  return (
    event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata?.creationTimestamp ?? ""
  );
}
