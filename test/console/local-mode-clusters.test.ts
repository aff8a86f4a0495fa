import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { startLocalMode, type LocalMode } from "../../console/local-mode.ts";
import type { ConsoleEvent } from "../../console/events.ts";
import { isWritePaused, pauseWrites } from "../../core/observability/anomaly.ts";
import { clusterKeyPrefix } from "../../core/config/clusters.ts";
import { isDeputyError } from "../../core/errors.ts";
import { adminKubeConfig, loadTestEnv } from "../helpers/testenv.ts";
import {
  lastToolResults,
  startAnthropicFake,
  text,
  toolUse,
  type AnthropicFake,
} from "../fakes/anthropic.ts";
import { connectRedis, dropPrefix } from "../executor/support.ts";
import { startSecondCluster, type SecondCluster } from "../clusters/second-cluster.ts";
import { localModeEnv } from "./local-mode-process.ts";
import { readConsoleEvents, turnDone } from "./sse.ts";

/**
 * Local mode serving two kubeconfig contexts as two clusters: the shared test
 * environment is cluster A, a second control plane in a temporary directory
 * is cluster B, both set up in A's OpenBao under mounts of their own. A
 * conversation reads and writes through its own cluster's MCP server and
 * executor only.
 */
const NS = "deputy-w-contexts";
const CTX_A = "deputy-ctx-a";
const CTX_B = "deputy-ctx-b";

let clusterB: SecondCluster | undefined;
let workDir: string;
let kubeconfigPath: string;
let adminB: KubeConfig;
let local: LocalMode | undefined;
let model: AnthropicFake | undefined;
/** The Redis prefixes of every local mode started here, dropped at the end. */
const prefixes = new Set<string>();
/** The prefix of the local mode serving both contexts. */
let servingPrefix = "";

interface KubeconfigFile {
  clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
  users: Array<{ name: string; user: Record<string, unknown> }>;
}

/** One kubeconfig naming both clusters (and one context whose name is no DNS label); B is current. */
async function writeTwoContextKubeconfig(pathA: string, pathB: string): Promise<string> {
  const a = parse(await readFile(pathA, "utf8")) as KubeconfigFile;
  const b = parse(await readFile(pathB, "utf8")) as KubeconfigFile;
  const file = join(workDir, "kubeconfig");
  await writeFile(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "a", cluster: a.clusters[0]!.cluster },
        { name: "b", cluster: b.clusters[0]!.cluster },
        // Nothing listens on port 1.
        { name: "gone", cluster: { ...b.clusters[0]!.cluster, server: "https://127.0.0.1:1" } },
      ],
      users: [
        { name: "admin-a", user: a.users[0]!.user },
        { name: "admin-b", user: b.users[0]!.user },
      ],
      contexts: [
        { name: CTX_A, context: { cluster: "a", user: "admin-a" } },
        { name: CTX_B, context: { cluster: "b", user: "admin-b" } },
        { name: "Team_B", context: { cluster: "b", user: "admin-b" } },
        { name: "deputy-ctx-gone", context: { cluster: "gone", user: "admin-b" } },
      ],
      "current-context": CTX_B,
    }),
    { mode: 0o600 },
  );
  return file;
}

/** Namespace NS with Deployments `web` (1 replica) and `only-in-<which>`. */
async function seed(kc: KubeConfig, which: "a" | "b"): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } }).catch((error: { code?: number }) => {
    if (error.code !== 409) throw error;
  });
  for (const name of ["web", `only-in-${which}`]) {
    await apps.deleteNamespacedDeployment({ namespace: NS, name }).catch(() => undefined);
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name, namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: "app", image: "example.com/web:1" }] },
          },
        },
      },
    });
  }
}

async function replicasOf(kc: KubeConfig, name = "web"): Promise<number | undefined> {
  const deployment = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: NS, name });
  return deployment.spec?.replicas;
}

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const started = localModeEnv({
    KUBECONFIG: kubeconfigPath,
    DEPUTY_WRITABLE_NAMESPACES: NS,
    DEPUTY_WATCH_NAMESPACES: NS,
    DEPUTY_AUDIT_FILE: join(workDir, "audit.jsonl"),
    DEPUTY_LOG_FILE: join(workDir, "deputy.log"),
    LOG_LEVEL: "info",
    ...extra,
  });
  prefixes.add(started.DEPUTY_REDIS_PREFIX!);
  return started;
}

async function startFailure(
  contexts: string,
  extra: Record<string, string> = {},
  code = "CONFIG_INVALID",
): Promise<string> {
  const error: unknown = await startLocalMode({
    env: env({ DEPUTY_KUBE_CONTEXTS: contexts, ...extra }),
  }).then(
    async (mode) => {
      await mode.close();
      return undefined;
    },
    (failure: unknown) => failure,
  );
  expect(isDeputyError(error) && error.code, String(error)).toBe(code);
  return (error as Error).message;
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(new URL(path, local!.consoleUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Starts a conversation (or continues one) and returns that turn's events. */
async function say(
  text: string,
  threadId?: string,
): Promise<{ threadId: string; events: ConsoleEvent[]; answer: string }> {
  if (threadId !== undefined) {
    const response = await post(`/api/threads/${threadId}/messages`, { user: "alice", text });
    expect(response.status).toBe(202);
    return turnOf(threadId, await turnOfMessage(threadId, text));
  }
  const response = await post("/api/threads", { user: "alice", text });
  expect(response.status).toBe(202);
  const id = ((await response.json()) as { threadId: string }).threadId;
  const events = await readConsoleEvents(local!.consoleUrl, turnDone(id), { timeoutMs: 60_000 });
  return turnOf(
    id,
    events.filter((event) => event.threadId === id),
  );
}

/**
 * The thread's events from its last message `text` to the end of that message's turn (its
 * busy: true, then busy: false), or undefined while that turn runs. The message is in the
 * history as soon as the console accepts it; a thread here never gets the same text twice.
 */
function messageTurn(events: ConsoleEvent[], threadId: string, text: string): ConsoleEvent[] | undefined {
  const thread = events.filter((event) => event.threadId === threadId);
  const asked = thread.findLastIndex(
    (event) => event.type === "message" && event.role === "user" && event.text === text,
  );
  const began = thread.findIndex((event, index) => index > asked && event.type === "busy" && event.busy);
  const ended = thread.findIndex((event, index) => index > began && event.type === "busy" && !event.busy);
  return asked >= 0 && began >= 0 && ended >= 0 ? thread.slice(asked, ended + 1) : undefined;
}

/** Reads the event stream (the history, then live events) until the turn of message `text` is over. */
async function turnOfMessage(threadId: string, text: string): Promise<ConsoleEvent[]> {
  const events = await readConsoleEvents(
    local!.consoleUrl,
    (all) => messageTurn(all, threadId, text) !== undefined,
    { timeoutMs: 60_000 },
  );
  return messageTurn(events, threadId, text)!;
}

/** The thread's events, read until `complete` holds for them. */
async function threadEventsUntil(
  threadId: string,
  complete: (events: ConsoleEvent[]) => boolean,
): Promise<ConsoleEvent[]> {
  const inThread = (events: ConsoleEvent[]): ConsoleEvent[] =>
    events.filter((event) => event.threadId === threadId);
  const events = await readConsoleEvents(local!.consoleUrl, (all) => complete(inThread(all)), {
    timeoutMs: 60_000,
  });
  return inThread(events);
}

function turnOf(
  threadId: string,
  events: ConsoleEvent[],
): { threadId: string; events: ConsoleEvent[]; answer: string } {
  const answer = events
    .flatMap((event) => (event.type === "message" && event.role !== "user" ? [event.text] : []))
    .join("\n");
  return { threadId, events, answer };
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "deputy-contexts-"));
  clusterB = await startSecondCluster();
  adminB = clusterB.admin;
  kubeconfigPath = await writeTwoContextKubeconfig(loadTestEnv().kubeconfig, clusterB.env.kubeconfig);
  await Promise.all([seed(adminKubeConfig(), "a"), seed(adminB, "b")]);
}, 150_000);

afterAll(async () => {
  await local?.close();
  await model?.close();
  const redis = connectRedis();
  for (const prefix of prefixes) await dropPrefix(redis, prefix);
  redis.disconnect();
  await clusterB?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe("DEPUTY_KUBE_CONTEXTS", () => {
  it("refuses bad lists with a sentence that says what to fix, before creating anything", async () => {
    expect(await startFailure(`${CTX_A},nope`)).toMatch(
      new RegExp(
        `context "nope", which KUBECONFIG \\(.+\\) does not have; its contexts are: ${CTX_A}, ${CTX_B}, Team_B, deputy-ctx-gone`,
      ),
    );
    expect(await startFailure(`${CTX_B},Team_B`)).toContain(
      'context "Team_B" names a cluster, and a cluster name must be a DNS label',
    );
    expect(await startFailure(`${CTX_B},Team_B`)).toContain("kubectl config rename-context Team_B team-b");
    expect(await startFailure(`${CTX_A},${CTX_A}`)).toContain(`names context "${CTX_A}" twice`);
    expect(await startFailure(CTX_A, { KUBECONFIG: "" })).toContain("KUBECONFIG is not set");
    expect(await startFailure(`${CTX_B},deputy-ctx-gone`, {}, "UPSTREAM_FAILED")).toContain(
      'context "deputy-ctx-gone" points at https://127.0.0.1:1, which does not answer',
    );
    // Every list is checked whole before anything is made: nothing of Deputy's exists in B.
    const namespaces = await adminB.makeApiClient(CoreV1Api).listNamespace();
    expect(namespaces.items.map((namespace) => namespace.metadata?.name)).not.toContain("deputy-system");
  }, 30_000);

  describe("serving both contexts", () => {
    beforeAll(async () => {
      // Direct commands need no model; the one scripted here answers the single question asked.
      model = await startAnthropicFake({
        script: [toolUse("list_deployments", { namespace: NS }), text("Two Deployments.")],
      });
      const serving = env({
        DEPUTY_KUBE_CONTEXTS: `${CTX_A},${CTX_B}`,
        ANTHROPIC_API_KEY: model.apiKey,
        ANTHROPIC_BASE_URL: model.url,
      });
      servingPrefix = serving.DEPUTY_REDIS_PREFIX!;
      local = await startLocalMode({ env: serving });
    }, 90_000);

    it("serves each context as a cluster with its own MCP server, starting where the kubeconfig is", async () => {
      expect(local!.clusters.map((cluster) => cluster.name)).toEqual([CTX_A, CTX_B]);
      expect(local!.defaultCluster).toBe(CTX_B);
      const [a, b] = local!.clusters;
      expect(a!.server).toBe(loadTestEnv().server);
      expect(b!.server).not.toBe(a!.server);
      expect(a!.mcpUrl).not.toBe(b!.mcpUrl);
      expect(local!.mcpUrl).toBe(b!.mcpUrl);
      for (const cluster of local!.clusters) {
        expect(await fetch(new URL("/readyz", cluster.mcpUrl)).then((r) => r.status)).toBe(200);
      }
      // Each cluster signs its proposals with a key of its own.
      const keys = await Promise.all(
        [CTX_A, CTX_B].map((name) => readFile(join(workDir, `action-${name}.key`), "utf8")),
      );
      expect(keys[0]).not.toBe(keys[1]);
    });

    it("answers from B in a conversation bound to B, and from A once the message names A", async () => {
      const inB = await say(`deployments ${NS}`);
      expect(inB.answer).toContain(`[cluster ${CTX_B}]`);
      expect(inB.answer).toContain("only-in-b");
      expect(inB.answer).not.toContain("only-in-a");

      const inA = await say(`in ${CTX_A}, deployments ${NS}`);
      expect(inA.answer).toContain(`[cluster ${CTX_A}]`);
      expect(inA.answer).toContain("only-in-a");
      expect(inA.answer).not.toContain("only-in-b");

      // The naming re-binds the conversation: its next message is about A too.
      const again = await say(`deployments ${NS}`, inA.threadId);
      expect(again.answer).toContain("only-in-a");
      const moved = await say(`deployments ${NS} --cluster ${CTX_B}`, inA.threadId);
      expect(moved.answer).toContain("only-in-b");
    });

    it("lets the agent read only the conversation's cluster", async () => {
      const turn = await say(`in ${CTX_A}, which Deployments run in ${NS}?`);
      expect(turn.answer).toBe(`[cluster ${CTX_A}] Two Deployments.`);
      const seen = lastToolResults(model!.requests.at(-1)!.body).join("\n");
      expect(seen).toContain("only-in-a");
      expect(seen).not.toContain("only-in-b");
    });

    it("names the clusters served for an unknown --cluster and runs nothing", async () => {
      const turn = await say(`scale deployment/web --replicas 5 -n ${NS} --cluster prod-mars`);
      expect(turn.answer).toContain("Deputy does not serve a cluster named `prod-mars`, so nothing was run.");
      expect(turn.answer).toContain(`Clusters served here: \`${CTX_A}\`, \`${CTX_B}\`.`);
      expect(turn.events.filter((event) => event.type === "tool_call")).toEqual([]);
      expect(await replicasOf(adminB)).toBe(1);
      expect(await replicasOf(adminKubeConfig())).toBe(1);
    });

    it("runs a write proposed in B, once approved, in B and not in A", async () => {
      const turn = await say(`scale deployment/web --replicas 3 -n ${NS}`);
      const card = turn.events.find((event) => event.type === "card");
      expect(card?.type === "card" && card.card).toMatchObject({
        cluster: CTX_B,
        tool: "scale_deployment",
        state: "pending",
      });
      const actionId = card?.type === "card" ? card.card.actionId : "";
      const digest = card?.type === "card" ? card.card.digest : "";
      const decision = await post(`/api/actions/${actionId}/decision`, {
        user: "bob",
        decision: "approve",
        digest,
      });
      const result = (await decision.json()) as { status: string; message?: string };
      expect(result.status, JSON.stringify(result)).toBe("succeeded");
      expect(await replicasOf(adminB)).toBe(3);
      expect(await replicasOf(adminKubeConfig())).toBe(1);
      // The card's outcome and the result are published before the decision is answered.
      const events = await threadEventsUntil(turn.threadId, (all) =>
        all.some((event) => event.type === "result" && event.actionId === actionId),
      );
      // The credential came from B's own secrets engine mounts in the shared OpenBao.
      const done = events.filter((event) => event.type === "card").at(-1);
      expect(done?.type === "card" && done.card.outcome?.leaseId).toMatch(
        new RegExp(`^clusters/${CTX_B}/kubernetes(-\\d+)?/creds/deputy-scale-deployment/`),
      );
      const outcome = events.find((event) => event.type === "result");
      expect(outcome?.type === "result" && outcome.text).toContain(`in cluster ${CTX_B}`);
    }, 60_000);

    it("runs a write proposed in A with A's executor, leaving B as it is", async () => {
      const turn = await say(`in ${CTX_A}, scale deployment/only-in-a --replicas 2 -n ${NS}`);
      const card = turn.events.find((event) => event.type === "card");
      expect(card?.type === "card" && card.card.cluster).toBe(CTX_A);
      const { actionId, digest } = card?.type === "card" ? card.card : { actionId: "", digest: "" };
      const decision = await post(`/api/actions/${actionId}/decision`, {
        user: "bob",
        decision: "approve",
        digest,
      });
      const result = (await decision.json()) as { status: string };
      expect(result.status, JSON.stringify(result)).toBe("succeeded");
      expect(await replicasOf(adminKubeConfig(), "only-in-a")).toBe(2);
      expect(await replicasOf(adminB)).toBe(3);
    }, 60_000);

    it("a write pause in B holds B's approvals only, and resume writes lifts it, naming B", async () => {
      const redis = connectRedis();
      const pausedB = clusterKeyPrefix(servingPrefix, CTX_B);
      try {
        await pauseWrites(redis, { rule: "delete-burst", reason: "a test pause" }, pausedB);
        const inB = await say(`scale deployment/web --replicas 4 -n ${NS}`);
        const inA = await say(`in ${CTX_A}, scale deployment/web --replicas 4 -n ${NS}`);
        const decide = async (turn: typeof inB): Promise<{ status: string; rule?: string }> => {
          const card = turn.events.find((event) => event.type === "card");
          const { actionId, digest } = card?.type === "card" ? card.card : { actionId: "", digest: "" };
          const response = await post(`/api/actions/${actionId}/decision`, {
            user: "bob",
            decision: "approve",
            digest,
          });
          return (await response.json()) as { status: string; rule?: string };
        };
        expect(await decide(inB)).toMatchObject({ status: "refused", rule: "writes-paused" });
        expect(await replicasOf(adminB)).toBe(3);
        expect(await decide(inA)).toMatchObject({ status: "succeeded" });
        expect(await replicasOf(adminKubeConfig())).toBe(4);

        const resumed = await post(`/api/threads/${inA.threadId}/messages`, {
          user: "bob",
          text: "resume writes",
        });
        expect(resumed.status).toBe(202);
        const resumeTurn = await turnOfMessage(inA.threadId, "resume writes");
        expect(resumeTurn.map((e) => (e.type === "message" ? e.text : ""))).toContain(
          `Writes resumed by bob in cluster ${CTX_B} (paused by delete-burst: a test pause).`,
        );
        expect(await isWritePaused(redis, pausedB)).toBe(false);
      } finally {
        await redis.del(`${pausedB}writes:paused`);
        redis.disconnect();
      }
    }, 60_000);
  });
});
