import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Redis } from "ioredis";
import { parse } from "yaml";
import { createAuditLog, type AuditRecord } from "../../core/audit/log.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createKubeClients, type KubeClientOptions, type KubeRequestEvent } from "../../core/kube/client.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createRedisClient, watchRedisHealth } from "../../core/state/redis.ts";
import { closeMcpDeps, createWriteDeps, previewFromConfig } from "../../mcp/wiring.ts";
import type { PendingAction } from "../../core/actions/schema.ts";
import type { ActionStore } from "../../core/actions/store.ts";
import { approvalViewOf } from "../../core/actions/view.ts";
import { TEST_ACTION_KEY } from "../executor/support.ts";
import type { McpDeps } from "../../mcp/deps.ts";
import { connectInMemory } from "../../mcp/transports/in-memory.ts";
import { serverSideApply } from "../helpers/kube-apply.ts";
import { allowPreviewImpersonation } from "../helpers/preview.ts";
import { adminKubeConfig, loadTestEnv, serviceAccountKubeConfig } from "../helpers/testenv.ts";

/**
 * Integration harness for the MCP read tools: the real MCP SDK client talks
 * to Deputy's server over a linked in-memory transport; the server reads the
 * real API server as a service account bound to deputy-reader, applied from
 * manifests/base/rbac/deputy-reader.yaml, that may impersonate the preview
 * account (test/helpers/preview.ts applies it from the manifests).
 */
export const READER_NAMESPACE = "deputy-system";
export const READER_ACCOUNT = "deputy-mcp-reader";

const MANIFEST = join(import.meta.dirname, "../../manifests/base/rbac/deputy-reader.yaml");

let roleApplied: Promise<void> | undefined;

/** Apply the deputy-reader ClusterRole exactly as shipped in manifests/. */
export function applyReaderRole(): Promise<void> {
  roleApplied ??= (async () => {
    const objects = readFileSync(MANIFEST, "utf8")
      .split(/^---$/m)
      .map((doc) => parse(doc) as KubernetesObject | null)
      .filter((o): o is KubernetesObject => Boolean(o));
    for (const object of objects) await serverSideApply(adminKubeConfig(), object);
  })();
  return roleApplied;
}

/** The test read identity: deputy-reader, and (as deputy-mcp) the right to impersonate the dry-run-only preview account. */
export async function readerKubeConfig(): Promise<KubeConfig> {
  await applyReaderRole();
  const kubeConfig = await serviceAccountKubeConfig(READER_NAMESPACE, READER_ACCOUNT, {
    clusterRole: "deputy-reader",
  });
  await allowPreviewImpersonation(READER_NAMESPACE, READER_ACCOUNT);
  return kubeConfig;
}

export interface Harness {
  client: Client;
  deps: McpDeps;
  audit: AuditRecord[];
  requests: KubeRequestEvent[];
  call(name: string, args?: Record<string, unknown>, meta?: Record<string, unknown>): Promise<ToolReply>;
  close(): Promise<void>;
}

export interface ToolReply {
  result: CallToolResult;
  text: string;
  isError: boolean;
  structured: Record<string, unknown> | undefined;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  kubeConfig?: KubeConfig;
  kube?: KubeClientOptions;
  /** The key proposals are signed with (default: the test processes' own); another process must share it. */
  actionKey?: Buffer;
  /** false: no preview identity (nothing that needs a dry run can be proposed). */
  preview?: false;
}

const silent = new Writable({
  write(_chunk, _encoding, callback) {
    callback();
  },
});

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const kubeConfig = options.kubeConfig ?? (await readerKubeConfig());
  // Each harness keeps its rate limits, pauses and proposals under its own Redis prefix.
  const config = parseConfig({
    DEPUTY_CLUSTER_NAME: "testenv",
    DEPUTY_REDIS_PREFIX: `deputy-test-harness-${randomBytes(4).toString("hex")}:`,
    ...options.env,
  });
  const audit: AuditRecord[] = [];
  const requests: KubeRequestEvent[] = [];
  const logger = createLogger({ level: "warn", destination: silent });
  // Pointed at a Redis of the test's own (or at sentinels), the MCP server connects as deployed.
  const redis =
    options.env?.DEPUTY_REDIS_SENTINELS || options.env?.REDIS_URL
      ? createRedisClient(config.redis, { maxRetriesPerRequest: 2 })
      : new Redis(loadTestEnv().redisUrl);
  // A failover a test causes is reported once in the (silent) log, not as unhandled errors.
  watchRedisHealth(redis, logger);
  const auditLog = createAuditLog({ destination: silent, onRecord: (record) => audit.push(record) });
  const deps: McpDeps = {
    config,
    logger,
    audit: auditLog,
    ...createWriteDeps({ config, redis, audit: auditLog, actionKey: options.actionKey ?? TEST_ACTION_KEY }),
    kube: createKubeClients(kubeConfig, {
      maxConcurrency: config.kube.maxConcurrency,
      ...options.kube,
      onRequest: (event) => {
        requests.push(event);
        options.kube?.onRequest?.(event);
      },
    }),
  };
  if (options.preview !== false) {
    deps.preview = previewFromConfig(config, kubeConfig, logger);
    await deps.preview.check();
  }
  const connection = await connectInMemory(deps);
  return {
    client: connection.client,
    deps,
    audit,
    requests,
    async call(name, args = {}, meta) {
      const result = (await connection.client.callTool({
        name,
        arguments: args,
        ...(meta ? { _meta: meta } : {}),
      })) as CallToolResult;
      const text = result.content
        .filter((c) => c.type === "text")
        .map((c) => c.text)
        .join("\n");
      return {
        result,
        text,
        isError: result.isError === true,
        structured: result.structuredContent as Record<string, unknown> | undefined,
      };
    },
    async close() {
      await connection.close();
      closeMcpDeps(deps);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** What an approver sees for a proposal: the stored action (MAC verified) with its view's text. */
export type ProposalView = PendingAction & { summary: string; preview: string[] };

export async function storedProposal(store: ActionStore, reply: ToolReply): Promise<ProposalView> {
  if (reply.isError) throw new Error(`expected a pending action, got an error: ${reply.text}`);
  const ref = reply.structured?.pendingAction as { id: string } | undefined;
  if (!ref) throw new Error(`no pending action in the reply: ${reply.text}`);
  const action = await store.get(ref.id);
  if (!action) throw new Error(`pending action ${ref.id} is not stored`);
  const view = approvalViewOf(action);
  return { ...action, summary: view.summary, preview: [...view.security, ...view.changes, ...view.notes] };
}
