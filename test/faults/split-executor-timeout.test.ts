import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import type { ApprovalDecider } from "../../bot/deps.ts";
import { createCallerVerifier } from "../../core/identity/caller-auth.ts";
import { generateKeys } from "../../core/identity/keys.ts";
import { queueActionNotice } from "../../core/actions/notices.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createExecutorClient } from "../../executor/client.ts";
import { startExecutorHttpServer, type ExecutorHttpServer } from "../../executor/http.ts";
import { startBotOverFakes, type BotOverFakes } from "../bot/helpers/over-fakes.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareWriteEnv } from "../executor/write-env.ts";
import { writeExecutor } from "../executor/write-fixture.ts";
import { adminKubeConfig, eventually, loadTestEnv } from "../helpers/testenv.ts";
import { startDelayProxy, type DelayProxy } from "./helpers/delay-proxy.ts";

/**
 * The split deployment: the bot decides through the executor's HTTP API, and
 * a drain against a slow API server outlasts the bot's client timeout. The
 * approver must not hear "nothing was decided; please click again": the bot
 * reads the action back, says it is running and that the result follows, and
 * the executor, whose answer nobody waits for, queues the result for the
 * thread, which the bot posts and shows on the card. The same when the
 * connection between them is cut while the drain runs.
 */
const NS = "deputy-w-exec";
const RUN = randomBytes(3).toString("hex");
const NODE = `deputy-test-node-split-${RUN}`;
const PODS = ["a", "b", "c"].map((letter) => `split-${letter}-${RUN}`);
const CUT_NODE = `deputy-test-node-split-cut-${RUN}`;
const CUT_PODS = ["a", "b", "c"].map((letter) => `split-cut-${letter}-${RUN}`);
const ALICE = "U0SPLITALICE";
const BOB = "U0SPLITBOB";
const CHANNEL = "C0SPLIT";

describe("an executor answer the bot never gets: its timeout, or its connection cut mid-drain", () => {
  let fakes: BotOverFakes;
  let proxy: DelayProxy;
  let server: ExecutorHttpServer | undefined;
  let client: ApprovalDecider | undefined;
  let keys: ReturnType<typeof generateKeys>;
  const core = () => adminKubeConfig().makeApiClient(CoreV1Api);

  beforeAll(async () => {
    fakes = await startBotOverFakes({
      name: "split-timeout",
      agent: false,
      decider: { decide: (request) => client!.decide(request) },
      env: { DEPUTY_APPROVERS: BOB },
      mcpEnv: { DEPUTY_WRITABLE_NAMESPACES: NS },
    });
    const env = await prepareWriteEnv();
    // Every chunk to the API server waits 600 ms: the drain takes several seconds.
    proxy = await startDelayProxy(new URL(loadTestEnv().server), 600);
    const logger = createLogger({ level: "silent" });
    keys = generateKeys(["executorCaller"]);
    server = await startExecutorHttpServer({
      executor: writeExecutor(env, {
        store: fakes.store,
        audit: fakes.captured.audit,
        logger,
        approverIds: [BOB],
        cluster: { ...env.cluster, server: proxy.url },
      }),
      logger,
      audit: fakes.captured.audit,
      callers: createCallerVerifier({
        key: keys.executorCaller!,
        purpose: "executor",
        redis: fakes.redis,
        prefix: fakes.prefix,
      }),
      host: "127.0.0.1",
      port: 0,
      notify: queueActionNotice(fakes.redis, fakes.prefix),
    });
    client = createExecutorClient({ url: server.url, key: keys.executorCaller!, timeoutMs: 2000 });

    await podsOnNode(NODE, PODS);
    await podsOnNode(CUT_NODE, CUT_PODS);
  }, 180_000);

  async function podsOnNode(node: string, pods: readonly string[]): Promise<void> {
    await ensure(adminKubeConfig(), { apiVersion: "v1", kind: "Node", metadata: { name: node } });
    const owner = await core().createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: `owner-${node}` } },
    });
    for (const name of pods) {
      await core().createNamespacedPod({
        namespace: NS,
        body: {
          metadata: {
            name,
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name: `owner-${node}`,
                uid: owner.metadata!.uid!,
                controller: true,
              },
            ],
          },
          spec: { nodeName: node, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
        },
      });
    }
  }

  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await fakes?.close();
    for (const name of [NODE, CUT_NODE]) {
      await core()
        .deleteNode({ name })
        .catch(() => undefined);
    }
  });

  it("says the drain is still running, invites no second click, and posts its result when it ends", async () => {
    const { slack } = fakes;
    const sent = await slack.mention({ user: ALICE, text: `drain ${NODE}`, channel: CHANNEL });
    const card = await eventually("the approval card", async () =>
      slack
        .thread(CHANNEL, sent.ts)
        .find((m) => !m.ephemeralTo && JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID)),
    );
    const started = Date.now();
    await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    const told = await eventually("the approver told", async () =>
      slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1),
    );
    expect(told.text).toBe(
      "Your approval was taken and the action is still running, but I lost the executor's answer (the executor did not answer within 2 s). Its result will be posted in the thread when it ends; please don't click again.",
    );
    const botInThread = () =>
      slack.thread(CHANNEL, sent.ts).filter((m) => !m.ephemeralTo && m.user === slack.botUserId);
    expect(
      botInThread().some((m) => (m.text ?? "").includes("Its result will be posted here when it ends.")),
    ).toBe(true);
    expect(JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks)).not.toContain(
      APPROVE_ACTION_ID,
    );

    const result = await eventually(
      "the drain's result in the thread",
      async () => botInThread().find((m) => (m.text ?? "").includes(`Node ${NODE} cordoned and drained`)),
      { timeoutMs: 60_000 },
    );
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect(result.text).toContain(`evicted 3 pod(s)`);
    expect(JSON.stringify(slack.messages.find((m) => m.ts === card.ts)!.blocks)).toContain(
      "Approved and done",
    );
    expect(slack.messages.filter((m) => m.ephemeralTo === BOB).map((m) => m.text)).not.toContainEqual(
      expect.stringMatching(/click again in a minute|nothing was decided/),
    );
  });

  it("says the outcome follows when the connection to the executor drops mid-drain, and never invites a second click", async () => {
    const { slack, store } = fakes;
    // The bot reaches the executor through a connection the test cuts (the executor's pod going away).
    const link = await startDelayProxy(new URL(server!.url), 0);
    client = createExecutorClient({
      url: link.url.replace("https://", "http://"),
      key: keys.executorCaller!,
      timeoutMs: 120_000,
    });
    const sent = await slack.mention({ user: ALICE, text: `drain ${CUT_NODE}`, channel: CHANNEL });
    const card = await eventually("the approval card", async () =>
      slack
        .thread(CHANNEL, sent.ts)
        .find((m) => !m.ephemeralTo && JSON.stringify(m.blocks ?? []).includes(APPROVE_ACTION_ID)),
    );
    const actionId = /(act_[A-Za-z0-9_-]{20,})/.exec(JSON.stringify(card.blocks))![1]!;
    const before = slack.messages.filter((m) => m.ephemeralTo === BOB).length;
    await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    await eventually("the drain running", async () => (await store.get(actionId))?.state === "executing");
    await link.close();
    const told = await eventually("the approver told", async () =>
      slack.messages
        .filter((m) => m.ephemeralTo === BOB)
        .slice(before)
        .at(-1),
    );
    expect(told.text).toMatch(
      /^Your approval was taken and the action is still running, but I lost the executor's answer \(the connection to the executor at .* failed \(.*\)\)\. Its result will be posted in the thread when it ends; please don't click again\.$/,
    );
    const result = await eventually(
      "the drain's result in the thread",
      async () =>
        slack
          .thread(CHANNEL, sent.ts)
          .find((m) => !m.ephemeralTo && (m.text ?? "").includes(`Node ${CUT_NODE} cordoned and drained`)),
      { timeoutMs: 60_000 },
    );
    expect(result.text).toContain("evicted 3 pod(s)");
    expect(
      slack.messages
        .filter((m) => m.ephemeralTo === BOB)
        .slice(before)
        .map((m) => m.text),
    ).not.toContainEqual(expect.stringMatching(/click again in a minute|nothing was decided/));
  });
});
