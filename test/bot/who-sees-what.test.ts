import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SlackApp } from "../../bot/app.ts";
import { parseAlertRoutes } from "../../bot/alerts/alertmanager.ts";
import { ALERTS_PATH, startAlertReceiver, type AlertReceiver } from "../../bot/alerts/receiver.ts";
import { createMetrics, type Metrics } from "../../core/observability/metrics.ts";
import type { AnthropicFake } from "../fakes/anthropic.ts";
import type { FakeMessage, SlackFake } from "../fakes/slack.ts";
import type { Captured } from "../executor/support.ts";
import { SEED } from "../helpers/testenv.ts";
import type { Harness } from "../mcp/harness.ts";
import { startBotOverFakes, type BotOverFakes } from "./helpers/over-fakes.ts";

/**
 * Who may see what, from outside, through the real bot: Bolt over signed
 * HTTP from the Slack fake, Deputy's MCP server against the real API server,
 * real Redis. A channel scoped to payments cannot pull shop's log as a file;
 * a channel without a scope is refused once any is configured; an alert's
 * labels cannot steer a diagnosis outside the scope (or the clusters) of the
 * channel it is routed to; and one person's conversations are limited in
 * turns and model tokens per hour, shown in /metrics.
 */
const ALICE = "U0WSALICE";
const CAROL = "U0WSCAROL";
const DAN = "U0WSDAN";
/** Scoped to payments-* only: shop is outside it. */
const PAYMENTS = "C0WSPAY";
/** Scoped to shop. */
const SHOP = "C0WSSHOP";
/** No entry, and no "*" entry. */
const UNLISTED = "C0WSNEW";
const SCOPES = `${PAYMENTS}=payments-*,${SHOP}=${SEED.namespace}`;

let fakes: BotOverFakes | undefined;
let bot: SlackApp;
let slack: SlackFake;
let model: AnthropicFake;
let harness: Harness;
let captured: Captured;
const metrics: Metrics = createMetrics();

beforeAll(async () => {
  fakes = await startBotOverFakes({
    name: "who-sees-what",
    env: {
      DEPUTY_CHANNEL_NAMESPACES: SCOPES,
      DEPUTY_AGENT_TURNS_PER_HOUR: "2",
      DEPUTY_AGENT_TOKENS_PER_HOUR: "1000",
    },
    mcpEnv: { DEPUTY_CHANNEL_NAMESPACES: SCOPES },
    decider: { decide: () => Promise.reject(new Error("no decisions in this file")) },
    cardSweepMs: 0,
    metrics,
  });
  ({ bot, slack, model, harness, captured } = fakes);
}, 180_000);

afterAll(async () => {
  await fakes?.close();
});

const botRepliesIn = (channel: string): FakeMessage[] =>
  slack.messages.filter((m) => m.channel === channel && m.thread_ts && m.user === slack.botUserId);

const troubleshootCalls = (): number =>
  harness.audit.filter((r) => r.kind === "tool_call" && r.tool?.startsWith("troubleshoot_")).length;

describe("the log file under the channel's scope", () => {
  it("uploads nothing when /deputy logs asks from a channel scoped to payments for a pod in shop", async () => {
    const files = slack.files.length;
    const sent = await slack.sendCommand({
      user: ALICE,
      text: `logs ${SEED.namespace}/db-0 -c postgres --full`,
      channel: PAYMENTS,
    });
    expect(sent.status).toBe(200);
    await bot.idle();
    expect(slack.files.length).toBe(files);
    expect(botRepliesIn(PAYMENTS).at(-1)!.text).toContain(
      `namespace "${SEED.namespace}" is outside the scope of channel ${PAYMENTS}`,
    );
    expect(harness.audit.filter((r) => r.tool === "resource:pod-log").at(-1)).toMatchObject({
      outcome: "error",
      conversation: { channel: PAYMENTS },
    });

    // The same command in the shop channel gets its file.
    await slack.sendCommand({
      user: ALICE,
      text: `logs ${SEED.namespace}/db-0 -c postgres --full`,
      channel: SHOP,
    });
    await bot.idle();
    expect(slack.files.length).toBe(files + 1);
    expect(slack.files.at(-1)).toMatchObject({
      channel: SHOP,
      filename: `${SEED.namespace}_db-0_postgres.log`,
    });
  });
});

describe("a channel without a scope", () => {
  it("is refused, audited, before any model call or tool call, once any channel is scoped", async () => {
    const modelCalls = model.requests.length;
    const toolCalls = harness.audit.length;
    const sent = await slack.mention({ user: ALICE, text: "why is checkout crashing?", channel: UNLISTED });
    await bot.idle();
    const reply = slack.thread(UNLISTED, sent.ts).find((m) => m.user === slack.botUserId)!;
    expect(reply.text).toContain(`Channel ${UNLISTED} has no entry in DEPUTY_CHANNEL_NAMESPACES`);
    expect(model.requests.length).toBe(modelCalls);
    expect(harness.audit.length).toBe(toolCalls);
    expect(
      captured.records.find((r) => r.kind === "policy_decision" && r.rule === "channel-unscoped"),
    ).toMatchObject({ actor: { id: ALICE }, conversation: { channel: UNLISTED } });
  });
});

describe("Alertmanager labels cannot steer a diagnosis outside the channel", () => {
  const TOKEN = randomBytes(32).toString("hex");
  let receiver: AlertReceiver;
  let url: string;

  beforeAll(async () => {
    receiver = await startAlertReceiver({
      services: bot.services,
      client: bot.client,
      token: TOKEN,
      // Whoever writes alert rules chooses the labels, the team label included.
      routes: parseAlertRoutes([`team=payments:${PAYMENTS}`, `team=shop:${SHOP}`], undefined),
      perMinute: 20,
      host: "127.0.0.1",
      port: 0,
    });
    url = `http://127.0.0.1:${receiver.port}${ALERTS_PATH}`;
  });
  afterAll(async () => {
    await receiver?.close();
  });

  async function fire(labels: Record<string, string>): Promise<FakeMessage[]> {
    const fingerprint = randomBytes(8).toString("hex");
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        version: "4",
        status: "firing",
        alerts: [
          {
            status: "firing",
            labels: { alertname: "KubePodCrashLooping", severity: "critical", ...labels },
            annotations: {},
            startsAt: new Date().toISOString(),
            fingerprint,
          },
        ],
      }),
    });
    expect(response.status).toBe(200);
    await bot.idle();
    const root = slack.messages.filter((m) => !m.thread_ts && m.text.includes("Firing")).at(-1)!;
    return slack.thread(root.channel, root.ts).filter((m) => m.ts !== root.ts);
  }

  it("gives a subject in a namespace outside the channel's scope a one-line notice and no diagnosis", async () => {
    const before = troubleshootCalls();
    const thread = await fire({
      team: "payments",
      namespace: SEED.namespace,
      deployment: SEED.crashLoop.deployment,
    });
    expect(thread).toHaveLength(1);
    expect(thread[0]!.text).toContain(
      `This alert is about namespace ${SEED.namespace}, outside this channel's scope`,
    );
    expect(thread[0]!.text).not.toContain("CrashLoopBackOff");
    expect(troubleshootCalls()).toBe(before);
  });

  it("does not diagnose a node from a channel whose scope lacks @cluster", async () => {
    const before = troubleshootCalls();
    const thread = await fire({ team: "payments", node: SEED.notReadyNode });
    expect(thread.map((m) => m.text)).toEqual([
      expect.stringContaining(`This alert is about node ${SEED.notReadyNode}`),
    ]);
    expect(thread[0]!.text).toContain("does not include @cluster");
    expect(troubleshootCalls()).toBe(before);
  });

  it("lets the cluster label pick only a cluster the channel serves", async () => {
    const before = troubleshootCalls();
    const thread = await fire({
      team: "shop",
      namespace: SEED.namespace,
      deployment: SEED.crashLoop.deployment,
      cluster: "someone-elses",
    });
    expect(thread.map((m) => m.text)).toEqual([
      expect.stringContaining("cluster label names a cluster this channel does not serve (someone-elses)"),
    ]);
    expect(troubleshootCalls()).toBe(before);
  });

  it("diagnoses a subject inside the channel's scope", async () => {
    const thread = await fire({
      team: "shop",
      namespace: SEED.namespace,
      deployment: SEED.crashLoop.deployment,
    });
    expect(thread.some((m) => m.text.includes("CrashLoopBackOff"))).toBe(true);
  });
});

describe("what one person's conversations may cost", () => {
  async function ask(user: string, text: string): Promise<string> {
    const sent = await slack.mention({ user, text, channel: SHOP });
    await bot.idle();
    return slack
      .thread(SHOP, sent.ts)
      .filter((m) => m.user === slack.botUserId)
      .map((m) => `${m.text} ${JSON.stringify(m.blocks ?? [])}`)
      .join("\n");
  }

  it("refuses a third turn in the hour with the time the person can ask again, audited and counted", async () => {
    model.setScript(() => ({
      content: [{ type: "text", text: "Checkout is fine now." }],
      usage: { input_tokens: 100, output_tokens: 20 },
    }));
    const calls = model.requests.length;
    expect(await ask(CAROL, "is checkout ok?")).toContain("Checkout is fine now.");
    expect(await ask(CAROL, "and now?")).toContain("Checkout is fine now.");
    const third = await ask(CAROL, "and now?");
    expect(third).toMatch(
      /You asked me 2 questions in the last hour on cluster \S+, which reaches the limit of 2 per hour; you can ask again in 60 min \(at \d\d:\d\d UTC\)/,
    );
    expect(model.requests.length).toBe(calls + 2);
    expect(
      captured.records.find((r) => r.kind === "policy_decision" && r.rule === "agent-turns-per-hour"),
    ).toMatchObject({ actor: { id: CAROL } });
    // Another person is not held to Carol's count.
    expect(await ask(ALICE, "is checkout ok?")).toContain("Checkout is fine now.");
  });

  it("refuses a turn once the hour's model tokens reach the limit", async () => {
    model.setScript(() => ({
      content: [{ type: "text", text: "A long look at everything." }],
      usage: { input_tokens: 900, output_tokens: 200 },
    }));
    expect(await ask(DAN, "look at everything")).toContain("A long look at everything.");
    const calls = model.requests.length;
    expect(await ask(DAN, "again")).toMatch(
      /Your questions in the last hour used 1,100 model tokens on cluster \S+, which reaches the limit of 1,000 per hour; you can ask again in 60 min/,
    );
    expect(model.requests.length).toBe(calls);
  });

  it("shows the admissions in /metrics", async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/deputy_agent_turn_admissions_total\{outcome="turns_limit"\} 1/);
    expect(text).toMatch(/deputy_agent_turn_admissions_total\{outcome="tokens_limit"\} 1/);
    expect(text).toMatch(/deputy_agent_turn_admissions_total\{outcome="allowed"\} 4/);
  });
});
