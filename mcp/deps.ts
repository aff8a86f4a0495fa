import type { ChannelScope } from "../core/identity/access.ts";
import type { Config } from "../core/config/config.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { AuditLog } from "../core/audit/log.ts";
import type { KubeClients } from "../core/kube/client.ts";
import type { ActionStore } from "../core/actions/store.ts";
import type { PreviewClient } from "../core/kube/preview.ts";
import type { Policy } from "./policy/index.ts";

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
  preview?: Pick<PreviewClient, "dryRun" | "health" | "check" | "close"> | undefined;
  /**
   * Set per request by the request gate (mcp/request-gate.ts) from the
   * caller's verified conversation (DEPUTY_CHANNEL_NAMESPACES): the namespaces
   * that channel's people may read and change, and whether they may change
   * cluster-scoped objects.
   */
  namespaceScope?: ChannelScope;
}
