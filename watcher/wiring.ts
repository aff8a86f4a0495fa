import { hostname } from "node:os";
import type { Redis } from "ioredis";
import type { TriageSink } from "../core/observability/alerts.ts";
import type { AuditLog } from "../core/audit/log.ts";
import type { Config } from "../core/config/config.ts";
import type { KubeClients } from "../core/kube/client.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { Metrics } from "../core/observability/metrics.ts";
import { createTriageService, type TriageService } from "./service.ts";
import { createTriageWatcher, type TriageWatcher } from "./watcher.ts";

export interface TriageDeps {
  config: Config;
  /** The read identity; it also needs get/create/update on its Lease. */
  kube: KubeClients;
  redis: Redis;
  sink: TriageSink;
  logger: Logger;
  metrics?: Metrics;
  audit?: AuditLog;
  analyse?: (text: string, signal: AbortSignal) => Promise<string>;
}

/**
 * The triage watcher as configured (DEPUTY_WATCH_*, DEPUTY_TRIAGE_PER_MINUTE),
 * not yet started: local mode runs it alone, startTriage under a Lease.
 */
export function triageWatcherFromConfig(deps: TriageDeps): TriageWatcher {
  const o = deps.config.observability;
  return createTriageWatcher({
    kube: deps.kube,
    redis: deps.redis,
    prefix: deps.config.redis.prefix,
    sink: deps.sink,
    namespaces: o.watchNamespaces,
    watchNodes: o.watchNodes,
    maxMessagesPerWindow: o.triagePerMinute,
    logger: deps.logger.child({ component: "watcher" }),
    metrics: deps.metrics,
    audit: deps.audit,
    cluster: deps.config.kube.clusterName,
    analyse: deps.analyse,
  });
}

/** The triage watcher as configured, campaigning for its Lease (one replica watches at a time). */
export function startTriage(deps: TriageDeps): TriageService {
  const o = deps.config.observability;
  const service = createTriageService({
    watcher: triageWatcherFromConfig(deps),
    kubeConfig: deps.kube.kubeConfig,
    leaseNamespace: o.watchLeaseNamespace,
    identity: o.watchIdentity ?? hostname(),
    logger: deps.logger.child({ component: "watcher" }),
  });
  service.start();
  return service;
}
