import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSlackApp, EVENTS_PATH, type SlackApp } from "../../bot/app.ts";
import { RESUME_WRITES_ACTION_ID, slackAlertSink } from "../../bot/unprompted.ts";
import { isWritePaused, pauseWrites } from "../../core/observability/anomaly.ts";
import { createAuditLog, type AuditRecord } from "../../core/audit/log.ts";
import { clusterKeyPrefix, DEFAULT_CLUSTER_NAME } from "../../core/config/clusters.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { startSlackFake, type SlackFake } from "../fakes/slack.ts";
import { createActionStore } from "../../core/actions/store.ts";
import { testSigner } from "../executor/support.ts";
import { startStubMcp, type StubMcp } from "./helpers/stub-mcp.ts";
import { slackFakeEnv } from "./helpers/over-fakes.ts";

/**
 * Who may ask and from where, Slack's timestamp window, and lifting the write
 * pause from Slack: the real Bolt app over HTTP, signed requests from the
 * Slack fake, real Redis. The MCP server is the stub, which records every call.
 */
const ALICE = "U0ALICE";
const BOB = "U0BOB";
const OPS = "C0OPS";
const ELSEWHERE = "C0RANDOM";

let slack: SlackFake;
let mcp: StubMcp;
let redis: Redis;
let bot: SlackApp;
const prefix = `deputy-test-trust-${randomBytes(4).toString("hex")}:`;
/** Where this bot's single cluster keeps its write pause. */
const localState = clusterKeyPrefix(prefix, DEFAULT_CLUSTER_NAME);
const audit: AuditRecord[] = [];

beforeAll(async () => {
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  slack = await startSlackFake();
  const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
  mcp = await startStubMcp({ store });
  const config = parseConfig({
    ...slackFakeEnv(slack),
    DEPUTY_APPROVERS: BOB,
    DEPUTY_ALLOWED_CHANNELS: OPS,
  });
  bot = createSlackApp({
    slack: config.slack,
    approvals: config.approvals,
    access: config.access,
    audit: createAuditLog({
      destination: new Writable({ write: (_c, _e, cb) => cb() }),
      onRecord: (r) => audit.push(r),
    }),
    redisPrefix: prefix,
    redis,
    logger: createLogger({ level: "silent" }),
    mcp: mcp.client,
    agent: undefined,
    decider: {
      decide: () => Promise.reject(new Error("no decisions in this test")),
    },
    actions: store,
    statusIntervalMs: 0,
    cardSweepMs: 0,
  });
  const { port } = await bot.start();
  slack.setTarget(`http://127.0.0.1:${port}${EVENTS_PATH}`);
});

afterAll(async () => {
  await bot?.stop();
  await mcp?.close();
  await slack?.close();
  await redis?.del(`${localState}writes:paused`);
  redis?.disconnect();
});

beforeEach(() => {
  mcp.calls.length = 0;
});

describe("Slack request time window", () => {
  it("refuses a validly signed request timestamped more than five minutes in the future, and runs nothing", async () => {
    const future = await slack.mention({
      user: ALICE,
      text: "troubleshoot shop/checkout",
      channel: OPS,
      timestamp: Math.floor(Date.now() / 1000) + 400,
    });
    expect(future.status).toBe(401);
    const near = await slack.mention({
      user: ALICE,
      text: "troubleshoot shop/checkout",
      channel: OPS,
      timestamp: Math.floor(Date.now() / 1000) + 30,
    });
    expect(near.status).toBe(200);
    await bot.idle();
    expect(mcp.calls.map((call) => call.name)).toEqual(["troubleshoot_pod"]);
  });
});

describe("who may ask, and from where", () => {
  it("answers a channel outside the allow-list with a refusal and no tool call, audited", async () => {
    const sent = await slack.mention({ user: ALICE, text: "troubleshoot shop/checkout", channel: ELSEWHERE });
    expect(sent.status).toBe(200);
    await bot.idle();
    const reply = slack.thread(ELSEWHERE, sent.ts).find((m) => m.user === slack.botUserId);
    expect(reply?.text).toBe(
      "Deputy is not enabled in this channel; ask in a channel where your team uses Deputy.",
    );
    expect(mcp.calls).toEqual([]);
    expect(audit.at(-1)).toMatchObject({
      kind: "policy_decision",
      decision: "refused",
      rule: "channel-not-allowed",
      actor: { kind: "slack", id: ALICE },
    });
  });

  it("refuses direct messages unless they are allowed", async () => {
    const ts = `${Math.floor(Date.now() / 1000)}.000100`;
    const sent = await slack.sendEvent({
      type: "message",
      channel_type: "im",
      channel: "D0ALICE",
      user: ALICE,
      text: "troubleshoot shop/checkout",
      ts,
    });
    expect(sent.status).toBe(200);
    await bot.idle();
    const reply = slack.thread("D0ALICE", ts).find((m) => m.user === slack.botUserId);
    expect(reply?.text).toMatch(/does not take requests in direct messages/);
    expect(mcp.calls).toEqual([]);
    expect(audit.at(-1)).toMatchObject({ rule: "direct-messages-off" });
  });
});

describe("lifting a write pause from Slack", () => {
  it("refuses /deputy resume-writes from a non-approver, audited, and lets an approver resume", async () => {
    await pauseWrites(redis, { rule: "delete-burst", reason: "6 deletes" }, localState, 600);
    const refused = await slack.sendCommand({ user: ALICE, text: "resume-writes", channel: OPS });
    expect(refused.status).toBe(200);
    await bot.idle();
    const answer = await slack.waitFor(() =>
      slack.responseUrlPosts.find((p) => p.id === refused.responseUrlId),
    );
    expect(String(answer.body.text)).toBe(
      `<@${ALICE}> is not an authorised approver, so cannot resume writes; nothing changed.`,
    );
    expect(await isWritePaused(redis, localState)).toBe(true);
    expect(audit.at(-1)).toMatchObject({
      kind: "anomaly",
      rule: "writes-resume-refused",
      actor: { id: ALICE },
    });

    await slack.sendCommand({ user: BOB, text: "resume-writes", channel: OPS });
    await bot.idle();
    expect(await isWritePaused(redis, localState)).toBe(false);
    expect(audit.at(-1)).toMatchObject({ kind: "anomaly", rule: "writes-resumed", approver: { id: BOB } });
    expect(slack.messages.at(-1)?.text).toMatch(
      /^Write approvals resumed by <@U0BOB> \(they were paused by delete-burst/,
    );
  });

  it("puts a Resume writes button on an alert that paused writes; only an approver's click resumes", async () => {
    await pauseWrites(redis, { rule: "delete-burst", reason: "6 deletes" }, localState, 600);
    await slackAlertSink(bot.client, OPS).postAlert({
      rule: "delete-burst",
      severity: "critical",
      text: "Anomaly: 6 executed delete or evict actions in 1 min.",
      writesPaused: true,
      at: new Date().toISOString(),
    });
    const alert = slack.messages.at(-1)!;
    expect(JSON.stringify(alert.blocks)).toContain(RESUME_WRITES_ACTION_ID);
    await slack.click({ user: ALICE, message: alert, actionId: RESUME_WRITES_ACTION_ID });
    await bot.idle();
    expect(await isWritePaused(redis, localState)).toBe(true);
    expect(slack.messages.at(-1)).toMatchObject({ ephemeralTo: ALICE });
    await slack.click({ user: BOB, message: alert, actionId: RESUME_WRITES_ACTION_ID });
    await bot.idle();
    expect(await isWritePaused(redis, localState)).toBe(false);
    expect(slack.thread(OPS, alert.ts).at(-1)?.text).toMatch(/^Write approvals resumed by <@U0BOB>/);
  });
});
