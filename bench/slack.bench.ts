import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { createAnthropicModel } from "../bot/agent/model.ts";
import { createAgentRunner } from "../bot/agent/run-agent-turn.ts";
import { createSlackApp, EVENTS_PATH } from "../bot/app.ts";
import { parseConfig } from "../core/config/config.ts";
import { createLogger } from "../core/observability/logger.ts";
import { startAnthropicFake, text, toolUse } from "../test/fakes/anthropic.ts";
import { startSlackFake } from "../test/fakes/slack.ts";
import { startStubMcp } from "../test/bot/helpers/stub-mcp.ts";
import { testSigner } from "../test/executor/support.ts";
import { createActionStore } from "../core/actions/store.ts";
import { comparisonLines, interleaved, MIN_ROUNDS, spreadNote, spreadOf, type Sample } from "./compare.ts";
import type { BenchLine } from "./run.ts";

/**
 * Slack's 3-second timeout (the talk's third failure): 100 mentions arrive at
 * once, each signed like Slack, at the real Bolt HTTP receiver. Every one must
 * be acknowledged fast (goal p99 < 100 ms) while the 100 agent turns it starts
 * (a tool call and an answer each, against local fakes) run in the background.
 * An ack slower than 3 s, or not 200, is one Slack would retry. Beside it,
 * the sender's floor: the same burst to a server that answers 200 at once.
 * Both sides run at least three times, interleaved (bench/compare.ts), each
 * burst in a channel of its own, and the medians print with their spread.
 * Then Slack's retries of the last burst are replayed to show none starts a
 * second turn.
 */
const MENTIONS = 100;
const CHANNEL = "C0BENCH";
const ROUNDS = MIN_ROUNDS;

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
  channel: string,
  round: number,
): Promise<LoadResult[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(import.meta.dirname, "slack-load.ts"),
      target,
      secret,
      String(MENTIONS),
      channel,
      botUserId,
      teamId,
      String(round),
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

/** The sender's own floor: a server that answers 200 at once, for the same burst. */
async function startNoOpServer(): Promise<{ url: string; close(): void }> {
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
  return {
    url: `http://127.0.0.1:${port}/`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

export async function run(): Promise<BenchLine[]> {
  const noOp = await startNoOpServer();
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

    let round = 0;
    let last: { channel: string; sent: LoadResult[] } | undefined;
    const deputy = async (): Promise<Sample> => {
      round++;
      const channel = `${CHANNEL}${round}`;
      serverAck.length = 0;
      const callsBefore = model.requests.length;
      const started = performance.now();
      const sent = await fireFromAnotherProcess(
        target,
        slack.signingSecret,
        slack.botUserId,
        slack.teamId,
        channel,
        round,
      );
      await app.idle();
      const answeredAllMs = performance.now() - started;
      last = { channel, sent };
      const latencies = sent.map((s) => s.latencyMs).sort((a, b) => a - b);
      const acks = [...serverAck].sort((a, b) => a - b);
      return {
        serverP50: percentile(acks, 50),
        serverP99: percentile(acks, 99),
        clientP50: percentile(latencies, 50),
        clientP99: percentile(latencies, 99),
        clientMax: latencies.at(-1)!,
        wouldRetry: sent.filter((s) => s.status !== 200 || s.latencyMs >= 3000).length,
        answered: sent.filter((s) =>
          slack
            .thread(channel, s.ts)
            .some((m) => m.user === slack.botUserId && m.text.includes("NullPointerException")),
        ).length,
        answeredAllMs,
        modelCalls: model.requests.length - callsBefore,
      };
    };
    const floor = async (): Promise<Sample> => {
      round++;
      const sent = await fireFromAnotherProcess(noOp.url, "floor", "U0FLOOR", "T0FLOOR", CHANNEL, round);
      const latencies = sent.map((s) => s.latencyMs).sort((a, b) => a - b);
      return {
        clientP50: percentile(latencies, 50),
        clientP99: percentile(latencies, 99),
        clientMax: latencies.at(-1)!,
      };
    };
    const samples = await interleaved({ deputy, floor }, ROUNDS);

    // Slack's retries of every event of the last burst (as if each ack had been lost): none may start a turn.
    const turnsBefore = model.requests.length;
    const retries = await Promise.all(
      last!.sent.map((s, i) =>
        slack.sendEvent(
          {
            type: "app_mention",
            user: `U0LOAD${i}`,
            text: `<@${slack.botUserId}> again`,
            ts: s.ts,
            channel: last!.channel,
            event_ts: s.ts,
          },
          { eventId: s.eventId, retryNum: 1, retryReason: "http_timeout" },
        ),
      ),
    );
    await app.idle();
    const extraTurns = model.requests.length - turnsBefore;

    const ours = (key: string): number[] => samples.deputy.map((sample) => sample[key] ?? Number.NaN);
    const median = (key: string): number => Math.round(spreadOf(ours(key)).median * 100) / 100;
    const over = (key: string, unit: string): string => `${unit} (median; ${spreadNote(ours(key))})`;
    const total = (key: string): number => ours(key).reduce((sum, value) => sum + value, 0);
    return [
      {
        name: "mentions sent at once",
        value: MENTIONS,
        unit: `requests per burst (from another process), ${ROUNDS} bursts`,
      },
      {
        name: "ack p50 (server)",
        value: median("serverP50"),
        unit: over("serverP50", "ms, request in to response out"),
      },
      { name: "ack p99 (server)", value: median("serverP99"), unit: over("serverP99", "ms (goal < 100)") },
      ...comparisonLines(
        { deputy: samples.deputy, floor: samples.floor },
        { deputy: "Deputy", floor: "sender floor (no-op server)" },
        [
          { key: "clientP50", name: "ack p50 (client)", unit: "ms, as the sender saw it" },
          { key: "clientP99", name: "ack p99 (client)", unit: "ms" },
          { key: "clientMax", name: "ack max (client)", unit: "ms" },
        ],
      ),
      {
        name: "acks Slack would retry",
        value: total("wouldRetry"),
        unit: `of ${MENTIONS * ROUNDS} (goal 0: >= 3 s or not 200)`,
      },
      { name: "threads answered", value: total("answered"), unit: `of ${MENTIONS * ROUNDS}` },
      {
        name: "all answered after",
        value: Math.round(median("answeredAllMs")),
        unit: over("answeredAllMs", "ms"),
      },
      { name: "model calls", value: total("modelCalls"), unit: "(2 per turn)" },
      {
        name: "retried events acked 200",
        value: retries.filter((r) => r.status === 200).length,
        unit: `of ${MENTIONS}`,
      },
      { name: "turns started by retries", value: extraTurns, unit: "(goal 0)" },
    ];
  } finally {
    noOp.close();
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
