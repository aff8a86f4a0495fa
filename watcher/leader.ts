import {
  ApiException,
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from "@kubernetes/client-node";
import { describeError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";

/**
 * Leader election through a coordination.k8s.io Lease, with client-go's
 * rules: a candidate takes the Lease when it is free or when the holder has
 * not renewed it for a whole lease duration *as observed on the candidate's
 * own clock* (so clock skew between replicas does not matter); every write
 * carries the resourceVersion it read, so two candidates cannot both win;
 * the leader renews every `retryMs` and steps down if it cannot renew within
 * `renewDeadlineMs`. A clean stop releases the Lease so a successor starts
 * at once instead of waiting for it to lapse.
 */

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Lease name, e.g. "deputy-watcher". */
  name: string;
  /** This replica's identity (pod name). */
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryMs?: number;
  logger?: Logger;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
}

export interface LeaderElector {
  start(): void;
  /** Stop campaigning; a leader releases the Lease. */
  stop(options?: { release?: boolean }): Promise<void>;
  isLeader(): boolean;
}

function status(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

function micro(value: Date | string | undefined): string {
  return value === undefined ? "" : new Date(value).toISOString();
}

export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const leaseSeconds = options.leaseDurationSeconds ?? 15;
  const renewDeadlineMs = options.renewDeadlineMs ?? Math.floor(leaseSeconds * 1000 * (2 / 3));
  const retryMs = options.retryMs ?? Math.max(200, Math.floor(renewDeadlineMs / 5));
  if (!(renewDeadlineMs < leaseSeconds * 1000) || !(retryMs < renewDeadlineMs)) {
    throw new Error("leader election needs retryMs < renewDeadlineMs < leaseDurationSeconds");
  }
  const api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  const { namespace, name, identity } = options;

  let running = false;
  let leading = false;
  let timer: NodeJS.Timeout | undefined;
  let lastRenew = 0;
  /** What we last saw of someone else's Lease, and when (our clock). */
  let observed: { key: string; at: number } | undefined;
  let tick: Promise<void> = Promise.resolve();

  function spec(previous: V1Lease | undefined): V1Lease["spec"] {
    const now = new V1MicroTime();
    const wasMine = previous?.spec?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds,
      acquireTime: wasMine && previous?.spec?.acquireTime ? new V1MicroTime(previous.spec.acquireTime) : now,
      renewTime: now,
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (previous && !wasMine ? 1 : 0),
    };
  }

  /** One attempt to acquire or renew; true when we hold the Lease afterwards. */
  async function tryAcquireOrRenew(): Promise<boolean> {
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (status(error) !== 404) throw error;
      try {
        await api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace },
            spec: spec(undefined),
          },
        });
        return true;
      } catch (createError) {
        if (status(createError) === 409) return false; // another candidate created it first
        throw createError;
      }
    }
    const holder = lease.spec?.holderIdentity ?? "";
    const now = Date.now();
    if (holder !== "" && holder !== identity) {
      const key = `${holder}|${micro(lease.spec?.renewTime)}|${lease.metadata?.resourceVersion ?? ""}`;
      if (observed?.key !== key) observed = { key, at: now };
      const duration = (lease.spec?.leaseDurationSeconds ?? leaseSeconds) * 1000;
      if (now < observed.at + duration) return false; // the holder is alive as far as we can tell
    }
    try {
      await api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: spec(lease) }, // metadata keeps resourceVersion: optimistic concurrency
      });
      return true;
    } catch (error) {
      if (status(error) === 409) return false; // someone else wrote first
      throw error;
    }
  }

  async function setLeading(value: boolean): Promise<void> {
    if (leading === value) return;
    leading = value;
    options.logger?.info(
      { lease: `${namespace}/${name}`, identity },
      value ? "became leader" : "stopped leading",
    );
    try {
      await (value ? options.onStartedLeading() : options.onStoppedLeading());
    } catch (error) {
      options.logger?.error({ err: describeError(error) }, "leader callback failed");
    }
  }

  async function step(): Promise<void> {
    let held: boolean;
    try {
      held = await tryAcquireOrRenew();
    } catch (error) {
      options.logger?.warn(
        { err: describeError(error), lease: `${namespace}/${name}` },
        "lease update failed",
      );
      // Keep leading through a transient failure, but never past the renew deadline.
      if (running && leading && Date.now() - lastRenew >= renewDeadlineMs) await setLeading(false);
      return;
    }
    if (!running) return;
    if (held) {
      lastRenew = Date.now();
      await setLeading(true);
    } else {
      await setLeading(false); // someone else holds the Lease
    }
  }

  function schedule(): void {
    if (!running) return;
    timer = setTimeout(() => {
      tick = step().finally(schedule);
    }, retryMs);
  }

  return {
    start() {
      if (running) return;
      running = true;
      tick = step().finally(schedule);
    },
    async stop(stopOptions = {}) {
      running = false;
      if (timer) clearTimeout(timer);
      await tick;
      if (leading && stopOptions.release !== false) {
        try {
          const lease = await api.readNamespacedLease({ name, namespace });
          if (lease.spec?.holderIdentity === identity) {
            await api.replaceNamespacedLease({
              name,
              namespace,
              body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 } },
            });
          }
        } catch (error) {
          options.logger?.warn({ err: describeError(error) }, "releasing the lease failed; it will lapse");
        }
      }
      await setLeading(false);
    },
    isLeader: () => leading,
  };
}
