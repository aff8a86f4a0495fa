import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, KubeConfig } from "@kubernetes/client-node";
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserGroupChecker } from "../../../bot/approvers.ts";
import type { DeputyKeys } from "../../../core/identity/keys.ts";
import type { Identity } from "../../../core/identity/identity.ts";
import type { PendingActionRef } from "../../../core/actions/schema.ts";
import type { ApprovalDecider } from "../../../executor/approval-executor.ts";
import { createExecutorClient } from "../../../executor/client.ts";
import { startSlackFake, type SlackFake } from "../../fakes/slack.ts";
import { ensureKeysInOpenBao, TEST_KEYS_PATH } from "../../helpers/deputy-keys.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../../helpers/testenv.ts";
import {
  otlpEnv,
  startOtlpReceiver,
  traceOf,
  type ExportedSpan,
  type OtlpReceiver,
} from "../../helpers/otlp-receiver.ts";
import { startHarness, type Harness } from "../../mcp/harness.ts";
import { startDelayProxy, type DelayProxy } from "../../faults/helpers/delay-proxy.ts";
import { dropPrefix } from "../../executor/support.ts";
import { prepareWriteEnv, type WriteEnv } from "../../executor/write-env.ts";
import { executorProcessEnv, runDeputy, startExecutorProcess } from "./executor-process.ts";

/**
 * `deputy executor` as its own process, configured the way the operator's guide says:
 * keys from OpenBao KV through its own Kubernetes-auth role, an approver
 * group, no Slack client. Only the bot's signed requests are decisions; a
 * group member's approval, vouched for by the bot, runs. It reaches the API
 * server through a proxy the last test slows down, and its traces go to an
 * OTLP receiver in the test, batched for longer than the test runs, so they
 * arrive only when SIGTERM stops it.
 */
const NS = "deputy-w-exec";
const NAME = `trust-${randomBytes(3).toString("hex")}`;
const GROUP = "S0ONCALL";
const alice: Identity = { kind: "slack", id: "U0ALICE", teamId: "T0FAKE", name: "alice" };
const carol: Identity = { kind: "slack", id: "U0CAROL", teamId: "T0FAKE", name: "carol" };
const mallory: Identity = { kind: "slack", id: "U0MALLORY", teamId: "T0FAKE", name: "mallory" };

const prefix = `deputy-test-trust-${randomBytes(4).toString("hex")}:`;
let env: WriteEnv;
let keys: DeputyKeys;
let slack: SlackFake;
let harness: Harness;
let redis: Redis;
let otlp: OtlpReceiver;
let apiProxy: DelayProxy;
let child: ChildProcess | undefined;
let childOutput: () => string = () => "";
let url = "";
let metricsUrl = "";

function executorEnv(extra: Record<string, string> = {}): Record<string, string> {
  return executorProcessEnv(env, prefix, { DEPUTY_APPROVER_GROUP: GROUP, LOG_LEVEL: "warn", ...extra });
}

async function run(extra: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const { code, out } = await runDeputy(["executor", "--port", "0"], executorEnv(extra));
  return { code, stderr: out };
}

async function propose(replicas = 2): Promise<PendingActionRef> {
  const reply = await harness.call(
    "scale_deployment",
    { namespace: NS, name: NAME, replicas },
    {
      "deputy/requester": alice,
      "deputy/conversation": { surface: "slack", channel: "C0OPS", thread: "1700000000.000100" },
      "deputy/reason": "more replicas",
    },
  );
  expect(reply.isError, reply.text).toBe(false);
  return reply.structured?.pendingAction as PendingActionRef;
}

/** The bot's side: signed requests, vouching for approver-group members as Slack lists them. */
function botClient(fetchWith?: typeof fetch): ApprovalDecider {
  const web = new webApi.WebClient(slack.botToken, { slackApiUrl: `${slack.apiUrl.replace(/\/$/, "")}/` });
  return createExecutorClient({
    url,
    key: keys.executorCaller!,
    approverGroup: { id: GROUP, isMember: createUserGroupChecker(web, GROUP) },
    ...(fetchWith ? { fetch: fetchWith } : {}),
  });
}

beforeAll(async () => {
  env = await prepareWriteEnv();
  keys = await ensureKeysInOpenBao();
  redis = new Redis(loadTestEnv().redisUrl);
  slack = await startSlackFake({ userGroups: { [GROUP]: [carol.id] } });
  // The spawned executor reads the action key from OpenBao KV: proposals are signed with the same one.
  harness = await startHarness({ env: { DEPUTY_REDIS_PREFIX: prefix }, actionKey: keys.action! });
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
  otlp = await startOtlpReceiver();
  // The executor takes only the API server's address and CA from its kubeconfig, never credentials.
  const test = loadTestEnv();
  apiProxy = await startDelayProxy(new URL(test.server), 0);
  const proxied = new KubeConfig();
  proxied.loadFromOptions({
    clusters: [{ name: "testenv", server: apiProxy.url, caFile: test.caFile }],
    users: [{ name: "none" }],
    contexts: [{ name: "testenv", cluster: "testenv", user: "none" }],
    currentContext: "testenv",
  });
  const kubeconfig = join(await mkdtemp(join(tmpdir(), "deputy-executor-")), "kubeconfig");
  await writeFile(kubeconfig, proxied.exportConfig());
  const started = await startExecutorProcess(
    executorEnv({
      DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH,
      KUBECONFIG: kubeconfig,
      ...otlpEnv(otlp, 60_000),
    }),
  );
  child = started.child;
  childOutput = started.output;
  url = started.url;
  metricsUrl = started.metricsUrl;
}, 120_000);

afterAll(async () => {
  child?.kill("SIGTERM");
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: NAME, namespace: NS })
    .catch(() => undefined);
  await harness?.close();
  await slack?.close();
  await apiProxy?.close();
  await otlp?.close();
  if (redis) {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  }
});

describe("deputy executor, started as its own process", () => {
  it("refuses to start in production without its keys, saying which setting is missing", async () => {
    const { code, stderr } = await run({});
    expect(code).toBe(1);
    expect(stderr).toContain(
      "deputy executor needs Deputy's action and executorCaller keys and has none: set DEPUTY_KEYS_FROM_OPENBAO",
    );
  });

  it("exits with the reason when its configuration fails after Redis is connected, rather than idling unready", async () => {
    const started = Date.now();
    const { code, stderr } = await run({
      DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH,
      DEPUTY_PROTECTED_NAMESPACES: "shop",
    });
    expect(code).toBe(1);
    expect(stderr).toContain('namespace "shop" is protected and can never be given to a write role');
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);

  it("answers an unauthenticated decision with 401, whatever identity it names, and nothing is decided", async () => {
    const action = await propose();
    for (const approver of [
      { kind: "local", id: "bob" },
      { kind: "slack", id: carol.id, teamId: carol.teamId },
    ]) {
      const response = await fetch(`${url}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ actionId: action.id, approver, decision: "reject" }),
      });
      expect(response.status).toBe(401);
    }
    const stored = await harness.deps.actions.get(action.id);
    expect(stored?.state).toBe("pending");
  });

  it("runs an approval by a member of the approver group, vouched for by the bot; refuses a non-member and a local identity", async () => {
    const action = await propose();
    const bot = botClient();
    const local = await bot.decide({
      actionId: action.id,
      digest: action.digest,
      approver: { kind: "local", id: "bob" },
      decision: "approve",
    });
    expect(local).toMatchObject({ status: "refused", rule: "local-identity-refused" });
    const outsider = await bot.decide({
      actionId: action.id,
      digest: action.digest,
      approver: mallory,
      decision: "approve",
    });
    expect(outsider).toMatchObject({ status: "refused", rule: "approver-not-authorised" });

    const approved = await bot.decide({
      actionId: action.id,
      digest: action.digest,
      approver: carol,
      decision: "approve",
    });
    expect(approved.status, approved.message).toBe("succeeded");
    expect(approved.action).toMatchObject({ state: "succeeded", decidedBy: carol });
    await eventually("the Deployment scaled to 2", async () => {
      const live = await adminKubeConfig()
        .makeApiClient(AppsV1Api)
        .readNamespacedDeployment({ name: NAME, namespace: NS });
      return live.spec?.replicas === 2;
    });
  });

  it("serves /metrics on its own port: executions, OpenBao logins, approval latency and pending actions", async () => {
    // Runs after the approval above: the executor has logged in to OpenBao and executed one action.
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toMatch(
      /deputy_executions_total\{tool="scale_deployment",outcome="succeeded",code="[^"]+",component="executor"\} 1/,
    );
    expect(body).toMatch(/deputy_openbao_logins_total\{outcome="ok",component="executor"\} [1-9]/);
    expect(body).toMatch(/deputy_approval_latency_seconds_count\{[^}]*decision="approved"[^}]*\} 1/);
    expect(body).toMatch(/deputy_pending_actions\{state="pending",component="executor"\} 1/);
    // Finished actions leave the gauge: it counts what still waits or runs.
    expect(body).toMatch(/deputy_pending_actions\{state="executing",component="executor"\} 0/);
    expect(body).toMatch(/deputy_process_cpu_seconds_total/);
    // Decisions stay on their port and metrics on theirs.
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
  });

  it("on SIGTERM takes no new decision, finishes and records the one it is running, exports its spans and exits 0", async () => {
    // Runs last: it stops the executor. The API server now answers slowly, so the approval
    // below is still running when SIGTERM comes.
    const running = await propose(3);
    const later = await propose(4);
    const traceId = randomBytes(16).toString("hex");
    // The bot's trace context, as a traced bot sends it: the executor's spans join this trace.
    const bot = botClient((input, init) => {
      const headers = new Headers(init?.headers);
      headers.set("traceparent", `00-${traceId}-${randomBytes(8).toString("hex")}-01`);
      return fetch(input, { ...init, headers });
    });
    apiProxy.setDelay(1_500);
    const decided = bot.decide({
      actionId: running.id,
      digest: running.digest,
      approver: carol,
      decision: "approve",
    });
    decided.catch(() => undefined); // awaited below, once SIGTERM is sent
    await eventually(
      "the approval to be running",
      async () => (await harness.deps.actions.get(running.id))?.state === "executing",
      { intervalMs: 50 },
    );
    const exited = new Promise<{ code: number | null; spansAtExit: number }>((resolve) =>
      child!.once("exit", (code) => resolve({ code, spansAtExit: otlp.spans.length })),
    );
    // Its last lines may be read from the pipe after the exit: stderr is complete at "close".
    const pipesClosed = new Promise((resolve) => child!.once("close", resolve));
    const signalled = Date.now();
    child!.kill("SIGTERM");
    await eventually(
      "the executor to say it is stopping",
      async () => childOutput().includes("deputy executor: SIGTERM, stopping"),
      {
        intervalMs: 20,
        timeoutMs: 5_000,
      },
    );

    // A decision sent now is not taken: the bot hears so, and the action still waits for an executor.
    await expect(
      bot.decide({ actionId: later.id, digest: later.digest, approver: carol, decision: "approve" }),
    ).rejects.toThrow(/did not answer|answered 503|connection to the executor .* failed/);

    // The approval already running completes, is recorded, and its answer reaches the bot.
    const result = await decided;
    expect(result.status, result.message).toBe("succeeded");
    const { code, spansAtExit } = await exited;
    expect(code, childOutput()).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(15_000);
    await pipesClosed;
    expect(childOutput()).toContain(
      "deputy executor: SIGTERM, stopping: no new decisions; 1 running finish first",
    );
    expect(childOutput()).toMatch(/deputy executor: stopped/);
    expect((await harness.deps.actions.get(running.id))?.state).toBe("succeeded");
    expect((await harness.deps.actions.get(later.id))?.state).toBe("pending");
    const live = await adminKubeConfig()
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: NAME, namespace: NS });
    expect(live.spec?.replicas).toBe(3);

    // Every span arrived before the process was gone: the decision with its Kubernetes write under it.
    expect(otlp.rejected).toEqual([]);
    expect(spansAtExit).toBe(otlp.spans.length);
    const { spans, parentOf } = traceOf(otlp.spans, traceId);
    const decision = spans.find((span) => span.name === "executor POST /v1/decisions");
    expect(decision, JSON.stringify(otlp.spans, null, 1)).toBeDefined();
    expect(decision!.service).toBe("deputy-executor");
    const patch = spans.find((span) => span.name === "kube PATCH");
    expect(patch, JSON.stringify(spans, null, 1)).toBeDefined();
    const ancestors: ExportedSpan[] = [];
    for (let parent = parentOf(patch!); parent; parent = parentOf(parent)) ancestors.push(parent);
    expect(ancestors).toContain(decision);
  }, 30_000);
});
