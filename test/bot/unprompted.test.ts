import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBot, type BotRuntime } from "../../bot/wiring.ts";
import { createAuditLog, type AuditObserver } from "../../core/audit/log.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createMetrics } from "../../core/observability/metrics.ts";
import { EVENTS_PATH } from "../../bot/app.ts";
import { freshNamespace, loadTestEnv, seedCluster } from "../helpers/testenv.ts";
import { TEST_ACTION_KEY } from "../executor/support.ts";
import { startSlackFake, type SlackFake } from "../fakes/slack.ts";
import { slackFakeEnv } from "./helpers/over-fakes.ts";

/**
 * The running bot (bot/wiring.ts, as `deputy bot` builds it) posts what nobody
 * asked for: an anomaly alert into SLACK_ALERT_CHANNEL and the proactive
 * triage of the seeded cluster into SLACK_TRIAGE_CHANNEL, against the real
 * API server and Redis.
 */
const ALERTS = "C0ALERTS";
const TRIAGE = "C0TRIAGE";

let slack: SlackFake;
let bot: BotRuntime;
let redis: Redis;
let observe: AuditObserver = () => {};
const metrics = createMetrics({ labels: { component: "test" } });
const audit = createAuditLog({ onRecord: (record) => observe(record) });

function postsTo(channel: string): string[] {
  return slack.calls
    .filter((call) => call.method === "chat.postMessage" && call.args.channel === channel)
    .map((call) => String(call.args.text));
}

async function eventually<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  await seedCluster();
  const env = loadTestEnv();
  redis = new Redis(env.redisUrl);
  slack = await startSlackFake();
  const leaseNamespace = await freshNamespace("deputy-lease");
  const config = parseConfig({
    KUBECONFIG: env.kubeconfig,
    REDIS_URL: env.redisUrl,
    DEPUTY_REDIS_PREFIX: `deputy-test:${randomBytes(6).toString("hex")}:`,
    ...slackFakeEnv(slack),
    SLACK_ALERT_CHANNEL: ALERTS,
    SLACK_TRIAGE_CHANNEL: TRIAGE,
    DEPUTY_ANOMALY_DENIALS_PER_MINUTE: "2",
    DEPUTY_WATCH_NAMESPACES: "shop",
    DEPUTY_WATCH_LEASE_NAMESPACE: leaseNamespace,
    DEPUTY_APPROVERS: "U0BOB",
  });
  bot = await startBot(config, {
    logger: createLogger({ level: "silent" }),
    audit,
    redis,
    metrics,
    keys: { action: TEST_ACTION_KEY },
    attachAuditObserver: (observer) => {
      observe = observer;
    },
  });
  slack.setTarget(`http://127.0.0.1:${bot.port}${EVENTS_PATH}`);
}, 120_000);

afterAll(async () => {
  await bot?.close();
  await slack?.close();
  redis?.disconnect();
});

describe("unprompted messages from the running bot", () => {
  it("posts an anomaly alert into the alert channel above the threshold, and not at it", async () => {
    const denial = () =>
      audit.record({
        kind: "policy_decision",
        tool: "delete_pod",
        decision: "deny",
        rule: "argocd-managed",
        arguments: { namespace: "shop", name: "catalog" },
      });
    denial();
    denial();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(postsTo(ALERTS), postsTo(ALERTS).join("\n")).toEqual([]);
    denial();
    const alert = await eventually("the alert", () => postsTo(ALERTS)[0]);
    expect(alert).toContain("(rule denial-burst)");
    expect(alert).toMatch(/3 policy denials/);
  });

  it("posts the proactive triage of the seeded cluster into the triage channel, and nothing for healthy frontend", async () => {
    const checkout = await eventually("the checkout triage", () =>
      postsTo(TRIAGE).find((text) => text.includes("checkout")),
    );
    expect(checkout).toMatch(/CrashLoopBackOff/);
    expect(postsTo(TRIAGE).some((text) => text.includes("frontend"))).toBe(false);
    expect(postsTo(TRIAGE).join("\n")).not.toMatch(/<!channel>|<!here>|@channel|@here/);
  });

  it("observes how fast each Slack request is acknowledged, by kind", async () => {
    const mention = await slack.mention({ user: "U0ALICE", text: "hello", channel: "C0OPS" });
    expect(mention.status).toBe(200);
    const command = await slack.sendCommand({ user: "U0ALICE", text: "help", channel: "C0OPS" });
    expect(command.status).toBe(200);
    const body = await metrics.registry.metrics();
    expect(body).toMatch(/deputy_slack_ack_seconds_count\{[^}]*kind="event"[^}]*\} [1-9]/);
    expect(body).toMatch(/deputy_slack_ack_seconds_count\{[^}]*kind="command"[^}]*\} 1/);
    // The one command lands in the buckets from its own duration up, however long a loaded
    // machine took to acknowledge it (the speed itself is the benchmark's to measure).
    const seconds = Number(/deputy_slack_ack_seconds_sum\{[^}]*kind="command"[^}]*\} (\S+)/.exec(body)?.[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(body).toMatch(
      new RegExp(
        `deputy_slack_ack_seconds_bucket\\{le="0\\.1",[^}]*kind="command"[^}]*\\} ${seconds <= 0.1 ? 1 : 0}\n`,
      ),
    );
    expect(body).toMatch(/deputy_slack_ack_seconds_bucket\{le="\+Inf",[^}]*kind="command"[^}]*\} 1/);
  });
});
