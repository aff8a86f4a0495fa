import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoordinationV1Api, type KubernetesObject } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import { connectMcpOverHttp } from "../../bot/mcp-client.ts";
import type { DeputyKeys } from "../../core/identity/keys.ts";
import { createOpenBaoClient } from "../../executor/openbao-client.ts";
import { setupOpenBao } from "../../executor/openbao-setup.ts";
import { OPENBAO_ACCOUNT, prepareNamespaces } from "../executor/write-env.ts";
import { dropPrefix } from "../executor/support.ts";
import { startAnthropicFake, text, toolUse, type AnthropicFake } from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { ensureKeysInOpenBao } from "../helpers/deputy-keys.ts";
import {
  otlpEnv,
  startOtlpReceiver,
  traceOf,
  type ExportedSpan,
  type OtlpReceiver,
} from "../helpers/otlp-receiver.ts";
import {
  adminKubeConfig,
  eventually,
  loadTestEnv,
  mintServiceAccountToken,
  SEED,
} from "../helpers/testenv.ts";
import { MANIFESTS_DIR, renderKustomization, type KubeObject } from "../manifests/kustomize.ts";
import {
  applyObject,
  inClusterKubeconfig,
  onHost,
  podOf,
  shippedRoles,
  type PodShape,
} from "./shipped-env.ts";

/**
 * The production shape, end to end: the prod overlay rendered, and
 * `deputy mcp`, `deputy executor` and `deputy bot` started as three processes
 * with exactly their Deployments' environment, service accounts and projected
 * tokens, against the real API server, the OpenBao-compatible server and
 * Redis; Slack and the model are fakes spoken to over HTTP and WebSocket.
 *
 * What differs from a cluster, and only that: addresses (Services, OpenBao,
 * Redis and ports become local ones), paths (mounts live under a temporary
 * directory; the in-cluster client configuration is written as the kubeconfig
 * it amounts to), the OpenBao mount and policy names (roles.yaml's own, under
 * a name nobody else configures on the shared server), the Redis key prefix,
 * and the values an operator must set (approver group, channels), set here as
 * the operator's guide tells them to.
 */
const ROOT = join(import.meta.dirname, "../..");
const CLI = join(ROOT, "cli/deputy.ts");
const MOUNT = "k8s-deputy-shipped";
const GROUP = "S0ONCALL";
const OPS = "C0OPS";
const ALERTS = "C0ALERTS";
const TRIAGE = "C0TRIAGE";
const ALICE = "U0ALICE";
const CAROL = "U0CAROL";
const NS = "shop";
const NAME = `shipped-${randomBytes(3).toString("hex")}`;
const prefix = `deputy-test-shipped-${randomBytes(4).toString("hex")}:`;

/** What an operator sets in the prod overlay (docs/operator-guide.md). */
const OPERATOR: Record<string, Record<string, string>> = {
  "deputy-agent": {
    DEPUTY_APPROVER_GROUP: GROUP,
    DEPUTY_ALLOWED_CHANNELS: OPS,
    SLACK_ALERT_CHANNEL: ALERTS,
    SLACK_TRIAGE_CHANNEL: TRIAGE,
  },
  "deputy-system": { DEPUTY_APPROVER_GROUP: GROUP },
};

interface Running {
  child: ChildProcess;
  output: () => string;
}

let slack: SlackFake;
let model: AnthropicFake;
let redis: Redis;
let keys: DeputyKeys;
let work: string;
const running: Record<string, Running> = {};
const ports: Record<string, number> = {};
const envs: Record<string, Record<string, string>> = {};
let objects: KubeObject[];
let otlp: OtlpReceiver;

/** Audit records a process wrote to its stdout. */
function auditRecords(name: string): Record<string, unknown>[] {
  return running[name]!.output()
    .split("\n")
    .flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as { audit?: Record<string, unknown> };
        return parsed.audit ? [parsed.audit] : [];
      } catch {
        return [];
      }
    });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The pod's environment with this machine's addresses, paths and ports in place of the cluster's. */
async function processEnv(pod: PodShape, metricsPort: number): Promise<Record<string, string>> {
  const test = loadTestEnv();
  const env: Record<string, string> = { ...pod.env };
  const remap: Record<string, string> = {
    REDIS_URL: test.redisUrl,
    BAO_ADDR: test.baoAddr,
    DEPUTY_MCP_URL: `http://127.0.0.1:${ports.mcp}/mcp`,
    DEPUTY_EXECUTOR_URL: `http://127.0.0.1:${ports.executor}`,
    DEPUTY_MCP_HOST: "127.0.0.1",
    DEPUTY_MCP_PORT: String(ports.mcp),
    DEPUTY_EXECUTOR_PORT: String(ports.executor),
    DEPUTY_METRICS_PORT: String(metricsPort),
    DEPUTY_BAO_AUTH_MOUNT: MOUNT,
    DEPUTY_BAO_SECRETS_MOUNT: MOUNT,
    DEPUTY_REDIS_PREFIX: prefix,
  };
  for (const [key, value] of Object.entries(remap)) if (key in env) env[key] = value;
  env.DEPUTY_REDIS_PREFIX = prefix;
  for (const [key, value] of Object.entries(env)) env[key] = onHost(pod, value);
  // The kubelet sets these in every pod; the files are the mounted ones.
  const server = new URL(test.server);
  env.KUBERNETES_SERVICE_HOST = server.hostname;
  env.KUBERNETES_SERVICE_PORT = server.port;
  if (pod.mountPaths.includes("/var/run/secrets/kubernetes.io/serviceaccount")) {
    env.KUBECONFIG = await inClusterKubeconfig(pod);
  }
  // Traces go to the in-test OTLP receiver, as an operator would set it (docs/operator-guide.md, "Traces").
  Object.assign(env, otlpEnv(otlp, 200));
  return { PATH: process.env.PATH ?? "", ...env };
}

async function start(name: string, pod: PodShape, env: Record<string, string>, ready: RegExp): Promise<void> {
  const args = pod.args.map((arg) => (arg === "0.0.0.0" ? "127.0.0.1" : arg));
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  running[name] = { child, output: () => output };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 60_000);
    const check = (): void => {
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited ${code}:\n${output}`));
    });
  });
}

async function applyRenderedIdentities(): Promise<void> {
  // Deputy's namespaces, service accounts, the read and preview identities' RBAC, as rendered.
  const kinds = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
  for (const kind of kinds) {
    for (const object of objects.filter((o) => o.kind === kind)) {
      // OpenBao's own RBAC is applied by prepareNamespaces (it needs one binding per writable namespace).
      // The login-review binding is the client accounts' own (their logins are reviewed with their tokens).
      const openbaos =
        (object.metadata.name.startsWith("deputy-openbao") &&
          object.metadata.name !== "deputy-openbao-login-review") ||
        object.metadata.namespace === "openbao";
      if (openbaos) continue;
      await applyObject(object as KubernetesObject);
    }
  }
  // The preview account's dry-run-only admission policy (OpenBao's guard stays out, as in local mode).
  for (const kind of ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]) {
    for (const object of objects.filter(
      (o) => o.kind === kind && o.metadata.name.startsWith("deputy-preview"),
    ))
      await applyObject(object as KubernetesObject);
  }
}

function mentionPayload(textBody: string, ts: string, eventId: string): Record<string, unknown> {
  return {
    team_id: slack.teamId,
    api_app_id: "A0DEPUTY",
    type: "event_callback",
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: "app_mention",
      user: ALICE,
      text: `<@${slack.botUserId}> ${textBody}`,
      ts,
      channel: OPS,
      team: slack.teamId,
      event_ts: ts,
    },
  };
}

function clickPayload(user: string, message: FakeMessage, actionId: string): Record<string, unknown> {
  const button = (
    message.blocks as {
      type: string;
      block_id?: string;
      elements?: { action_id?: string; value?: string }[];
    }[]
  )
    .flatMap((b) =>
      b.type === "actions" ? (b.elements ?? []).map((e) => ({ ...e, block_id: b.block_id })) : [],
    )
    .find((e) => e.action_id === actionId);
  if (!button) throw new Error(`no button ${actionId} on the card`);
  return {
    type: "block_actions",
    user: { id: user, username: user.toLowerCase(), team_id: slack.teamId },
    api_app_id: "A0DEPUTY",
    container: {
      type: "message",
      message_ts: message.ts,
      channel_id: message.channel,
      thread_ts: message.thread_ts,
    },
    trigger_id: `${Date.now()}.1`,
    team: { id: slack.teamId, domain: "fake" },
    channel: { id: message.channel, name: "ops" },
    message: {
      type: "message",
      ts: message.ts,
      thread_ts: message.thread_ts,
      text: message.text,
      blocks: message.blocks,
    },
    response_url: `${slack.apiUrl.replace(/\/api\/?$/, "")}/response/${randomBytes(6).toString("hex")}`,
    actions: [
      {
        type: "button",
        action_id: actionId,
        block_id: button.block_id,
        value: button.value,
        text: { type: "plain_text", text: actionId },
        action_ts: `${(Date.now() / 1000).toFixed(6)}`,
      },
    ],
  };
}

function botReplies(threadTs: string): FakeMessage[] {
  return slack.thread(OPS, threadTs).filter((m) => m.user === slack.botUserId);
}

function postsTo(channel: string): FakeMessage[] {
  return slack.messages.filter((m) => m.channel === channel && !m.ephemeralTo);
}

beforeAll(async () => {
  const test = loadTestEnv();
  objects = renderKustomization(join(MANIFESTS_DIR, "overlays", "prod"));
  for (const object of objects) {
    if (object.kind !== "ConfigMap" || object.metadata.name !== "deputy-config") continue;
    const data = (object as unknown as { data: Record<string, string> }).data;
    for (const [key, value] of Object.entries(OPERATOR[object.metadata.namespace!] ?? {})) {
      // The operator fills in values the manifest already names; it should not have to know of others.
      expect(Object.keys(data), `deputy-config in ${object.metadata.namespace}`).toContain(key);
      data[key] = value;
    }
  }
  work = await mkdtemp(join(tmpdir(), "deputy-shipped-"));
  otlp = await startOtlpReceiver();
  redis = new Redis(test.redisUrl);
  keys = await ensureKeysInOpenBao();
  slack = await startSlackFake({ userGroups: { [GROUP]: [CAROL] } });
  model = await startAnthropicFake();

  // The cluster side: Deputy's identities as rendered, OpenBao's RBAC, and a Deployment to scale.
  await prepareNamespaces();
  await applyRenderedIdentities();
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: NAME, namespace: NS, labels: { app: NAME } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: NAME } },
          template: {
            metadata: { labels: { app: NAME } },
            spec: { containers: [{ name: "web", image: "ghcr.io/example/web:1.0.0" }] },
          },
        },
      },
    });

  // OpenBao configured from roles.yaml, as `deputy executor setup-openbao` does.
  const writable = (
    objects.find((o) => o.kind === "ConfigMap" && o.metadata.namespace === "deputy-system") as unknown as {
      data: Record<string, string>;
    }
  ).data.DEPUTY_WRITABLE_NAMESPACES!.split(",");
  // The test environment's OpenBao account, whose RBAC prepareNamespaces applies from the manifests.
  const engineJwt = await mintServiceAccountToken(OPENBAO_ACCOUNT.namespace, OPENBAO_ACCOUNT.name, {
    expirationSeconds: 24 * 3600,
  });
  await setupOpenBao({
    openbao: createOpenBaoClient({ addr: test.baoAddr }),
    adminToken: test.baoRootToken,
    roles: shippedRoles(MOUNT, writable),
    kubernetesHost: test.server,
    kubernetesCaPem: await readFile(test.caFile, "utf8"),
    secretsEngineJwt: engineJwt,
  });
  // The bot's secrets, where the operator's guide says to store them.
  const kv = async (path: string, data: Record<string, string>): Promise<void> => {
    const response = await fetch(`${test.baoAddr}/v1/secret/data/${path}`, {
      method: "POST",
      headers: { "X-Vault-Token": test.baoRootToken, "content-type": "application/json" },
      body: JSON.stringify({ data }),
    });
    if (!response.ok) throw new Error(`KV ${path}: ${response.status} ${await response.text()}`);
  };
  await kv("deputy/slack", {
    bot_token: slack.botToken,
    app_token: slack.appToken,
    signing_secret: slack.signingSecret,
  });
  await kv("deputy/anthropic", { api_key: model.apiKey });

  ports.mcp = await freePort();
  ports.executor = await freePort();
  ports.mcpMetrics = await freePort();
  ports.executorMetrics = await freePort();
  ports.botMetrics = await freePort();
  const secrets = { "deputy-redis-auth": { password: "unused-locally" } };
  const mcp = await podOf(objects, "deputy-mcp", "deputy-system", join(work, "mcp"), secrets);
  const executor = await podOf(objects, "deputy-executor", "deputy-system", join(work, "executor"), secrets);
  const bot = await podOf(objects, "deputy-bot", "deputy-agent", join(work, "bot"), secrets);
  envs.mcp = await processEnv(mcp, ports.mcpMetrics);
  envs.executor = await processEnv(executor, ports.executorMetrics);
  await Promise.all([
    start("mcp", mcp, envs.mcp, /deputy mcp: serving/),
    start("executor", executor, envs.executor, /decisions at/),
  ]);
  envs.bot = await processEnv(bot, ports.botMetrics);
  // Slack and the model through their fakes (a model gateway is set the same way).
  envs.bot.SLACK_API_URL = slack.apiUrl;
  envs.bot.ANTHROPIC_BASE_URL = model.url;
  await start("bot", bot, envs.bot, /probes and metrics on/);
  await slack.waitForSocket();
}, 240_000);

afterAll(async () => {
  for (const { child } of Object.values(running)) child.kill("SIGTERM");
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: NAME, namespace: NS })
    .catch(() => undefined);
  await model?.close();
  await slack?.close();
  await otlp?.close();
  if (redis) {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the shipped deployment: bot, MCP server and executor as their manifests run them", () => {
  it("answers a mention with a diagnosis read through the MCP server", async () => {
    model.setScript([
      toolUse("troubleshoot_pod", { namespace: NS, name: SEED.crashLoop.deployment }),
      text("checkout crash-loops: NullPointerException at startup."),
    ]);
    const ts = "1800000100.000100";
    await slack.sendOverSocket("events_api", mentionPayload("why is checkout crashing?", ts, "EvSHIP0001"));
    const answer = await slack.waitFor(() => botReplies(ts).find((m) => m.text?.includes("crash-loops")), {
      timeoutMs: 30_000,
      what: "the diagnosis in the thread",
    });
    expect(answer.text).toContain("NullPointerException");
    // The tool result the model saw came from the API server, read by the MCP server's identity.
    const toolResult = JSON.stringify(model.requests.at(-1)!.body);
    expect(toolResult).toContain(SEED.crashLoop.deployment);
  });

  it("turns a write into a card; a member of the approver group approves; the executor runs it with a JIT credential; the result reaches the thread", async () => {
    model.setScript([
      toolUse("scale_deployment", { namespace: NS, name: NAME, replicas: 2, reason: "More headroom." }),
      text("I asked to scale it; it waits for an approver."),
    ]);
    const ts = "1800000200.000100";
    await slack.sendOverSocket("events_api", mentionPayload(`scale ${NAME} to 2`, ts, "EvSHIP0002"));
    const card = await slack.waitFor(
      () => botReplies(ts).find((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID)),
      { timeoutMs: 30_000, what: "an approval card" },
    );
    expect(JSON.stringify(card.blocks)).toContain(`Deployment ${NS}/${NAME}`);

    await slack.sendOverSocket("interactive", clickPayload(CAROL, card, APPROVE_ACTION_ID));
    await eventually("the Deployment scaled to 2", async () => {
      const live = await adminKubeConfig()
        .makeApiClient(AppsV1Api)
        .readNamespacedDeployment({ name: NAME, namespace: NS });
      return live.spec?.replicas === 2;
    });
    const result = await slack.waitFor(
      () => botReplies(ts).find((m) => /scale_deployment on Deployment .* succeeded/.test(m.text ?? "")),
      { timeoutMs: 30_000, what: "the result in the thread" },
    );
    expect(result.text).toContain("(cluster production)");
    const updated = JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks);
    expect(updated).toContain(`approved by <@${CAROL}>`);
    expect(updated).toMatch(/lease `[^`]+`/);
  });

  it("traces that approval as one trace across the bot, the MCP server and the executor, named in its audit records", async () => {
    // The executor's audit records of the approval carry the trace id.
    const decision = auditRecords("executor").find(
      (r) => r.kind === "approval_decision" && r.decision === "approved" && r.tool === "scale_deployment",
    );
    expect(decision, "the approval's audit record").toBeDefined();
    const traceId = decision!.traceId as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const executions = auditRecords("executor").filter(
      (r) => r.kind === "execution" && r.actionId === decision!.actionId,
    );
    expect(executions.length).toBeGreaterThan(0);
    for (const record of executions) expect(record.traceId).toBe(traceId);

    // The MCP server's read (the verified outcome) ends the trace: wait until it is exported, and
    // until every span's parent is too (a span is exported when it ends, a parent after its children).
    await eventually("spans of the approval from all three processes, each with its parent", async () => {
      const { spans, parentOf } = traceOf(otlp.spans, traceId);
      const services = new Set(spans.map((s) => s.service));
      return (
        services.has("deputy-bot") &&
        services.has("deputy-mcp") &&
        services.has("deputy-executor") &&
        spans.every((span) => !span.parentSpanId || parentOf(span) !== undefined)
      );
    });
    expect(otlp.rejected).toEqual([]);
    const { spans: trace, parentOf } = traceOf(otlp.spans, traceId);

    // One root: the bot's Slack request (the click).
    const roots = trace.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => `${s.service} ${s.name}`)).toEqual(["deputy-bot slack block_actions"]);
    // The executor's decision is a child of the bot's span, and its OpenBao and Kubernetes calls of it.
    const decide = trace.find(
      (s) => s.service === "deputy-executor" && s.name === "executor POST /v1/decisions",
    );
    expect(decide, JSON.stringify(trace, null, 1)).toBeDefined();
    expect(parentOf(decide!)?.service).toBe("deputy-bot");
    const underDecision = (span: ExportedSpan): boolean => {
      for (let at = parentOf(span); at; at = parentOf(at)) if (at === decide) return true;
      return false;
    };
    const executorCalls = trace.filter((s) => s.service === "deputy-executor" && s !== decide);
    expect(executorCalls.some((s) => s.name === "openbao POST")).toBe(true);
    expect(executorCalls.some((s) => /^kube (PATCH|PUT|POST)$/.test(s.name))).toBe(true);
    for (const span of executorCalls) expect(underDecision(span), span.name).toBe(true);
    // The MCP server's tool calls (the outcome read with the read identity) are children of the bot's spans,
    // and its Kubernetes reads children of those.
    const tools = trace.filter((s) => s.service === "deputy-mcp" && s.name.startsWith("tool "));
    expect(tools.length).toBeGreaterThan(0);
    for (const tool of tools) expect(parentOf(tool)?.service).toBe("deputy-bot");
    for (const span of trace.filter((s) => s.service === "deputy-mcp" && !s.name.startsWith("tool "))) {
      expect(parentOf(span)?.service, span.name).toBe("deputy-mcp");
    }
    // Every parent link points at a span of the same trace.
    for (const span of trace) if (span.parentSpanId) expect(parentOf(span), span.name).toBeDefined();
    // Log lines written for the approval name the trace too, in each process.
    const logLines = (name: string): Record<string, unknown>[] =>
      running[name]!.output()
        .split("\n")
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        })
        .filter(
          (line) =>
            line.audit === undefined &&
            (line.actionId === decision!.actionId ||
              (line.leaseId !== undefined && executions.some((r) => r.leaseId === line.leaseId))),
        );
    expect(logLines("executor").length).toBeGreaterThan(0);
    for (const line of logLines("executor")) expect(line.traceId, JSON.stringify(line)).toBe(traceId);
    expect(logLines("bot").length).toBeGreaterThan(0);
    for (const line of logLines("bot")) expect(line.traceId, JSON.stringify(line)).toBe(traceId);

    // The proposal before it: the mention's trace holds the agent turn, the MCP tool call and its policy decision.
    const pending = auditRecords("mcp").find(
      (r) => r.kind === "pending_action" && r.actionId === decision!.actionId,
    );
    const mentionTrace = pending!.traceId as string;
    expect(mentionTrace).toMatch(/^[0-9a-f]{32}$/);
    expect(mentionTrace).not.toBe(traceId);
    const proposal = await eventually("the proposal's tool span", async () => {
      const spans = otlp.spans.filter((s) => s.traceId === mentionTrace);
      return spans.some((s) => s.name === "policy decision") ? spans : undefined;
    });
    const named = (service: string, name: string): ExportedSpan => {
      const span = proposal.find((s) => s.service === service && s.name === name);
      expect(span, `${service} ${name} in ${JSON.stringify(proposal, null, 1)}`).toBeDefined();
      return span!;
    };
    const mention = named("deputy-bot", "slack app_mention");
    expect(mention.parentSpanId).toBeUndefined();
    const turn = named("deputy-bot", "agent turn");
    expect(turn.parentSpanId).toBe(mention.spanId);
    const tool = named("deputy-mcp", "tool scale_deployment");
    expect(tool.parentSpanId).toBe(turn.spanId);
    expect(named("deputy-mcp", "policy precheck").parentSpanId).toBe(tool.spanId);
    expect(named("deputy-mcp", "policy decision").parentSpanId).toBe(tool.spanId);
  });

  it("posts proactive triage of the crash-looping checkout in the triage channel", async () => {
    const triage = await slack.waitFor(
      () => postsTo(TRIAGE).find((m) => (m.text ?? "").includes("checkout")),
      { timeoutMs: 45_000, what: "a triage message about checkout" },
    );
    expect(triage.text).toMatch(/crash|CrashLoopBackOff|restart/i);
    // The watcher runs in the MCP server, with the read identity: its pod holds the Lease.
    const lease = await adminKubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: "deputy-watcher", namespace: "deputy-system" });
    expect(lease.spec?.holderIdentity).toBe("deputy-mcp-0");
  }, 60_000);

  it("posts an anomaly alert once when denials burst", async () => {
    const client = await connectMcpOverHttp(`http://127.0.0.1:${ports.mcp}/mcp`, keys.mcpCaller!);
    const threshold = Number(
      (
        objects.find(
          (o) => o.kind === "ConfigMap" && o.metadata.namespace === "deputy-system",
        ) as unknown as {
          data: Record<string, string>;
        }
      ).data.DEPUTY_ANOMALY_DENIALS_PER_MINUTE ?? "10",
    );
    for (let i = 0; i <= threshold + 2; i++) {
      const refused = await client.callTool({
        name: "delete_pod",
        arguments: { namespace: "kube-system", name: `coredns-${i}` },
        _meta: { "deputy/requester": { kind: "slack", id: "U0MALLORY", teamId: slack.teamId } },
      });
      expect(refused.isError).toBe(true);
    }
    await client.close();
    await slack.waitFor(() => postsTo(ALERTS).find((m) => (m.text ?? "").includes("denial-burst")), {
      timeoutMs: 30_000,
      what: "the denial-burst alert",
    });
    // More denials in the same window do not post it again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(postsTo(ALERTS).filter((m) => (m.text ?? "").includes("denial-burst"))).toHaveLength(1);
  });

  it("serves /metrics on the MCP server, the executor and the bot", async () => {
    const scrape = async (port: number): Promise<string> => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
    const mcp = await scrape(ports.mcpMetrics!);
    expect(mcp).toMatch(/deputy_tool_calls_total\{tool="troubleshoot_pod",outcome="ok",component="mcp"\} 1/);
    expect(mcp).toMatch(/deputy_pending_actions_created_total\{tool="scale_deployment",component="mcp"\} 1/);
    const executor = await scrape(ports.executorMetrics!);
    expect(executor).toMatch(
      /deputy_executions_total\{tool="scale_deployment",outcome="succeeded",[^}]*component="executor"\} 1/,
    );
    expect(executor).toMatch(/deputy_openbao_logins_total\{outcome="ok",component="executor"\} [1-9]/);
    expect(executor).toMatch(/deputy_approval_latency_seconds_count\{[^}]*decision="approved"[^}]*\} 1/);
    const bot = await scrape(ports.botMetrics!);
    expect(bot).toMatch(/deputy_llm_tokens_total\{direction="in",[^}]*component="bot"\} [1-9]/);
  });

  it("passes deputy doctor with each Deployment's own configuration", async () => {
    model.setScript(() => text("0"));
    for (const component of ["mcp", "executor", "bot"] as const) {
      const child = spawn(process.execPath, [CLI, "doctor", component], {
        env: envs[component],
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      // "close", not "exit": the process can exit before its verdict is read from the pipes.
      const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
      expect(code, `deputy doctor ${component}:\n${stdout}`).toBe(0);
      expect(stdout).toContain(`deputy doctor ${component}: everything checked works.`);
    }
  }, 60_000);
});
