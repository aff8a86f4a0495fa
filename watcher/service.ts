import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../core/observability/logger.ts";
import { createLeaderElector, type LeaderElector } from "./leader.ts";
import type { TriageWatcher } from "./watcher.ts";

/**
 * The watcher as run by every replica: all replicas campaign for the Lease,
 * only the leader runs the informers. When leadership is lost the informers
 * stop at once; Redis deduplication keeps the next leader from repeating
 * messages its predecessor already posted.
 */
export interface TriageServiceOptions {
  watcher: TriageWatcher;
  kubeConfig: KubeConfig;
  /** Namespace of the Lease (Deputy's own namespace). */
  leaseNamespace: string;
  leaseName?: string;
  /** This replica's name, e.g. the pod name from the downward API. */
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryMs?: number;
  logger: Logger;
}

export interface TriageService {
  start(): void;
  stop(options?: { release?: boolean }): Promise<void>;
  isLeader(): boolean;
}

export function createTriageService(options: TriageServiceOptions): TriageService {
  const { watcher, logger } = options;
  // Leadership changes are applied one after another, never interleaved.
  let transition: Promise<void> = Promise.resolve();
  const apply = (change: () => Promise<void>): Promise<void> => {
    transition = transition.then(change, change).catch((error: unknown) => {
      logger.error({ err: String(error) }, "triage watcher failed to change state");
    });
    return transition;
  };
  const elector: LeaderElector = createLeaderElector({
    kubeConfig: options.kubeConfig,
    namespace: options.leaseNamespace,
    name: options.leaseName ?? "deputy-watcher",
    identity: options.identity,
    leaseDurationSeconds: options.leaseDurationSeconds,
    renewDeadlineMs: options.renewDeadlineMs,
    retryMs: options.retryMs,
    logger,
    // Not awaited: starting informers must not hold up renewing the Lease.
    onStartedLeading: () => void apply(() => watcher.start()),
    onStoppedLeading: () => void apply(() => watcher.stop()),
  });
  return {
    start: () => elector.start(),
    async stop(stopOptions) {
      await elector.stop(stopOptions);
      await apply(() => watcher.stop());
    },
    isLeader: () => elector.isLeader(),
  };
}
