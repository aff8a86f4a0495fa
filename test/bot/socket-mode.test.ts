import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnthropicModel } from "../../bot/agent/model.ts";
import { createAgentRunner } from "../../bot/agent/run-agent-turn.ts";
import { createSlackApp, type SlackApp } from "../../bot/app.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createActionStore } from "../../core/actions/store.ts";
import { testSigner } from "../executor/support.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { startAnthropicFake, text, toolUse, type AnthropicFake } from "../fakes/anthropic.ts";
import { SLACK_ACK_DEADLINE_MS, startSlackFake, type SlackFake } from "../fakes/slack.ts";
import { startStubMcp, type StubMcp } from "./helpers/stub-mcp.ts";

/**
 * Socket Mode, the default: the real Bolt SocketModeReceiver calls
 * apps.connections.open at SLACK_API_URL with the app token, opens the
 * WebSocket it is given, and acknowledges each envelope over it.
 */
let slack: SlackFake;
let model: AnthropicFake;
let mcp: StubMcp;
let redis: Redis;
let bot: SlackApp;

beforeAll(async () => {
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  slack = await startSlackFake();
  model = await startAnthropicFake();
  const store = createActionStore(redis, {
    prefix: `deputy-test:socket:${randomBytes(4).toString("hex")}:`,
    ttlSeconds: 900,
    signer: testSigner(),
  });
  mcp = await startStubMcp({ store });
  const config = parseConfig({
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_APP_TOKEN: slack.appToken,
    SLACK_API_URL: slack.apiUrl,
  });
  expect(config.slack.socketMode).toBe(true);
  const logger = createLogger({ level: "silent" });
  bot = createSlackApp({
    slack: config.slack,
    approvals: config.approvals,
    redisPrefix: `deputy-test:${randomBytes(6).toString("hex")}:`,
    redis,
    logger,
    mcp: mcp.client,
    agent: createAgentRunner({
      model: createAnthropicModel({ apiKey: model.apiKey, baseUrl: model.url }),
      modelName: "claude-test",
      limits: { maxIterations: 4, maxSeconds: 30, maxTokens: 100_000, maxOutputTokens: 1024 },
      logger,
    }),
    decider: { decide: () => Promise.reject(new Error("not in this test")) },
    actions: store,
    statusIntervalMs: 0,
  });
  const { port } = await bot.start();
  expect(port).toBeUndefined();
  await slack.waitForSocket();
});

afterAll(async () => {
  await bot?.stop();
  await mcp?.close();
  await model?.close();
  await slack?.close();
  redis?.disconnect();
});

function mention(ts: string, eventId: string): Record<string, unknown> {
  return {
    team_id: slack.teamId,
    api_app_id: "A0DEPUTY",
    type: "event_callback",
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: "app_mention",
      user: "U0ALICE",
      text: `<@${slack.botUserId}> why is checkout crashing?`,
      ts,
      channel: "C0SOCK",
      team: slack.teamId,
      event_ts: ts,
    },
  };
}

describe("Socket Mode", () => {
  it("connects with the app token through SLACK_API_URL", () => {
    const open = slack.callsOf("apps.connections.open");
    expect(open.length).toBeGreaterThanOrEqual(1);
    expect(open[0]!.token).toBe(slack.appToken);
    expect(slack.socketConnections).toBe(1);
  });

  it("acknowledges an event at once, answers in the thread, and drops a redelivery", async () => {
    model.setScript([
      // The model takes its time: the acknowledgement must not wait for it.
      { ...toolUse("troubleshoot_pod", { namespace: "shop", name: "checkout" }), delayMs: 1500 },
      text("NullPointerException at Checkout.java:42"),
    ]);
    const ack = await slack.sendOverSocket("events_api", mention("1800000001.000100", "EvSOCK0001"));
    expect(ack.latencyMs).toBeLessThan(SLACK_ACK_DEADLINE_MS);
    expect(slack.thread("C0SOCK", "1800000001.000100").some((m) => m.text.includes("NullPointer"))).toBe(
      false,
    );
    await bot.idle();
    const answer = slack
      .thread("C0SOCK", "1800000001.000100")
      .filter((m) => m.user === slack.botUserId)
      .at(-1);
    // File names are URL-shaped too (.zip is both an extension and a TLD): defanged like any host.
    expect(answer?.text).toBe("NullPointerException at Checkout[.]java:42");

    const before = model.requests.length;
    await slack.sendOverSocket("events_api", mention("1800000001.000100", "EvSOCK0001"), { retryAttempt: 1 });
    await bot.idle();
    expect(model.requests.length).toBe(before);
  });

  it("answers /deputy help inside the acknowledgement", async () => {
    const ack = await slack.sendOverSocket("slash_commands", {
      command: "/deputy",
      text: "help",
      user_id: "U0ALICE",
      channel_id: "C0SOCK",
      team_id: slack.teamId,
      response_url: `${slack.apiUrl.replace("/api/", "")}/response/x`,
      trigger_id: "1.2",
    });
    expect(ack.payload).toMatchObject({
      response_type: "ephemeral",
      text: expect.stringContaining("/deputy troubleshoot"),
    });
  });
});
