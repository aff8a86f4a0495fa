import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ApprovalDecider } from "../../bot/deps.ts";
import { launchChromium } from "../console/chromium.ts";
import { localModeEnv, startLocalModeProcess } from "../console/local-mode-process.ts";
import { startBotOverFakes } from "../bot/helpers/over-fakes.ts";
import { startAnthropicFake, text, toolUse, type FakeStep } from "../fakes/anthropic.ts";
import type { FakeMessage } from "../fakes/slack.ts";
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
      "*checkout* is in CrashLoopBackOff: it exits at start-up because `PAYMENT_GATEWAY_URL` is not set. " +
        "Once the ConfigMap is fixed, a restart picks it up; I proposed one above, and an approver must decide.",
    ),
  ];
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

// --- Slack's look, for Block Kit and mrkdwn ------------------------------------------------

const EMOJI: Record<string, string> = {
  hourglass: "⏳",
  hourglass_flowing_sand: "⏳",
  mag: "🔍",
  warning: "⚠️",
  scissors: "✂️",
  no_entry: "⛔",
  white_check_mark: "✅",
  x: "❌",
  rotating_light: "🚨",
  zap: "⚡",
};

const PEOPLE: Record<string, string> = {};

/** Slack mrkdwn (already &-escaped by its sender) as HTML. */
function mrkdwn(source: string): string {
  const blocks: string[] = [];
  let html = source.replace(/```([\s\S]*?)```/g, (_, code: string) => {
    blocks.push(`<pre>${code.replace(/^\n/, "")}</pre>`);
    return `@@pre${blocks.length - 1}@@`;
  });
  html = html
    .replace(
      /<@([A-Z0-9]+)(?:\|[^>]*)?>/g,
      (_, id: string) => `<span class="mention">@${PEOPLE[id] ?? id}</span>`,
    )
    .replace(
      /<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>/g,
      (_, name?: string) => `<span class="mention">${name ?? "@on-call"}</span>`,
    )
    .replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, "$1")
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, '<a href="$1">$2</a>')
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/(^|[\s(])\*([^*\n]+)\*/g, "$1<b>$2</b>")
    .replace(/(^|[\s(])_([^_\n]+)_/g, "$1<i>$2</i>")
    .replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole)
    .replace(/\n/g, "<br>");
  return html.replace(/@@pre(\d+)@@/g, (_, index: string) => blocks[Number(index)]!);
}

interface Block {
  type: string;
  text?: { type: string; text: string };
  fields?: { text: string }[];
  elements?: { type: string; text?: string | { text: string }; style?: string }[];
}

function blockHtml(block: Block): string {
  const textOf = (t: { type: string; text: string } | undefined): string =>
    t ? (t.type === "plain_text" ? t.text : mrkdwn(t.text)) : "";
  switch (block.type) {
    case "header":
      return `<div class="header">${textOf(block.text)}</div>`;
    case "section":
      return block.fields
        ? `<div class="fields">${block.fields.map((f) => `<div>${mrkdwn(f.text)}</div>`).join("")}</div>`
        : `<div class="section">${textOf(block.text)}</div>`;
    case "context":
      return `<div class="context">${(block.elements ?? [])
        .map((e) => (typeof e.text === "string" ? mrkdwn(e.text) : ""))
        .join(" ")}</div>`;
    case "actions":
      return `<div class="actions">${(block.elements ?? [])
        .map(
          (e) =>
            `<span class="button ${e.style ?? ""}">${typeof e.text === "object" ? e.text.text : ""}</span>`,
        )
        .join("")}</div>`;
    case "divider":
      return "<hr>";
    default:
      return "";
  }
}

function threadPage(messages: readonly FakeMessage[], botUserId: string): string {
  const rows = messages.map((message, index) => {
    const bot = message.user === botUserId;
    const name = bot ? "Deputy" : (PEOPLE[message.user] ?? message.user);
    const time = `10:${String(14 + index).padStart(2, "0")} AM`;
    const body = message.blocks?.length
      ? (message.blocks as Block[]).map(blockHtml).join("")
      : `<div class="section">${mrkdwn(message.text)}</div>`;
    return `<div class="msg"><div class="avatar ${bot ? "bot" : ""}">${name[0]}</div><div class="content">
      <div class="who"><b>${name}</b>${bot ? '<span class="app">APP</span>' : ""}<span class="time">${time}</span></div>${body}</div></div>`;
  });
  return `<!doctype html><meta charset="utf-8"><style>
  body{margin:0;font:15px/1.46668 -apple-system,"Segoe UI","Helvetica Neue",Helvetica,Arial,sans-serif;color:#1d1c1d;background:#fff}
  .pane{width:760px;border-left:1px solid #ddd}
  .top{padding:14px 20px;border-bottom:1px solid #ddd;font-weight:900;font-size:18px}
  .top span{font-weight:400;color:#616061;font-size:13px;margin-left:8px}
  .msg{display:flex;padding:8px 20px}
  .avatar{flex:none;width:36px;height:36px;border-radius:6px;background:#4a8ad8;color:#fff;font-weight:700;display:flex;align-items:center;justify-content:center;margin-right:10px}
  .avatar.bot{background:#2b5f4a}
  .content{min-width:0;flex:1}
  .who b{font-weight:900}.app{font-size:10px;background:#e8e8e8;color:#616061;border-radius:3px;padding:1px 3px;margin-left:6px;vertical-align:2px}
  .time{color:#616061;font-size:12px;margin-left:8px}
  .header{font-weight:900;font-size:18px;margin:4px 0}
  .section,.fields{margin:4px 0}.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}
  .context{color:#616061;font-size:12px;margin:4px 0}
  code{font:12px Monaco,Menlo,Consolas,monospace;color:#e01e5a;background:#f6f6f6;border:1px solid #e0e0e0;border-radius:3px;padding:1px 3px}
  pre{font:12px/1.5 Monaco,Menlo,Consolas,monospace;background:#f8f8f8;border:1px solid #e0e0e0;border-radius:4px;padding:8px;margin:4px 0;white-space:pre-wrap;word-break:break-word}
  .mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
  .actions{margin:8px 0}.button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:4px 12px;margin-right:8px;font-weight:700;font-size:13px}
  .button.primary{background:#007a5a;border-color:#007a5a;color:#fff}.button.danger{color:#e01e5a;border-color:#e01e5a}
  </style><div class="pane"><div class="top">Thread<span>#ops-shop</span></div>${rows.join("")}</div>`;
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
    const replies = await until("the card and the answer in the Slack thread", () => {
      const messages = fakes.slack.thread(channel, ts).filter((m) => m.ts !== ts && !m.ephemeralTo);
      const card = messages.some((m) => JSON.stringify(m.blocks ?? []).includes("Approval needed"));
      const answered = messages.some((m) => m.text.includes("PAYMENT_GATEWAY_URL"));
      return card && answered ? messages : undefined;
    });
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
