import type { types } from "@slack/bolt";
import { describeTarget } from "../../core/actions/action-type.ts";
import type { PendingEntry, PendingOverview } from "../handlers/pending.ts";
import { sanitizePlain } from "../sanitize.ts";
import { mentionIdentity, slackDate } from "./approval-card.ts";

type KnownBlock = types.KnownBlock;

/** The App Home's and `/deputy pending`'s view of what waits, built from a PendingOverview. */
/** Its own id: the pause alert's button has another, so one click never reaches two listeners. */
export const RESUME_WRITES_ACTION_ID = "deputy_home_resume_writes";
export const REFRESH_HOME_ACTION_ID = "deputy_refresh_home";

const LIST_CHARS = 2900;

export function age(fromIso: string, now: number): string {
  const minutes = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 60_000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.floor(hours / 24)} days ago`;
}

function entryLine(entry: PendingEntry, now: number, showRequester: boolean, cluster: boolean): string {
  const { action } = entry;
  const what = sanitizePlain(
    `${action.tool} on ${describeTarget(action.target)}${cluster ? ` in cluster ${action.cluster}` : ""}`,
  );
  // Slack links only from Slack's own permalink API, never from stored text.
  const link =
    entry.permalink && /^https:\/\/[A-Za-z0-9.-]+\/archives\//.test(entry.permalink)
      ? `<${entry.permalink}|${what}>`
      : what;
  return [
    `• ${action.risk.level === "high" ? ":warning: " : ""}${link}`,
    showRequester ? `requested by ${mentionIdentity(action.requester)}` : undefined,
    age(action.createdAt, now),
    `expires ${slackDate(action.expiresAt)}`,
    `\`${action.id.slice(0, 12)}…\``,
  ]
    .filter(Boolean)
    .join(" · ");
}

function listBlock(
  title: string,
  entries: PendingEntry[],
  now: number,
  showRequester: boolean,
  cluster = false,
): KnownBlock {
  const lines = entries.map((entry) => entryLine(entry, now, showRequester, cluster));
  let text = `*${title}* (${entries.length})`;
  let shown = 0;
  for (const line of lines) {
    if (text.length + line.length + 60 > LIST_CHARS) break;
    text += `\n${line}`;
    shown++;
  }
  if (entries.length === 0) text += "\n_Nothing._";
  else if (shown < entries.length) text += `\n…and ${entries.length - shown} more.`;
  return { type: "section", text: { type: "mrkdwn", text } };
}

export function pauseBlocks(overview: PendingOverview): KnownBlock[] {
  if (!overview.pause) {
    return [
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: ":large_green_circle: Write approvals are open." }],
      },
    ];
  }
  const since = overview.pause.since ? ` since ${slackDate(overview.pause.since)}` : "";
  const why = sanitizePlain(`${overview.pause.rule}: ${overview.pause.reason}`).slice(0, 2000);
  const section: KnownBlock = {
    type: "section",
    text: { type: "mrkdwn", text: `:octagonal_sign: New write approvals are paused${since} (${why}).` },
  };
  if (!overview.isApprover) return [section];
  return [
    section,
    {
      type: "actions",
      block_id: "deputy_pause",
      elements: [
        {
          type: "button",
          action_id: RESUME_WRITES_ACTION_ID,
          text: { type: "plain_text", text: "Resume writes", emoji: true },
          style: "danger",
          value: "resume",
          confirm: {
            title: { type: "plain_text", text: "Resume write approvals?" },
            text: {
              type: "plain_text",
              text: "Approved changes will run again. Resume only after you have looked at what paused them.",
            },
            confirm: { type: "plain_text", text: "Resume" },
            deny: { type: "plain_text", text: "Cancel" },
          },
        },
      ],
    },
  ];
}

/** The overview as blocks (fits both a message and the App Home). */
export function pendingBlocks(overview: PendingOverview): KnownBlock[] {
  const blocks: KnownBlock[] = [
    ...pauseBlocks(overview),
    { type: "context", elements: [{ type: "mrkdwn", text: sanitizePlain(overview.health) }] },
  ];
  if (overview.isApprover)
    blocks.push(
      listBlock("Waiting for you to approve", overview.forMe, overview.at, true, overview.severalClusters),
    );
  blocks.push(listBlock("You requested", overview.mine, overview.at, false, overview.severalClusters));
  if (overview.others > 0) {
    blocks.push({
      type: "context",
      elements: [
        { type: "mrkdwn", text: `${overview.others} more pending action(s) wait for other approvers.` },
      ],
    });
  }
  return blocks;
}

export function pendingText(overview: PendingOverview): string {
  const forMe = overview.isApprover ? `${overview.forMe.length} waiting for you, ` : "";
  const where = overview.cluster ? `In cluster ${overview.cluster}: ` : "";
  return `${where}${forMe}${overview.mine.length} requested by you${overview.pause ? "; writes are paused" : ""}.`;
}

/** The App Home tab; `homeChannel` (the app's DM with the viewer) is kept for its buttons. */
export function homeView(overview: PendingOverview, homeChannel?: string): types.HomeView {
  return {
    type: "home",
    ...(homeChannel ? { private_metadata: homeChannel } : {}),
    blocks: [
      { type: "header", text: { type: "plain_text", text: "Deputy on call", emoji: true } },
      ...pendingBlocks(overview),
      { type: "divider" },
      {
        type: "actions",
        block_id: "deputy_home",
        elements: [
          {
            type: "button",
            action_id: REFRESH_HOME_ACTION_ID,
            text: { type: "plain_text", text: "Refresh", emoji: true },
            value: "refresh",
          },
        ],
      },
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: `Updated ${new Date(overview.at).toISOString().slice(0, 16).replace("T", " ")} UTC`,
          },
        ],
      },
    ],
  };
}

/** The App Home of someone Deputy does not serve: the reason, and nothing else. */
export function refusedHomeView(reason: string): types.HomeView {
  return {
    type: "home",
    blocks: [
      { type: "header", text: { type: "plain_text", text: "Deputy on call", emoji: true } },
      { type: "section", text: { type: "mrkdwn", text: `:no_entry: ${reason}` } },
    ],
  };
}
