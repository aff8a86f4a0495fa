import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AppsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  lastToolResults,
  startAnthropicFake,
  text,
  toolUse,
  type AnthropicFake,
} from "../fakes/anthropic.ts";
import { adminKubeConfig, seedCluster } from "../helpers/testenv.ts";
import { localModeEnv, startLocalModeProcess, type RunningLocalMode } from "./local-mode-process.ts";
import { readConsoleEvents, turnDone } from "./sse.ts";

/**
 * With ANTHROPIC_API_KEY set, local mode runs the real agent loop (the real
 * Anthropic SDK, here against a scripted Messages API fake over HTTP): the
 * console streams the agent's tool calls, shows its write proposal as an
 * approval card carrying the agent's reason and the console user as
 * requester, and the cluster stays unchanged until a human decides.
 */

const REPO = resolve(import.meta.dirname, "..", "..");

let fake: AnthropicFake;
let local: RunningLocalMode;
let workDir: string;

async function checkoutTemplateAnnotations(): Promise<Record<string, string> | undefined> {
  const apps = adminKubeConfig().makeApiClient(AppsV1Api);
  const deployment = await apps.readNamespacedDeployment({ namespace: "shop", name: "checkout" });
  return deployment.spec?.template.metadata?.annotations;
}

describe("local mode with a model", () => {
  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "deputy-console-agent-"));
    await seedCluster();
    fake = await startAnthropicFake({
      script: [
        toolUse("troubleshoot_pod", { namespace: "shop", name: "checkout" }, "Let me look at checkout."),
        toolUse("restart_deployment", {
          namespace: "shop",
          name: "checkout",
          reason: "Restart checkout after the config fix is rolled out",
        }),
        text(
          "checkout crashes because PAYMENT_GATEWAY_URL is missing. I asked to restart it; an approver must decide.",
        ),
      ],
    });
    local = await startLocalModeProcess({
      command: join(REPO, "node_modules", ".bin", "node"),
      args: [join(REPO, "cli", "deputy.ts"), "start"],
      cwd: REPO,
      env: localModeEnv({
        ANTHROPIC_API_KEY: fake.apiKey,
        ANTHROPIC_BASE_URL: fake.url,
        DEPUTY_AUDIT_FILE: join(workDir, "audit.jsonl"),
        DEPUTY_LOG_FILE: join(workDir, "deputy.log"),
        DEPUTY_WATCH_NAMESPACES: "deputy-console-agent-none",
        // alice may approve too: only the two-person rule stops her approving her own request.
        DEPUTY_LOCAL_USERS: "alice:requester:approver,bob:approver",
      }),
      timeoutMs: 120_000,
    });
  }, 300_000);

  afterAll(async () => {
    if (local && local.child.exitCode === null) await local.stop();
    await fake?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("reports the model and streams the agent's tool calls, card and answer", async () => {
    const status = (await (await fetch(new URL("/api/status", local.url))).json()) as {
      model: { enabled: boolean; name?: string };
    };
    expect(status.model.enabled).toBe(true);

    const before = await checkoutTemplateAnnotations();
    const response = await fetch(new URL("/api/threads", local.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "alice", text: "why is checkout crashing in shop?" }),
    });
    expect(response.status).toBe(202);
    const { threadId } = (await response.json()) as { threadId: string };
    const events = (await readConsoleEvents(local.url, turnDone(threadId), { timeoutMs: 60_000 })).filter(
      (event) => event.threadId === threadId,
    );

    const tools = events.flatMap((event) =>
      event.type === "tool_call" && event.status !== "running" ? [[event.tool, event.status]] : [],
    );
    expect(tools).toEqual([
      ["troubleshoot_pod", "ok"],
      ["restart_deployment", "ok"],
    ]);
    const card = events.find((event) => event.type === "card");
    expect(card?.type === "card" && card.card).toMatchObject({
      tool: "restart_deployment",
      target: "deployment shop/checkout",
      state: "pending",
      reason: "Restart checkout after the config fix is rolled out",
      requester: { kind: "local", id: "alice" },
    });
    const answer = events.filter((event) => event.type === "message" && event.role === "deputy").at(-1);
    expect(answer?.type === "message" && answer.text).toContain("PAYMENT_GATEWAY_URL is missing");

    // The model saw the diagnosis as fenced data, and the cluster is unchanged.
    expect(fake.requests).toHaveLength(3);
    expect(lastToolResults(fake.requests[1]!.body).join("\n")).toMatch(/CrashLoopBackOff/);
    expect(await checkoutTemplateAnnotations()).toEqual(before);

    // alice is an approver here, yet the executor refuses her own request.
    const actionId = card?.type === "card" ? card.card.actionId : "";
    const own = await fetch(new URL(`/api/actions/${actionId}/decision`, local.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "alice", decision: "approve" }),
    });
    expect(own.status).toBe(403);
    expect(await own.json()).toMatchObject({ status: "refused", rule: "two-person-rule" });
    const rejected = await fetch(new URL(`/api/actions/${actionId}/decision`, local.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "bob", decision: "reject" }),
    });
    expect(await rejected.json()).toMatchObject({ status: "rejected", state: "rejected" });
    expect(await checkoutTemplateAnnotations()).toEqual(before);
  });
});
