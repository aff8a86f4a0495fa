import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditRecordFromLine, type AuditRecord } from "../../core/audit/log.ts";
import type { ConsoleEvent } from "../../console/events.ts";
import { startAnthropicFake, text, toolUse, type AnthropicFake } from "../fakes/anthropic.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import {
  otlpEnv,
  startOtlpReceiver,
  traceOf,
  type ExportedSpan,
  type OtlpReceiver,
} from "../helpers/otlp-receiver.ts";
import { adminKubeConfig } from "../helpers/testenv.ts";
import {
  CONSOLE_WRITE_NAMESPACE,
  localModeEnv,
  startLocalModeProcess,
  type RunningLocalMode,
} from "./local-mode-process.ts";
import { readConsoleEvents, turnDone } from "./sse.ts";

/**
 * Local mode (`deputy start`) traced as the cluster deployment is: a console
 * question, a direct command and an approval click are each one trace, rooted
 * in the console request, with the agent turn, the MCP tool calls, the policy
 * decisions and the OpenBao and Kubernetes calls as its descendants. Spans
 * are batched for longer than the test runs, so they reach the OTLP receiver
 * only when SIGTERM stops the process — before it exits.
 */

const REPO = resolve(import.meta.dirname, "..", "..");
const NS = CONSOLE_WRITE_NAMESPACE;
const NAME = `traced-${randomBytes(3).toString("hex")}`;

let otlp: OtlpReceiver;
let model: AnthropicFake;
let local: RunningLocalMode;
let workDir: string;
let decisionActionId = "";

async function post(path: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(new URL(path, local.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Start a thread as alice and wait for its turn to finish; its events. */
async function ask(text: string): Promise<ConsoleEvent[]> {
  const response = await post("/api/threads", { user: "alice", text });
  expect(response.status).toBe(202);
  const { threadId } = (await response.json()) as { threadId: string };
  return (await readConsoleEvents(local.url, turnDone(threadId), { timeoutMs: 30_000 })).filter(
    (event) => event.threadId === threadId,
  );
}

function auditRecords(): AuditRecord[] {
  return readFileSync(join(workDir, "audit.jsonl"), "utf8")
    .split("\n")
    .flatMap((line) => {
      const record = auditRecordFromLine(line);
      return record ? [record] : [];
    });
}

describe("local mode traces", () => {
  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "deputy-console-trace-"));
    otlp = await startOtlpReceiver();
    model = await startAnthropicFake({
      script: [toolUse("list_pods", { namespace: NS }), text(`Here are the pods in ${NS}.`)],
    });
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } }).catch((error: { code?: number }) => {
      if (error.code !== 409) throw error;
    });
    await freshDeployment(NS, NAME);
    local = await startLocalModeProcess({
      command: join(REPO, "node_modules", ".bin", "node"),
      args: [join(REPO, "cli", "deputy.ts"), "start"],
      cwd: REPO,
      env: localModeEnv({
        ANTHROPIC_API_KEY: model.apiKey,
        ANTHROPIC_BASE_URL: model.url,
        DEPUTY_AUDIT_FILE: join(workDir, "audit.jsonl"),
        DEPUTY_LOG_FILE: join(workDir, "deputy.log"),
        DEPUTY_WATCH_NAMESPACES: "deputy-console-trace-none",
        ...otlpEnv(otlp, 60_000),
        // Start-up alone (identities, OpenBao set-up) is some 500 spans: a full batch (512 by
        // default) would be sent at once; here every span is left for the flush.
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "2048",
      }),
      timeoutMs: 45_000,
    });
  }, 60_000);

  afterAll(async () => {
    if (local && local.child.exitCode === null) await local.stop();
    await model?.close();
    await otlp?.close();
    await adminKubeConfig()
      .makeApiClient(AppsV1Api)
      .deleteNamespacedDeployment({ name: NAME, namespace: NS })
      .catch(() => undefined);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("answers a question, proposes a write from a direct command and runs it on bob's approval", async () => {
    const answer = await ask(`what runs in ${NS}?`);
    expect(
      answer.flatMap((event) =>
        event.type === "tool_call" && event.status !== "running" ? [event.tool] : [],
      ),
    ).toEqual(["list_pods"]);

    const proposal = await ask(`scale deployment/${NAME} --replicas 2 -n ${NS}`);
    const card = proposal.find((event) => event.type === "card");
    expect(card?.type === "card" && card.card.tool).toBe("scale_deployment");
    decisionActionId = card?.type === "card" ? card.card.actionId : "";
    const digest = card?.type === "card" ? card.card.digest : "";

    const decided = await post(`/api/actions/${decisionActionId}/decision`, {
      user: "bob",
      decision: "approve",
      digest,
    });
    const result = (await decided.json()) as Record<string, unknown>;
    expect(result, JSON.stringify(result)).toMatchObject({ status: "succeeded" });
    const live = await adminKubeConfig()
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: NAME, namespace: NS });
    expect(live.spec?.replicas).toBe(2);
    // Batched for 60 s: nothing has been exported yet.
    expect(otlp.spans).toEqual([]);
  });

  it("exports every span when SIGTERM stops it, before it exits", async () => {
    let spansAtExit = -1;
    local.child.once("exit", () => (spansAtExit = otlp.spans.length));
    const stopped = await local.stop(30_000, "SIGTERM");
    expect(stopped.code, stopped.output).toBe(0);
    expect(otlp.rejected).toEqual([]);
    expect(otlp.spans.length).toBeGreaterThan(0);
    expect(spansAtExit).toBe(otlp.spans.length);
    expect(new Set(otlp.spans.map((span) => span.service))).toEqual(new Set(["deputy"]));
  });

  it("makes the question, the command and the approval one trace each, rooted in the console request", () => {
    const roots = otlp.spans.filter((span) => span.name.startsWith("console "));
    for (const root of roots) expect(root.parentSpanId, root.name).toBeUndefined();
    const traceRootedIn = (root: ExportedSpan): ReturnType<typeof traceOf> => {
      const trace = traceOf(otlp.spans, root.traceId);
      // One root, and every parent link inside the trace.
      expect(trace.spans.filter((span) => !span.parentSpanId)).toEqual([root]);
      for (const span of trace.spans)
        if (span !== root) expect(trace.parentOf(span), span.name).toBeDefined();
      return trace;
    };
    const underRoot = (trace: ReturnType<typeof traceOf>, name: string): ExportedSpan[] =>
      trace.spans.filter((span) => span.name === name);

    // The question: console message → agent turn → tool list_pods → kube GET.
    const question = roots
      .filter((root) => root.name === "console message")
      .map(traceRootedIn)
      .find((trace) => underRoot(trace, "agent turn").length > 0);
    expect(question, JSON.stringify(otlp.spans, null, 1)).toBeDefined();
    const [turn] = underRoot(question!, "agent turn");
    expect(question!.parentOf(turn!)?.name).toBe("console message");
    const [listPods] = underRoot(question!, "tool list_pods");
    expect(question!.parentOf(listPods!)).toBe(turn);
    expect(underRoot(question!, "kube GET").some((span) => question!.parentOf(span) === listPods)).toBe(true);

    // The direct command: console message → tool scale_deployment → policy precheck and decision.
    const records = auditRecords();
    const pending = records.find((r) => r.kind === "pending_action" && r.actionId === decisionActionId);
    expect(pending?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const commandRoot = roots.find((root) => root.traceId === pending!.traceId);
    expect(commandRoot?.name).toBe("console message");
    const command = traceRootedIn(commandRoot!);
    const [scale] = underRoot(command, "tool scale_deployment");
    expect(command.parentOf(scale!)).toBe(commandRoot);
    expect(command.parentOf(underRoot(command, "policy precheck")[0]!)).toBe(scale);
    expect(command.parentOf(underRoot(command, "policy decision")[0]!)).toBe(scale);
    expect(underRoot(command, "agent turn")).toEqual([]);

    // The approval: console decision → OpenBao and Kubernetes calls, named in its audit records.
    const approval = records.find(
      (r) => r.kind === "approval_decision" && r.actionId === decisionActionId && r.decision === "approved",
    );
    expect(approval?.traceId).toMatch(/^[0-9a-f]{32}$/);
    for (const record of records.filter((r) => r.kind === "execution" && r.actionId === decisionActionId)) {
      expect(record.traceId).toBe(approval!.traceId);
    }
    // Log lines about the credential the approval used name its trace too.
    const leases = new Set(
      records.filter((r) => r.actionId === decisionActionId && r.leaseId).map((r) => r.leaseId),
    );
    const leaseLines = readFileSync(join(workDir, "deputy.log"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.audit === undefined && leases.has(line.leaseId as string));
    expect(leaseLines.length).toBeGreaterThan(0);
    for (const line of leaseLines) expect(line.traceId, JSON.stringify(line)).toBe(approval!.traceId);
    const decisionRoot = roots.find((root) => root.traceId === approval!.traceId);
    expect(decisionRoot?.name).toBe("console decision");
    const decision = traceRootedIn(decisionRoot!);
    expect(decision.spans.some((span) => span.name === "openbao POST")).toBe(true);
    expect(decision.spans.some((span) => /^kube (PATCH|PUT)$/.test(span.name))).toBe(true);
    expect(new Set([question!, command, decision].map((trace) => trace.spans[0]!.traceId)).size).toBe(3);
  });
});
