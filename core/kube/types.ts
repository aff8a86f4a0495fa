import type {
  CoreV1Event,
  V1ConfigMap,
  V1Container,
  V1ContainerStatus,
  V1DaemonSet,
  V1Deployment,
  V1Job,
  V1Namespace,
  V1Node,
  V1Pod,
  V1PodDisruptionBudget,
  V1ReplicaSet,
  V1Service,
  V1StatefulSet,
} from "@kubernetes/client-node";

/**
 * Kubernetes objects as they arrive on the wire. client-node's model classes
 * declare timestamps as Date, but Deputy reads raw JSON (cheaper, and what the
 * API server actually sends), where they are RFC 3339 strings. Wire<T> says so.
 */
export type Wire<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

export type Pod = Wire<V1Pod>;
export type Container = Wire<V1Container>;
export type ContainerStatus = Wire<V1ContainerStatus>;
export type Node = Wire<V1Node>;
export type Namespace = Wire<V1Namespace>;
export type KubeEvent = Wire<CoreV1Event>;
export type Deployment = Wire<V1Deployment>;
export type ReplicaSet = Wire<V1ReplicaSet>;
export type StatefulSet = Wire<V1StatefulSet>;
export type DaemonSet = Wire<V1DaemonSet>;
export type Job = Wire<V1Job>;
export type Service = Wire<V1Service>;
export type ConfigMap = Wire<V1ConfigMap>;
export type PodDisruptionBudget = Wire<V1PodDisruptionBudget>;

/** Any object: what get_resource and the kubectl tool handle generically. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    managedFields?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ListMeta {
  continue?: string;
  remainingItemCount?: number;
  resourceVersion?: string;
}

export interface WireList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: ListMeta;
  items: T[];
}
