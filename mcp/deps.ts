import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import type { AuditLog } from "../core/audit.ts";
import type { KubeClients } from "../core/kube/client.ts";
import type { ActionStore } from "../core/actions/store.ts";
import type { Policy } from "./policy/index.ts";

/** What the proposal path needs of the preview client (core/kube/preview.ts). */
export interface DryRunner {
  dryRun(
    request: {
      method: "PATCH" | "POST" | "DELETE";
      path: string;
      body?: unknown;
      contentType?: string;
      query?: Record<string, string>;
    },
    signal?: AbortSignal,
  ): Promise<{ status: number; object: unknown; warnings: string[] }>;
  health(): { usable: boolean; sentence: string };
}

/**
 * What the MCP server's tools receive. Read tools use `kube` (the read-only
 * identity); write tools use `kube` to read the current target and `actions`
 * to store a pending action — they never write to the cluster themselves.
 */
export interface McpDeps {
  config: Config;
  logger: Logger;
  audit: AuditLog;
  /** The server's own read-only Kubernetes identity. */
  kube: KubeClients;
  /** Pending actions (Redis): write tools store proposals here and nothing else. */
  actions: ActionStore;
  /** Guardrails evaluated on every write proposal. */
  policy: Policy;
  /**
   * The preview identity (dry runs only; admission refuses its real writes):
   * the API server's answer to a proposed write, before anyone approves it.
   * Absent or unhealthy: nothing that needs a dry run can be proposed.
   */
  preview?: DryRunner | undefined;
  /**
   * Set per call from the caller's conversation (DEPUTY_CHANNEL_NAMESPACES):
   * the namespaces that channel's people may read and change.
   */
  namespaceScope?: { channel: string; namespaces: readonly string[] };
}
