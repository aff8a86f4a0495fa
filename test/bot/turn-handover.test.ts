import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SlackApp } from "../../bot/app.ts";
import { createActionStore } from "../../core/actions/store.ts";
import { capture, dropPrefix, testPrefix, testSigner, type Captured } from "../executor/support.ts";
import { startAnthropicFake, text, type AnthropicFake } from "../fakes/anthropic.ts";
import { startSlackFake, type FakeMessage, type SlackFake } from "../fakes/slack.ts";
import { startPausableProxy, type PausableProxy } from "../helpers/pausable-proxy.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { scriptedAgent, startSlackAppOverFakes } from "./helpers/over-fakes.ts";

/**
 * A bot replica that stops in the middle of a turn, after Slack got its 200:
 * Slack will not deliver the mention again, so another replica must answer
 * it. Two replicas of the real Bolt app share one Redis; replica A reaches
 * Slack, the model and Redis only through proxies the test controls, so it
 * can be killed (every connection dropped, as its peers see a SIGKILL) or
 * stalled and woken again (a partition that heals), mid-turn. Replica B
 * adopts the turn once A's lease lapses and answers once; a woken A does not
 * answer a second time; the thread is not held for the longest a turn may
 * take.
 */
const ALICE = "U0HANDALICE";
const CHANNEL = "C0HANDOVER";
const LEASE_MS = 1_500;
const SWEEP_MS = 200;

let slack: SlackFake;
let model: AnthropicFake;
let harness: Harness;
let captured: Captured;
const prefix = testPrefix("turn-handover");
const redisUrl = new URL(loadTestEnv().redisUrl);
const closers: (() => Promise<unknown>)[] = [];
let b: SlackApp;
/** Replica B's Bolt endpoint, where Slack's deliveries go once A is gone. */
let bTarget: string;

interface ReplicaA {
  app: SlackApp;
  slackApi: PausableProxy;
  modelApi: PausableProxy;
  redisLink: PausableProxy;
  redis: Redis;
  url: string;
}

const hostPort = (url: string): { host: string; port: number } => {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
};

/** Replica A: the same app, its peers behind proxies. */
async function startReplicaA(): Promise<ReplicaA> {
  const slackApi = await startPausableProxy(hostPort(slack.apiUrl));
  const modelApi = await startPausableProxy(hostPort(model.url));
  const redisLink = await startPausableProxy({
    host: redisUrl.hostname,
    port: Number(redisUrl.port || 6379),
  });
  const redis = new Redis(`redis://127.0.0.1:${redisLink.port}`, { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  const apiPath = new URL(slack.apiUrl).pathname;
  const modelPath = new URL(model.url).pathname.replace(/\/$/, "");
  const app = await startSlackAppOverFakes(
    {
      slack,
      redis,
      prefix,
      store: createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() }),
      captured,
      env: { SLACK_API_URL: `http://127.0.0.1:${slackApi.port}${apiPath}` },
    },
    () => ({
      mcp: harness.client,
      decider: { decide: () => Promise.reject(new Error("no decision in this test")) },
      agent: scriptedAgent(model, captured.logger, `http://127.0.0.1:${modelApi.port}${modelPath}`),
      cardSweepMs: 0,
      turnLeaseMs: LEASE_MS,
      turnSweepMs: 0,
    }),
  );
  const replica = { app, slackApi, modelApi, redisLink, redis, url: "" };
  closers.push(async () => {
    // Its listener only: a killed replica's turn is still retrying a Slack it cannot reach (for
    // minutes, as the Web API client does), and nothing is waiting for it; the process ends it.
    await app.app.stop().catch(() => undefined);
    for (const proxy of [slackApi, modelApi, redisLink]) await proxy.close();
    redis.disconnect();
  });
  return replica;
}

beforeAll(async () => {
  captured = capture();
  harness = await startHarness({
    env: { DEPUTY_REDIS_PREFIX: prefix, DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000" },
  });
  closers.push(() => harness.close());
  slack = await startSlackFake();
  closers.push(() => slack.close());
  model = await startAnthropicFake();
  closers.push(() => model.close());
  model.setScript((request) => {
    const asked = /q-[a-z0-9-]+/.exec(JSON.stringify(request.messages.at(-1)?.content ?? ""));
    return text(`Answer to ${asked?.[0] ?? "that"}.`);
  });
  const redisB = new Redis(loadTestEnv().redisUrl, { maxRetriesPerRequest: 2 });
  closers.push(async () => {
    await dropPrefix(redisB, prefix);
    redisB.disconnect();
  });
  b = await startSlackAppOverFakes(
    {
      slack,
      redis: redisB,
      prefix,
      store: createActionStore(redisB, { prefix, ttlSeconds: 900, signer: testSigner() }),
      captured,
    },
    () => ({
      mcp: harness.client,
      decider: { decide: () => Promise.reject(new Error("no decision in this test")) },
      agent: scriptedAgent(model, captured.logger),
      cardSweepMs: 0,
      turnLeaseMs: LEASE_MS,
      turnSweepMs: SWEEP_MS,
    }),
  );
  bTarget = slack.target;
  closers.push(() => b.stop());
}, 120_000);

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

const botMessages = (threadTs: string): FakeMessage[] =>
  slack.thread(CHANNEL, threadTs).filter((m) => m.user === slack.botUserId && !m.ephemeralTo);
const answersTo = (threadTs: string, question: string): FakeMessage[] =>
  botMessages(threadTs).filter((m) => m.text.includes(`Answer to ${question}.`));

/** A mention delivered to replica A (the fake's target since A started), which acknowledges it. */
async function askA(question: string): Promise<string> {
  const sent = await slack.mention({
    user: ALICE,
    text: `${question}: why is checkout failing?`,
    channel: CHANNEL,
  });
  expect(sent.status).toBe(200);
  return sent.ts;
}

describe("a bot replica that stops mid-turn", () => {
  it("killed after acknowledging a mention: another replica adopts the turn and answers it once, soon", async () => {
    const a = await startReplicaA();
    // A is mid-turn: its model call does not come back before it dies.
    a.modelApi.pause();
    const ts = await askA("q-killed");
    await slack.waitFor(() => botMessages(ts).find((m) => m.text.includes("Looking into it")), {
      what: "replica A's status message",
    });
    expect(answersTo(ts, "q-killed")).toEqual([]);

    const killedAt = Date.now();
    for (const proxy of [a.slackApi, a.modelApi, a.redisLink]) proxy.sever();
    slack.setTarget(bTarget);
    const answer = await slack.waitFor(() => answersTo(ts, "q-killed")[0], {
      timeoutMs: 20_000,
      what: "the answer from replica B",
    });
    const tookMs = Date.now() - killedAt;
    // The lease and a sweep, then one short turn: seconds, not the 15 minutes a lock used to hold.
    expect(tookMs).toBeLessThan(LEASE_MS + SWEEP_MS + 15_000);
    // A's stale status says what happened instead of "Looking into it…" for ever.
    expect(botMessages(ts).some((m) => m.text.includes("another one is answering below"))).toBe(true);
    await b.idle();
    expect(answersTo(ts, "q-killed")).toEqual([answer]);

    // The thread is free again: the next question in it is answered, not told to wait.
    const next = await slack.mention({
      user: ALICE,
      text: "q-after: and now?",
      channel: CHANNEL,
      threadTs: ts,
    });
    expect(next.status).toBe(200);
    await slack.waitFor(() => answersTo(ts, "q-after")[0], { what: "the answer to the next question" });
    expect(botMessages(ts).some((m) => m.text.includes("still working on the previous message"))).toBe(false);
  });

  it("stalled past its lease and woken again: the adopter answers, the woken replica posts nothing", async () => {
    const a = await startReplicaA();
    a.modelApi.pause();
    const ts = await askA("q-stalled");
    await slack.waitFor(() => botMessages(ts).find((m) => m.text.includes("Looking into it")), {
      what: "replica A's status message",
    });
    // A stalls (a long pause, a partition): its model answer and its lease renewals do not get through.
    a.redisLink.pause();
    slack.setTarget(bTarget);
    await slack.waitFor(() => answersTo(ts, "q-stalled")[0], {
      timeoutMs: 20_000,
      what: "the answer from replica B",
    });
    await b.idle();
    // A wakes: its renewal finds the turn adopted, its model answer arrives, and it keeps quiet.
    a.redisLink.resume();
    a.modelApi.resume();
    await a.app.idle();
    expect(model.requests.length).toBeGreaterThanOrEqual(2);
    expect(answersTo(ts, "q-stalled")).toHaveLength(1);
    expect(captured.text()).toContain("another replica took this turn over");
  });
});
