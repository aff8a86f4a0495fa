import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createAuditLog } from "../../core/audit/log.ts";
import { createMetrics, startMetricsServer, type MetricsServer } from "../../core/observability/metrics.ts";
import { recordAction } from "./audit-fixtures.ts";

const quiet = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

/** True when the exposition has this sample, whatever order the labels come in. */
function sample(body: string, expected: string): boolean {
  const parse = (line: string): { name: string; labels: string[]; value: string } => {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line.trim());
    if (!match) return { name: line, labels: [], value: "" };
    return { name: match[1]!, labels: (match[2] ?? "").split(",").filter(Boolean).sort(), value: match[3]! };
  };
  const want = parse(expected);
  return body.split("\n").some((line) => {
    const got = parse(line);
    return (
      got.name === want.name && got.value === want.value && got.labels.join(",") === want.labels.join(",")
    );
  });
}

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe("metrics", () => {
  it("observes approval latency from the executor's approval_decision records", async () => {
    const metrics = createMetrics({ labels: { component: "test" } });
    const audit = createAuditLog({ destination: quiet(), onRecord: metrics.observeAudit });
    audit.record({ kind: "approval_decision", decision: "approved", durationMs: 4_000 });
    audit.record({ kind: "approval_decision", decision: "rejected", durationMs: 90_000 });
    audit.record({ kind: "approval_decision", decision: "refused", durationMs: 1_000 });
    const body = await metrics.registry.metrics();
    expect(
      sample(body, 'deputy_approval_latency_seconds_bucket{le="5",decision="approved",component="test"} 1'),
    ).toBe(true);
    expect(
      sample(body, 'deputy_approval_latency_seconds_count{decision="rejected",component="test"} 1'),
    ).toBe(true);
    expect(body).not.toMatch(/deputy_approval_latency_seconds_count\{decision="refused"/);
  });

  it("counts tool calls, decisions and executions from audit records, served at /metrics", async () => {
    const metrics = createMetrics({ labels: { component: "test" } });
    const audit = createAuditLog({ destination: quiet(), onRecord: metrics.observeAudit });
    recordAction(audit, "act_ONExxxxxxxxxxxxxxxxxxxx", "approved");
    recordAction(audit, "act_TWOxxxxxxxxxxxxxxxxxxxx", "failed");
    recordAction(audit, "act_THREExxxxxxxxxxxxxxxxxx", "rejected");
    metrics.setPendingActionsSource(async () => ({ pending: 3, succeeded: 1 }));
    metrics.observeApprovalLatency(42, "approved");
    metrics.openbaoLogin("ok");
    metrics.openbaoLogin("error");
    metrics.openbaoError("revoke");
    metrics.kubeApiError("list_pods", 429);
    metrics.kubeApiError("list_pods", undefined);
    metrics.llmTokens({ input: 1200, output: 300, model: "claude-sonnet-4-5" });
    metrics.observeSlackAck(0.012, "event");

    const server = await startMetricsServer(metrics, { host: "127.0.0.1", port: 0 });
    servers.push(server);
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const body = await response.text();
    const has = (line: string): void => expect(sample(body, line)).toBe(true);
    has('deputy_tool_calls_total{tool="restart_deployment",outcome="ok",component="test"} 3');
    has('deputy_tool_call_duration_seconds_count{tool="restart_deployment",outcome="ok",component="test"} 3');
    has('deputy_policy_decisions_total{decision="allow",rule="default-allow",component="test"} 3');
    has('deputy_approval_decisions_total{decision="approved",component="test"} 2');
    has('deputy_approval_decisions_total{decision="rejected",component="test"} 1');
    has(
      'deputy_executions_total{tool="restart_deployment",outcome="succeeded",code="200",component="test"} 1',
    );
    has('deputy_executions_total{tool="restart_deployment",outcome="failed",code="409",component="test"} 1');
    has('deputy_pending_actions{state="pending",component="test"} 3');
    has('deputy_pending_actions{state="expired",component="test"} 0');
    has('deputy_approval_latency_seconds_bucket{le="60",decision="approved",component="test"} 1');
    has('deputy_openbao_logins_total{outcome="error",component="test"} 1');
    has('deputy_openbao_errors_total{operation="login",component="test"} 1');
    has('deputy_openbao_errors_total{operation="revoke",component="test"} 1');
    has('deputy_kube_api_errors_total{operation="list_pods",code="429",component="test"} 1');
    has('deputy_kube_api_errors_total{operation="list_pods",code="network",component="test"} 1');
    has('deputy_llm_tokens_total{direction="in",model="claude-sonnet-4-5",component="test"} 1200');
    has('deputy_llm_tokens_total{direction="out",model="claude-sonnet-4-5",component="test"} 300');
    has('deputy_slack_ack_seconds_bucket{le="0.025",kind="event",component="test"} 1');
    has('deputy_audit_records_total{kind="execution",component="test"} 2');

    expect((await fetch(server.url.replace("/metrics", "/other"))).status).toBe(404);
    expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
  });

  it("keeps registries apart: two instances never share a series", async () => {
    const a = createMetrics();
    const b = createMetrics({ processMetrics: true });
    a.anomaly("delete-burst");
    expect(await a.registry.metrics()).toContain('deputy_anomalies_total{rule="delete-burst"} 1');
    expect(await b.registry.metrics()).not.toContain('deputy_anomalies_total{rule="delete-burst"}');
    expect(await b.registry.metrics()).toContain("deputy_process_cpu_user_seconds_total");
  });

  it("answers 500 with a reason when the pending-actions source fails", async () => {
    const metrics = createMetrics();
    metrics.setPendingActionsSource(async () => {
      throw new Error("redis down");
    });
    const server = await startMetricsServer(metrics, { host: "127.0.0.1", port: 0 });
    servers.push(server);
    const response = await fetch(server.url);
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("redis down");
  });
});
