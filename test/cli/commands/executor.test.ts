import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { AppsV1Api } from "@kubernetes/client-node";
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserGroupChecker } from "../../../bot/approvers.ts";
import type { DeputyKeys } from "../../../core/keys.ts";
import type { Identity } from "../../../core/identity.ts";
import type { PendingActionRef } from "../../../core/actions/schema.ts";
import { createExecutorClient } from "../../../executor/client.ts";
import { startSlackFake, type SlackFake } from "../../fakes/slack.ts";
import { ensureKeysInOpenBao, TEST_KEYS_PATH } from "../../helpers/deputy-keys.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../../helpers/testenv.ts";
import { startHarness, type Harness } from "../../mcp/harness.ts";
import { dropPrefix } from "../../executor/support.ts";
import { JIT_NAMESPACE, prepareWriteEnv, WRITABLE, type WriteEnv } from "../../executor/write-env.ts";

/**
 * `deputy executor` as its own process, configured the way the README says:
 * keys from OpenBao KV through its own Kubernetes-auth role, an approver
 * group, no Slack client. Only the bot's signed requests are decisions; a
 * group member's approval, vouched for by the bot, runs.
 */
const ROOT = join(import.meta.dirname, "../../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const CLI = join(ROOT, "cli/deputy.ts");
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
let child: ChildProcess | undefined;
let url = "";
let metricsUrl = "";

function executorEnv(extra: Record<string, string> = {}): Record<string, string> {
  const test = loadTestEnv();
  return {
    PATH: process.env.PATH ?? "",
    KUBECONFIG: test.kubeconfig,
    REDIS_URL: test.redisUrl,
    DEPUTY_REDIS_PREFIX: prefix,
    // The cluster the proposals were made for (the test harness's): an executor runs its own cluster's only.
    DEPUTY_CLUSTER_NAME: "testenv",
    BAO_ADDR: test.baoAddr,
    DEPUTY_BAO_AUTH_MOUNT: env.authMount,
    DEPUTY_BAO_AUTH_ROLE: env.authRole,
    DEPUTY_BAO_SECRETS_MOUNT: env.secretsMount,
    DEPUTY_BAO_JWT_PATH: env.jwtPath,
    DEPUTY_WRITABLE_NAMESPACES: WRITABLE.join(","),
    DEPUTY_JIT_NAMESPACE: JIT_NAMESPACE,
    DEPUTY_APPROVER_GROUP: GROUP,
    DEPUTY_METRICS_PORT: "0",
    LOG_LEVEL: "warn",
    ...extra,
  };
}

async function run(extra: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const process_ = spawn(NODE, [CLI, "executor", "--port", "0"], {
    env: executorEnv(extra),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  process_.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  // "close", not "exit": the process can exit before its last lines are read from the pipe.
  const code = await new Promise<number | null>((resolve) => process_.once("close", resolve));
  return { code, stderr };
}

async function propose(): Promise<PendingActionRef> {
  const reply = await harness.call(
    "scale_deployment",
    { namespace: NS, name: NAME, replicas: 2 },
    {
      "deputy/requester": alice,
      "deputy/conversation": { surface: "slack", channel: "C0OPS", thread: "1700000000.000100" },
      "deputy/reason": "more replicas",
    },
  );
  expect(reply.isError, reply.text).toBe(false);
  return reply.structured?.pendingAction as PendingActionRef;
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
  child = spawn(NODE, [CLI, "executor", "--port", "0"], {
    env: executorEnv({ DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deputy executor did not start: ${stderr}`)), 30_000);
    child!.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      // Up to the line's end: a URL cut at a chunk boundary would otherwise match.
      const match = /decisions at (\S+)\/v1\/decisions; metrics at (\S+)\n/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        metricsUrl = match[2]!;
        resolve(match[1]!);
      }
    });
    child!.once("exit", (code) => reject(new Error(`deputy executor exited ${code}: ${stderr}`)));
  });
}, 120_000);

afterAll(async () => {
  child?.kill("SIGTERM");
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: NAME, namespace: NS })
    .catch(() => undefined);
  await harness?.close();
  await slack?.close();
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
    const web = new webApi.WebClient(slack.botToken, { slackApiUrl: `${slack.apiUrl.replace(/\/$/, "")}/` });
    const bot = createExecutorClient({
      url,
      key: keys.executorCaller!,
      approverGroup: { id: GROUP, isMember: createUserGroupChecker(web, GROUP) },
    });
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
});
