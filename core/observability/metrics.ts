import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuditRecord } from "../audit/log.ts";
import type { ActionState } from "../actions/schema.ts";
import { ACTION_STATES } from "../actions/schema.ts";

/**
 * Prometheus metrics. Each process creates its own registry with
 * createMetrics() and passes the Metrics object down in deps (tests create
 * their own; there is no global default registry).
 *
 * Tool calls, policy decisions, approval decisions and executions are counted
 * from audit records — wire `metrics.observeAudit` as an AuditLog observer and
 * do not count them again. Everything that is not an audit event (OpenBao
 * logins, Kubernetes API errors, LLM tokens, Slack acks, approval latency) is
 * reported by the component that sees it, through the methods below.
 */

export type OpenBaoOperation = "login" | "creds" | "revoke" | "lookup";
export type TriageOutcome = "posted" | "deduplicated" | "rate_limited" | "failed";
export type AgentAdmissionOutcome = "allowed" | "turns_limit" | "tokens_limit";

export interface Metrics {
  readonly registry: Registry;
  /** AuditLog observer: counts and times tool calls, decisions and executions. */
  observeAudit(record: AuditRecord): void;
  /** Pending actions by state, read from the shared store at scrape time (correct across replicas). */
  setPendingActionsSource(source: () => Promise<Partial<Record<ActionState, number>>>): void;
  /** Time from a pending action's creation to a human's decision. */
  observeApprovalLatency(seconds: number, decision: "approved" | "rejected" | "expired"): void;
  openbaoLogin(outcome: "ok" | "error"): void;
  openbaoError(operation: OpenBaoOperation): void;
  /** A failed Kubernetes API call; `status` is the HTTP code, undefined for network errors. */
  kubeApiError(operation: string, status: number | undefined): void;
  llmTokens(usage: { input: number; output: number; model?: string }): void;
  /** Time from receiving a Slack request to ack() (must stay well under 3 s). */
  observeSlackAck(
    seconds: number,
    kind: "event" | "action" | "command" | "view" | "options" | "shortcut",
  ): void;
  anomaly(rule: string): void;
  triage(reason: string, outcome: TriageOutcome): void;
  /** An agent turn asked for: let through, or refused by a person's hourly turn or token limit. */
  agentAdmission(outcome: AgentAdmissionOutcome): void;
}

export interface MetricsOptions {
  /** Node process metrics (CPU, memory, event loop) with the deputy_ prefix. */
  processMetrics?: boolean;
  /** Static labels on every series, e.g. { component: "mcp" }. */
  labels?: Record<string, string>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const APPROVAL_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const ACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: "deputy_" });
  const registers = [registry];

  const toolCalls = new Counter({
    name: "deputy_tool_calls_total",
    help: "MCP tool calls by tool and outcome",
    labelNames: ["tool", "outcome"] as const,
    registers,
  });
  const toolDuration = new Histogram({
    name: "deputy_tool_call_duration_seconds",
    help: "MCP tool call latency",
    labelNames: ["tool", "outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const policyDecisions = new Counter({
    name: "deputy_policy_decisions_total",
    help: "Guardrail decisions by decision and rule",
    labelNames: ["decision", "rule"] as const,
    registers,
  });
  const pendingCreated = new Counter({
    name: "deputy_pending_actions_created_total",
    help: "Write proposals stored as pending actions, by tool",
    labelNames: ["tool"] as const,
    registers,
  });
  const approvalDecisions = new Counter({
    name: "deputy_approval_decisions_total",
    help: "Approval decisions by decision",
    labelNames: ["decision"] as const,
    registers,
  });
  const executions = new Counter({
    name: "deputy_executions_total",
    help: "Executed actions by tool, outcome and Kubernetes status code",
    labelNames: ["tool", "outcome", "code"] as const,
    registers,
  });
  const executionDuration = new Histogram({
    name: "deputy_execution_duration_seconds",
    help: "Time to execute an approved action (credential, call, revocation)",
    labelNames: ["tool", "outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const auditRecords = new Counter({
    name: "deputy_audit_records_total",
    help: "Audit records written, by kind",
    labelNames: ["kind"] as const,
    registers,
  });
  let pendingSource: (() => Promise<Partial<Record<ActionState, number>>>) | undefined;
  new Gauge({
    name: "deputy_pending_actions",
    help: "Actions in the shared store by state",
    labelNames: ["state"] as const,
    registers,
    async collect() {
      if (!pendingSource) return;
      const counts = await pendingSource();
      for (const state of ACTION_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  const approvalLatency = new Histogram({
    name: "deputy_approval_latency_seconds",
    help: "Time from a pending action's creation to a human decision",
    labelNames: ["decision"] as const,
    buckets: APPROVAL_BUCKETS,
    registers,
  });
  const baoLogins = new Counter({
    name: "deputy_openbao_logins_total",
    help: "OpenBao Kubernetes auth logins by outcome",
    labelNames: ["outcome"] as const,
    registers,
  });
  const baoErrors = new Counter({
    name: "deputy_openbao_errors_total",
    help: "OpenBao errors by operation",
    labelNames: ["operation"] as const,
    registers,
  });
  const kubeErrors = new Counter({
    name: "deputy_kube_api_errors_total",
    help: "Failed Kubernetes API calls by operation and HTTP status (network for no response)",
    labelNames: ["operation", "code"] as const,
    registers,
  });
  const llmTokens = new Counter({
    name: "deputy_llm_tokens_total",
    help: "LLM tokens by direction and model",
    labelNames: ["direction", "model"] as const,
    registers,
  });
  const slackAck = new Histogram({
    name: "deputy_slack_ack_seconds",
    help: "Time from receiving a Slack request to acknowledging it",
    labelNames: ["kind"] as const,
    buckets: ACK_BUCKETS,
    registers,
  });
  const anomalies = new Counter({
    name: "deputy_anomalies_total",
    help: "Anomaly alerts fired, by rule",
    labelNames: ["rule"] as const,
    registers,
  });
  const agentAdmissions = new Counter({
    name: "deputy_agent_turn_admissions_total",
    help: "Agent turns asked for, by outcome: allowed, or refused by a person's hourly turn or token limit",
    labelNames: ["outcome"] as const,
    registers,
  });
  const triages = new Counter({
    name: "deputy_triage_total",
    help: "Proactive triage messages by problem and outcome",
    labelNames: ["reason", "outcome"] as const,
    registers,
  });

  return {
    registry,
    observeAudit(record) {
      auditRecords.inc({ kind: record.kind });
      const tool = record.tool ?? "unknown";
      switch (record.kind) {
        case "tool_call": {
          const outcome = record.outcome ?? "ok";
          toolCalls.inc({ tool, outcome });
          if (record.durationMs !== undefined)
            toolDuration.observe({ tool, outcome }, record.durationMs / 1000);
          break;
        }
        case "policy_decision":
          policyDecisions.inc({ decision: record.decision ?? "unknown", rule: record.rule ?? "none" });
          break;
        case "pending_action":
          pendingCreated.inc({ tool });
          break;
        case "approval_decision":
          approvalDecisions.inc({ decision: record.decision ?? "unknown" });
          if (
            record.durationMs !== undefined &&
            (record.decision === "approved" || record.decision === "rejected")
          ) {
            approvalLatency.observe({ decision: record.decision }, record.durationMs / 1000);
          }
          break;
        case "execution": {
          const outcome = record.outcome ?? "unknown";
          executions.inc({
            tool,
            outcome,
            code: record.kubeStatus === undefined ? "none" : String(record.kubeStatus),
          });
          if (record.durationMs !== undefined) {
            executionDuration.observe({ tool, outcome }, record.durationMs / 1000);
          }
          break;
        }
        default:
          break;
      }
    },
    setPendingActionsSource(source) {
      pendingSource = source;
    },
    observeApprovalLatency(seconds, decision) {
      approvalLatency.observe({ decision }, seconds);
    },
    openbaoLogin(outcome) {
      baoLogins.inc({ outcome });
      if (outcome === "error") baoErrors.inc({ operation: "login" });
    },
    openbaoError(operation) {
      baoErrors.inc({ operation });
    },
    kubeApiError(operation, status) {
      kubeErrors.inc({ operation, code: status === undefined ? "network" : String(status) });
    },
    llmTokens({ input, output, model }) {
      const m = model ?? "unknown";
      if (input > 0) llmTokens.inc({ direction: "in", model: m }, input);
      if (output > 0) llmTokens.inc({ direction: "out", model: m }, output);
    },
    observeSlackAck(seconds, kind) {
      slackAck.observe({ kind }, seconds);
    },
    anomaly(rule) {
      anomalies.inc({ rule });
    },
    triage(reason, outcome) {
      triages.inc({ reason, outcome });
    },
    agentAdmission(outcome) {
      agentAdmissions.inc({ outcome });
    },
  };
}

/**
 * Serves GET /metrics for any node:http server; returns false for other
 * paths so the caller can route them. Usable inside the MCP server, the
 * executor and the Slack app's HTTP receiver (customRoutes).
 */
export async function handleMetricsRequest(
  metrics: Metrics,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<boolean> {
  const path = (request.url ?? "/").split("?")[0];
  if (path !== "/metrics") return false;
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" }).end();
    return true;
  }
  try {
    const body = await metrics.registry.metrics();
    response.writeHead(200, { "content-type": metrics.registry.contentType });
    response.end(request.method === "HEAD" ? undefined : body);
  } catch (error) {
    response
      .writeHead(500, { "content-type": "text/plain" })
      .end(`metrics collection failed: ${String(error)}\n`);
  }
  return true;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** A small server with only /metrics, for processes that have no HTTP server of their own. */
export async function startMetricsServer(
  metrics: Metrics,
  listen: { host: string; port: number },
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    handleMetricsRequest(metrics, request, response).then(
      (handled) => {
        if (!handled) response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      },
      () => response.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
