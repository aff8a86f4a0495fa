import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { createAnthropicModel } from "../bot/agent/model.ts";
import { createAgentRunner } from "../bot/agent/run-agent-turn.ts";
import { createSlackApp, EVENTS_PATH } from "../bot/app.ts";
import { parseConfig } from "../core/config.ts";
import { createLogger } from "../core/logger.ts";
import { startAnthropicFake, text, toolUse } from "../test/fakes/anthropic.ts";
import { startSlackFake } from "../test/fakes/slack.ts";
import { startStubMcp } from "../test/bot/helpers/stub-mcp.ts";
import { testSigner } from "../test/executor/support.ts";
import { createActionStore } from "../core/actions/store.ts";
import type { BenchLine } from "./run.ts";

/**
 * Slack's 3-second timeout (the talk's third failure): 100 mentions arrive at
 * once, each signed like Slack, at the real Bolt HTTP receiver. Every one must
 * be acknowledged fast (goal p99 < 100 ms) while the 100 agent turns it starts
 * (a tool call and an answer each, against local fakes) run in the background.
 * An ack slower than 3 s, or not 200, is one Slack would retry. Then Slack's
 * retries of all 100 are replayed to show none starts a second turn.
 */
const MENTIONS = 100;
const CHANNEL = "C0BENCH";

interface LoadResult {
  latencyMs: number;
  status: number;
  eventId: string;
  ts: string;
}

/** Fire the mentions from a separate process, like Slack would (see bench/slack-load.ts). */
async function fireFromAnotherProcess(
  target: string,
  secret: string,
  botUserId: string,
  teamId: string,
): Promise<LoadResult[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(import.meta.dirname, "slack-load.ts"),
      target,
      secret,
      String(MENTIONS),
      CHANNEL,
      botUserId,
      teamId,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as LoadResult[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

/** The sender's own floor: the same burst against a server that answers 200 at once. */
async function clientFloor(): Promise<number[]> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  try {
    const sent = await fireFromAnotherProcess(`http://127.0.0.1:${port}/`, "floor", "U0FLOOR", "T0FLOOR");
    return sent.map((s) => s.latencyMs).sort((a, b) => a - b);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

export async function run(): Promise<BenchLine[]> {
  const floor = await clientFloor();
  const slack = await startSlackFake();
  const model = await startAnthropicFake({
    // Each turn: one tool call, then an answer, with a little model latency.
    script: (request) => {
      const last = request.messages.at(-1);
      const hasResult =
        Array.isArray(last?.content) && last.content.some((block) => block.type === "tool_result");
      return hasResult
        ? { ...text("checkout crashes on a NullPointerException."), delayMs: 50 }
        : { ...toolUse("troubleshoot_pod", { namespace: "shop", name: "checkout" }), delayMs: 50 };
    },
  });
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const prefix = `deputy-bench:${randomBytes(4).toString("hex")}:`;
  const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
  const mcp = await startStubMcp({ store });
  const logger = createLogger({ level: "silent" });
  const config = parseConfig({
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_SOCKET_MODE: "false",
    SLACK_API_URL: slack.apiUrl,
    SLACK_PORT: "0",
  });
  const app = createSlackApp({
    slack: config.slack,
    approvals: config.approvals,
    redisPrefix: prefix,
    redis,
    logger,
    mcp: mcp.client,
    agent: createAgentRunner({
      model: createAnthropicModel({ apiKey: model.apiKey, baseUrl: model.url }),
      modelName: config.anthropic.model,
      limits: { maxIterations: 4, maxSeconds: 60, maxTokens: 100_000, maxOutputTokens: 1024 },
      logger,
    }),
    decider: {
      decide: () => Promise.reject(new Error("no decisions in this benchmark")),
    },
    actions: store,
  });
  try {
    const server = (await app.app.start(0)) as Server;
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    // Server-side time to acknowledge: request in → response finished.
    const serverAck: number[] = [];
    server.prependListener("request", (_req, res) => {
      const arrived = performance.now();
      res.on("finish", () => serverAck.push(performance.now() - arrived));
    });
    const target = `http://127.0.0.1:${port}${EVENTS_PATH}`;
    slack.setTarget(target);
    // Warm up connections and JIT with one mention, not counted.
    await slack.mention({ user: "U0WARM", text: "warm up", channel: CHANNEL });
    await app.idle();
    model.requests.length = 0;
    serverAck.length = 0;

    const started = performance.now();
    const sent = await fireFromAnotherProcess(target, slack.signingSecret, slack.botUserId, slack.teamId);
    await app.idle();
    const answeredAllMs = performance.now() - started;

    const latencies = sent.map((s) => s.latencyMs).sort((a, b) => a - b);
    const acks = [...serverAck].sort((a, b) => a - b);
    const wouldRetry = sent.filter((s) => s.status !== 200 || s.latencyMs >= 3000).length;
    const answered = sent.filter((s) =>
      slack
        .thread(CHANNEL, s.ts)
        .some((m) => m.user === slack.botUserId && m.text.includes("NullPointerException")),
    ).length;
    const turnsBefore = model.requests.length;

    // Slack's retries of every event (as if each ack had been lost): none may start a turn.
    const retries = await Promise.all(
      sent.map((s, i) =>
        slack.sendEvent(
          {
            type: "app_mention",
            user: `U0LOAD${i}`,
            text: `<@${slack.botUserId}> again`,
            ts: s.ts,
            channel: CHANNEL,
            event_ts: s.ts,
          },
          { eventId: s.eventId, retryNum: 1, retryReason: "http_timeout" },
        ),
      ),
    );
    await app.idle();
    const extraTurns = model.requests.length - turnsBefore;
    const round = (value: number): number => Math.round(value * 100) / 100;

    return [
      { name: "mentions sent at once", value: MENTIONS, unit: "requests (from another process)" },
      {
        name: "ack p50 (server)",
        value: round(percentile(acks, 50)),
        unit: "ms, request in to response out",
      },
      { name: "ack p99 (server)", value: round(percentile(acks, 99)), unit: "ms (goal < 100)" },
      { name: "ack p50 (client)", value: round(percentile(latencies, 50)), unit: "ms, as the sender saw it" },
      { name: "ack p99 (client)", value: round(percentile(latencies, 99)), unit: "ms" },
      { name: "ack max (client)", value: round(latencies.at(-1)!), unit: "ms" },
      {
        name: "sender floor p50",
        value: round(percentile(floor, 50)),
        unit: "ms, same burst to a no-op server",
      },
      { name: "sender floor p99", value: round(percentile(floor, 99)), unit: "ms" },
      { name: "acks Slack would retry", value: wouldRetry, unit: "(goal 0: >= 3 s or not 200)" },
      { name: "threads answered", value: answered, unit: `of ${MENTIONS}` },
      { name: "all answered after", value: Math.round(answeredAllMs), unit: "ms" },
      { name: "model calls", value: turnsBefore, unit: "(2 per turn)" },
      {
        name: "retried events acked 200",
        value: retries.filter((r) => r.status === 200).length,
        unit: `of ${MENTIONS}`,
      },
      { name: "turns started by retries", value: extraTurns, unit: "(goal 0)" },
    ];
  } finally {
    await app.stop();
    await mcp.close();
    await model.close();
    await slack.close();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
    redis.disconnect();
  }
}
