import { randomBytes } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AppsV1Api } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSlackApp, EVENTS_PATH, type SlackApp } from "../../bot/app.ts";
import { APPROVE_ACTION_ID } from "../../bot/blocks/approval-card.ts";
import type { ApprovalDecider } from "../../bot/deps.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import type { AuditRecord } from "../../core/audit/log.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createRedisClient } from "../../core/state/redis.ts";
import { startRedisHa, type RedisHa } from "../../devenv/redis-ha.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import { createCredentialBroker } from "../../executor/credential-broker.ts";
import { capture, testPrefix, testSigner, type Captured } from "../executor/support.ts";
import { prepareWriteEnv } from "../executor/write-env.ts";
import {
  lastToolResults,
  startAnthropicFake,
  text,
  toolUse,
  type AnthropicFake,
} from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { adminKubeConfig, eventually } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { scriptedAgent, slackFakeEnv } from "./helpers/over-fakes.ts";

/**
 * Replicas of every component at once, as a platform team runs them: three
 * bot replicas behind one Slack request URL (a round-robin front, as a
 * Service spreads them), two MCP servers and two executor replicas, all on
 * one Redis in replication with Sentinel and WAIT for its replica. 200 signed
 * mentions and 60 approvals spread over them; one bot replica is taken away
 * halfway. Every mention is answered once, every approval runs once.
 */
const ALICE = "U0REPALICE";
const BOB = "U0REPBOB";
const CHANNEL = "C0REPLICAS";
const NS = "deputy-w-exec";
const RUN = randomBytes(3).toString("hex");
const MENTIONS = 200;
/** Three mentions in every ten ask for a change: 60 of the 200. */
const APPROVALS = 60;
const isScale = (i: number): boolean => i % 10 < 3;
const deploymentOf = (i: number): string => `rep-${RUN}-${i}`;
const CONCURRENCY = 6;

interface BotReplica {
  name: string;
  app: SlackApp;
  redis: Redis;
  port: number;
  alive: boolean;
  delivered: number;
}

interface Front {
  url: string;
  close(): Promise<void>;
}

/** One request URL for all bot replicas: each request to the next live one, as a Service does; no retry. */
async function startFront(replicas: BotReplica[]): Promise<Front> {
  let next = 0;
  const server: Server = createServer((incoming: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const live = replicas.filter((replica) => replica.alive);
      if (live.length === 0) {
        response.writeHead(503).end();
        return;
      }
      const target = live[next++ % live.length]!;
      target.delivered++;
      const forward = httpRequest(
        {
          host: "127.0.0.1",
          port: target.port,
          path: incoming.url,
          method: incoming.method,
          headers: incoming.headers,
          agent: false,
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forward.on("error", () => {
        if (!response.headersSent) response.writeHead(502);
        response.end();
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${EVENTS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Run `work` over `items`, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let at = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (at < items.length) await work(items[at++]!);
    }),
  );
}

let ha: RedisHa;
let slack: SlackFake;
let model: AnthropicFake;
let front: Front;
const harnesses: Harness[] = [];
const bots: BotReplica[] = [];
const executors: ApprovalExecutor[] = [];
const executorAudits: AuditRecord[][] = [];
const clients: Redis[] = [];
let store: ActionStore;
let captured: Captured;
const prefix = testPrefix("replicas");
const apps = (): AppsV1Api => adminKubeConfig().makeApiClient(AppsV1Api);

function redisClient(): Redis {
  const redis = createRedisClient(ha.config(prefix, { waitReplicas: 1, waitTimeoutMs: 2000 }), {
    maxRetriesPerRequest: 2,
  });
  redis.on("error", () => undefined);
  clients.push(redis);
  return redis;
}

beforeAll(async () => {
  const writeEnv = await prepareWriteEnv();
  ha = await startRedisHa({ replicas: 1 });
  captured = capture();
  store = createActionStore(redisClient(), { prefix, ttlSeconds: 900, signer: testSigner() });
  for (let i = 0; i < 2; i++) {
    harnesses.push(
      await startHarness({
        env: {
          ...ha.env({ waitReplicas: 1, waitTimeoutMs: 2000 }),
          DEPUTY_REDIS_PREFIX: prefix,
          DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "10000",
          DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: "10000",
        },
      }),
    );
  }
  for (let i = 0; i < 2; i++) {
    const own = capture();
    executorAudits.push(own.records);
    executors.push(
      createApprovalExecutor({
        store: createActionStore(redisClient(), { prefix, ttlSeconds: 900, signer: testSigner() }),
        broker: createCredentialBroker({
          openbao: writeEnv.openbao,
          logger: own.logger,
          authMount: writeEnv.authMount,
          authRole: writeEnv.authRole,
          secretsMount: writeEnv.secretsMount,
          jwtPath: writeEnv.jwtPath,
        }),
        roles: writeEnv.roles,
        cluster: writeEnv.cluster,
        audit: own.audit,
        logger: own.logger,
        approvers: { slackUserIds: [BOB], localApproverIds: [] },
        twoPersonRule: { normal: true, high: true },
        protectedNamespaces: ["kube-system"],
        clusterName: "testenv",
        owner: `executor-${i}`,
      }),
    );
  }
  slack = await startSlackFake();
  model = await startAnthropicFake();
  model.setScript((request) => {
    if (lastToolResults(request).length > 0) return text("I proposed it; it waits for an approver.");
    const asked = /q-(\d+)/.exec(JSON.stringify(request.messages.at(-1)?.content ?? ""));
    if (!asked) return text("Noted.");
    const i = Number(asked[1]);
    if (isScale(i)) return toolUse("scale_deployment", { namespace: NS, name: deploymentOf(i), replicas: 2 });
    return text(`Answer to q-${i}.`);
  });
  // Clicks reach any executor replica.
  let turn = 0;
  const decider: ApprovalDecider = {
    decide: (request) => executors[turn++ % executors.length]!.decide(request),
  };
  const config = parseConfig({ ...slackFakeEnv(slack), DEPUTY_APPROVERS: BOB });
  for (let i = 0; i < 3; i++) {
    const redis = redisClient();
    const app = createSlackApp({
      slack: config.slack,
      approvals: config.approvals,
      access: config.access,
      redisPrefix: prefix,
      redis,
      logger: captured.logger,
      audit: captured.audit,
      mcp: harnesses[i % harnesses.length]!.client,
      agent: scriptedAgent(model, captured.logger),
      decider,
      actions: createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() }),
      statusIntervalMs: 0,
      cardSweepMs: 0,
      followUp: { timeoutMs: 3000, intervalMs: 500 },
    });
    const { port } = await app.start();
    bots.push({ name: `bot-${i}`, app, redis, port: port!, alive: true, delivered: 0 });
  }
  front = await startFront(bots);
  slack.setTarget(front.url);
  for (let i = 0; i < MENTIONS; i++) if (isScale(i)) await freshDeployment(NS, deploymentOf(i));
}, 300_000);

afterAll(async () => {
  await front?.close();
  for (const bot of bots) if (bot.alive) await bot.app.stop().catch(() => undefined);
  for (const harness of harnesses) await harness.close().catch(() => undefined);
  await slack?.close();
  await model?.close();
  for (const redis of clients) redis.disconnect();
  await ha?.stop();
  for (let i = 0; i < MENTIONS; i++) {
    if (isScale(i))
      await apps()
        .deleteNamespacedDeployment({ name: deploymentOf(i), namespace: NS })
        .catch(() => undefined);
  }
});

/** A mention delivered as Slack does: sent again (X-Slack-Retry-Num) while it is not acknowledged. */
async function mention(i: number): Promise<string> {
  const first = await slack.mention({ user: ALICE, text: `q-${i}: please look`, channel: CHANNEL });
  let result = first;
  for (let retry = 1; result.status !== 200; retry++) {
    if (retry > 3) throw new Error(`mention q-${i} was never acknowledged (${result.status})`);
    result = await slack.mention({
      user: ALICE,
      text: `q-${i}: please look`,
      channel: CHANNEL,
      ts: first.ts,
      eventId: first.eventId,
      retryNum: retry,
      retryReason: "http_error",
    });
  }
  return first.ts;
}

const botMessages = (threadTs: string): FakeMessage[] =>
  slack.thread(CHANNEL, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
const cardOf = (threadTs: string): FakeMessage[] =>
  botMessages(threadTs).filter((m) => JSON.stringify(m.blocks ?? []).includes('"act_'));
const actionIdOf = (card: FakeMessage): string =>
  (card.blocks as { elements?: { value?: string }[] }[])
    .flatMap((b) => b.elements ?? [])
    .find((e) => e.value?.startsWith("act_"))!
    .value!.split("|")[0]!;

async function idle(): Promise<void> {
  await Promise.all(bots.filter((bot) => bot.alive).map((bot) => bot.app.idle()));
}

/** An approver's click, clicked again (as a person would) while Slack shows it failed. */
async function approve(card: FakeMessage): Promise<string[]> {
  const payloads: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const clicked = await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    payloads.push(clicked.payload);
    if (clicked.status === 200) return payloads;
    if (attempt > 3) throw new Error(`the click on ${card.ts} was never acknowledged (${clicked.status})`);
  }
}

describe("three bot replicas, two MCP servers and two executors on one replicated Redis", () => {
  it("200 mentions and 60 approvals spread across them, a bot replica taken away halfway: every mention answered once, every approval run once", async () => {
    const indices = Array.from({ length: MENTIONS }, (_, i) => i);
    const threads = new Map<number, string>();
    const payloads: string[] = [];

    // The first half, on three replicas.
    await pool(indices.slice(0, MENTIONS / 2), CONCURRENCY, async (i) => {
      threads.set(i, await mention(i));
    });
    await idle();
    const firstCards = indices
      .slice(0, MENTIONS / 2)
      .filter(isScale)
      .map((i) => slack.waitFor(() => cardOf(threads.get(i)!)[0], { what: `the card of q-${i}` }));
    const cardsA = await Promise.all(firstCards);

    // Halfway: one replica leaves (taken out of the front first, as an endpoint is), while the
    // second half of the mentions and the first half's approvals are in flight.
    const clicking = pool(cardsA, 3, async (card) => {
      payloads.push(...(await approve(card)));
    });
    const secondHalf = pool(indices.slice(MENTIONS / 2), CONCURRENCY, async (i) => {
      threads.set(i, await mention(i));
      if (i === MENTIONS / 2 + 10) {
        const leaving = bots[1]!;
        leaving.alive = false;
        await leaving.app.stop();
      }
    });
    await Promise.all([clicking, secondHalf]);
    await idle();
    const cardsB = await Promise.all(
      indices
        .slice(MENTIONS / 2)
        .filter(isScale)
        .map((i) => slack.waitFor(() => cardOf(threads.get(i)!)[0], { what: `the card of q-${i}` })),
    );
    await pool(cardsB, 3, async (card) => {
      payloads.push(...(await approve(card)));
    });
    await idle();

    // Every mention answered once: an answer, or one card and one reply saying it waits.
    for (const i of indices) {
      const messages = botMessages(threads.get(i)!);
      if (isScale(i)) {
        expect(cardOf(threads.get(i)!), `q-${i}`).toHaveLength(1);
        expect(
          messages.filter((m) => m.text.includes("I proposed it")),
          `q-${i}`,
        ).toHaveLength(1);
      } else {
        expect(
          messages.filter((m) => m.text.includes(`Answer to q-${i}.`)),
          `q-${i}`,
        ).toHaveLength(1);
      }
    }

    // Every approval run once, on the API server, whichever executor took it.
    const actionIds = [...cardsA, ...cardsB].map(actionIdOf);
    expect(new Set(actionIds).size).toBe(APPROVALS);
    for (const id of actionIds) {
      const action = await eventually(`action ${id} finished`, async () => {
        const current = await store.get(id);
        return current && ["succeeded", "failed", "interrupted"].includes(current.state)
          ? current
          : undefined;
      });
      expect(action.state, action.outcome?.message).toBe("succeeded");
      expect(await store.executions(id)).toBe(1);
      const runs = executorAudits.flat().filter((r) => r.kind === "execution" && r.actionId === id);
      expect(runs).toHaveLength(1);
    }
    for (const i of indices.filter(isScale)) {
      const deployment = await apps().readNamespacedDeployment({ name: deploymentOf(i), namespace: NS });
      expect(deployment.spec?.replicas, deploymentOf(i)).toBe(2);
    }
    // Replays of every click, to whichever replica: nothing runs again.
    await pool(payloads, CONCURRENCY, async (payload) => {
      await slack.replay(payload);
    });
    await idle();
    for (const id of actionIds) expect(await store.executions(id)).toBe(1);
    expect(executorAudits.flat().filter((r) => r.kind === "execution")).toHaveLength(APPROVALS);

    // The work was spread: every bot replica took requests, both executors ran approvals.
    for (const bot of bots) expect(bot.delivered, bot.name).toBeGreaterThan(0);
    for (const records of executorAudits)
      expect(records.filter((r) => r.kind === "execution").length).toBeGreaterThan(0);
  }, 420_000);
});
