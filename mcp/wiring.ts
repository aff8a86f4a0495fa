import type { KubeConfig } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import type { AuditLog } from "../core/audit/log.ts";
import type { Config } from "../core/config/config.ts";
import { createActionStoreFromConfig } from "../core/actions/store.ts";
import { createKubeClients, type KubeClients, type KubeRequestEvent } from "../core/kube/client.ts";
import { loadKubeConfig } from "../core/kube/config.ts";
import { createPreviewClient, type PreviewClient } from "../core/kube/preview.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { Metrics } from "../core/observability/metrics.ts";
import type { McpDeps } from "./deps.ts";
import { createPolicy } from "./policy/index.ts";

/**
 * Building the MCP server from parsed configuration, for `deputy mcp`, the
 * bot's in-process server and local mode. Nothing here reads the
 * environment: it all comes from Config and what the caller hands in.
 */

/**
 * The read identity as configured (KUBECONFIG, else in-cluster, else
 * ~/.kube/config), or as `kubeConfig` gives it (local mode's own identity).
 */
export function kubeClientsFromConfig(
  config: Config,
  logger: Logger,
  options: { metrics?: Metrics | undefined; kubeConfig?: KubeConfig } = {},
): KubeClients {
  const { metrics } = options;
  const kubeConfig = options.kubeConfig ?? loadKubeConfig({ kubeconfig: config.kube.kubeconfig });
  return createKubeClients(kubeConfig, {
    maxConcurrency: config.kube.maxConcurrency,
    callTimeoutMs: config.kube.callTimeoutMs,
    logger: logger.child({ component: "kube" }),
    ...(metrics ? { onRequest: kubeErrorCounter(metrics) } : {}),
  });
}

/** Kubernetes API errors by method and status (network failures have none); paths would be unbounded labels. */
export function kubeErrorCounter(metrics: Metrics): (event: KubeRequestEvent) => void {
  return (event) => {
    if (event.status === undefined || event.status >= 400) metrics.kubeApiError(event.method, event.status);
  };
}

/**
 * The preview client: the read identity impersonating the dry-run-only
 * preview account, self-checked now and every few minutes (fail closed: it
 * answers nothing until admission has been seen refusing its real write).
 * The caller closes it with the rest (closeMcpDeps).
 */
export function previewFromConfig(config: Config, kubeConfig: KubeConfig, logger: Logger): PreviewClient {
  const preview = createPreviewClient({
    kubeConfig,
    identity: config.kube.previewIdentity,
    probeNamespace: config.kube.previewProbeNamespace,
    logger: logger.child({ component: "preview" }),
    timeoutMs: config.kube.callTimeoutMs,
  });
  preview.start();
  return preview;
}

/** Close what mcpDepsFromConfig opened: the Kubernetes clients and the preview client. */
export function closeMcpDeps(deps: Pick<McpDeps, "kube" | "preview">): void {
  deps.preview?.close();
  deps.kube.close();
}

/** What the MCP server's write tools need on top of the read deps. */
export function createWriteDeps(options: {
  config: Config;
  redis: Redis;
  audit: AuditLog;
  /** The key that signs stored actions (never readable through Redis). */
  actionKey: Buffer;
}): Pick<McpDeps, "actions" | "policy"> {
  return {
    actions: createActionStoreFromConfig(options.config, options.redis, options.actionKey),
    policy: createPolicy({ config: options.config, redis: options.redis, audit: options.audit }),
  };
}

/**
 * The MCP server's dependencies: the read identity (made from the
 * configuration unless `kube` is given; the caller closes it), plus the write
 * tools' store and guardrails.
 */
export function mcpDepsFromConfig(
  config: Config,
  deps: {
    logger: Logger;
    audit: AuditLog;
    redis: Redis;
    actionKey: Buffer;
    metrics?: Metrics | undefined;
    kube?: KubeClients;
  },
): McpDeps {
  const kube = deps.kube ?? kubeClientsFromConfig(config, deps.logger, { metrics: deps.metrics });
  return {
    preview: previewFromConfig(config, kube.kubeConfig, deps.logger),
    config,
    logger: deps.logger,
    audit: deps.audit,
    kube,
    ...createWriteDeps({ config, redis: deps.redis, audit: deps.audit, actionKey: deps.actionKey }),
  };
}
