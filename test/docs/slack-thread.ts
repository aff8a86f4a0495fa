import type { FakeMessage } from "../fakes/slack.ts";

/**
 * A Slack thread as a small HTML page that looks like Slack: the messages a
 * Slack app posted, with their Block Kit blocks (header, section, fields,
 * context, actions) and mrkdwn drawn the way Slack draws them, for the
 * README's picture of a thread (test/docs/screenshots.ts).
 */

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

/** Display names of Slack user ids. */
export const PEOPLE: Record<string, string> = {};

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

/** The page for `messages`, the thread's first message first. */
export function threadPage(messages: readonly FakeMessage[], botUserId: string): string {
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
