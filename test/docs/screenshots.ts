import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ApprovalDecider } from "../../bot/deps.ts";
import { launchChromium } from "../console/chromium.ts";
import { localModeEnv, startLocalModeProcess } from "../console/local-mode-process.ts";
import { startBotOverFakes } from "../bot/helpers/over-fakes.ts";
import { startAnthropicFake, text, toolUse, type FakeStep } from "../fakes/anthropic.ts";
import type { FakeMessage } from "../fakes/slack.ts";
import { PEOPLE, threadPage } from "./slack-thread.ts";
import { seedCluster } from "../helpers/testenv.ts";

/**
 * The two pictures at the top of README.md, made from the real thing:
 * `npm run docs:screenshots` (with the test environment up).
 *
 * - docs/images/slack-approval.png: Deputy's Slack app (the real Bolt app,
 *   MCP server and agent loop, with the scripted model of the tests) is asked
 *   about the seeded crashing `checkout`; the thread it posts — its own Block
 *   Kit, as Slack received it — is laid out like a Slack thread in a small
 *   HTML page and photographed by headless Chromium.
 * - docs/images/console.png: local mode (`deputy start`) asked the same in its
 *   web console.
 *
 * Nothing is approved: both stop at the pending approval card.
 */

const REPO = resolve(import.meta.dirname, "..", "..");
const IMAGES = join(REPO, "docs", "images");
const QUESTION = "why is checkout crashing in shop?";
const REASON = "checkout's pods crash on a stale configuration; a restart picks up the fixed ConfigMap.";

function script(): FakeStep[] {
  return [
    toolUse("troubleshoot_pod", { namespace: "shop", name: "checkout" }, "Let me look at checkout."),
    toolUse("restart_deployment", { namespace: "shop", name: "checkout", reason: REASON }),
    text(
      "checkout is in CrashLoopBackOff: it exits at start-up because PAYMENT_GATEWAY_URL is not set. " +
        "Once the ConfigMap is fixed, a restart picks it up; I proposed one, and an approver must decide.",
    ),
  ];
}

// --- the two pictures --------------------------------------------------------------------

async function slackThread(): Promise<string> {
  const requester = "U0ALICE";
  const approver = "U0BOB";
  PEOPLE[requester] = "alice";
  PEOPLE[approver] = "bob";
  const nothingDecided: ApprovalDecider = {
    decide: () => Promise.reject(new Error("the screenshot approves nothing")),
  };
  const fakes = await startBotOverFakes({
    name: "screenshots",
    env: { DEPUTY_APPROVERS: approver },
    decider: nothingDecided,
  });
  try {
    fakes.model.setScript(script());
    const channel = "C0OPSSHOP";
    const { ts } = await fakes.slack.mention({ user: requester, text: QUESTION, channel });
    const replies = await fakes.slack.waitFor(
      () => {
        const messages = fakes.slack.thread(channel, ts).filter((m) => m.ts !== ts && !m.ephemeralTo);
        const card = messages.some((m) => JSON.stringify(m.blocks ?? []).includes("Approval needed"));
        const answered = messages.some((m) => m.text.includes("PAYMENT_GATEWAY_URL"));
        return card && answered ? messages : undefined;
      },
      { timeoutMs: 60_000, what: "the card and the answer in the Slack thread" },
    );
    PEOPLE[fakes.slack.botUserId] = "Deputy";
    const question: FakeMessage = {
      channel,
      ts,
      thread_ts: undefined,
      text: `<@${fakes.slack.botUserId}> ${QUESTION}`,
      blocks: undefined,
      user: requester,
      updates: 0,
    };
    return threadPage([question, ...replies], fakes.slack.botUserId);
  } finally {
    await fakes.close();
  }
}

async function main(): Promise<void> {
  mkdirSync(IMAGES, { recursive: true });
  await seedCluster();
  const browser = await launchChromium();
  const work = mkdtempSync(join(tmpdir(), "deputy-screenshots-"));
  try {
    const page = await browser.context.newPage();

    const html = join(work, "thread.html");
    writeFileSync(html, await slackThread());
    await page.setViewportSize({ width: 760, height: 600 });
    await page.goto(`file://${html}`);
    await page.locator(".pane").screenshot({ path: join(IMAGES, "slack-approval.png") });

    const model = await startAnthropicFake({ script: script() });
    const local = await startLocalModeProcess({
      command: join(REPO, "node_modules", ".bin", "node"),
      args: [join(REPO, "cli", "deputy.ts"), "start"],
      cwd: REPO,
      env: localModeEnv({
        ANTHROPIC_API_KEY: model.apiKey,
        ANTHROPIC_BASE_URL: model.url,
        DEPUTY_AUDIT_FILE: join(work, "audit.jsonl"),
        DEPUTY_LOG_FILE: join(work, "deputy.log"),
        DEPUTY_WATCH_NAMESPACES: "deputy-screenshots-none",
        LOG_LEVEL: "info",
      }),
      timeoutMs: 120_000,
    });
    try {
      await page.setViewportSize({ width: 1280, height: 860 });
      await page.goto(local.url);
      await page.waitForSelector('#conn-pill[data-state="on"]');
      await page.fill("#composer-input", QUESTION);
      await page.press("#composer-input", "Enter");
      await page.locator('.card[data-state="pending"]').waitFor({ timeout: 60_000 });
      await page
        .locator(".msg.deputy .msg-text", { hasText: "PAYMENT_GATEWAY_URL" })
        .waitFor({ timeout: 60_000 });
      await page.locator('.card[data-state="pending"]').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(IMAGES, "console.png") });
    } finally {
      await local.stop();
      await model.close();
    }
  } finally {
    await browser.close();
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(
    `wrote ${join("docs", "images", "slack-approval.png")} and ${join("docs", "images", "console.png")}\n`,
  );
}

await main();
