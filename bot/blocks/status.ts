import type { types } from "@slack/bolt";
import { sanitizePlain } from "../sanitize.ts";

type KnownBlock = types.KnownBlock;

export interface StatusStep {
  /** Tool name, e.g. troubleshoot_pod. */
  tool: string;
  /** What it runs on, e.g. shop/checkout. */
  target: string | undefined;
  state: "running" | "done" | "error" | "pending_approval";
}

const ICONS: Record<StatusStep["state"], string> = {
  running: ":hourglass_flowing_sand:",
  done: ":white_check_mark:",
  error: ":warning:",
  pending_approval: ":raised_hand:",
};

/** The progress message shown while a turn runs; replaced by the answer. */
export function statusBlocks(
  headline: string,
  steps: readonly StatusStep[],
  /** A passing condition, e.g. the model service being retried. */
  note?: string,
): KnownBlock[] {
  const recent = steps.slice(-8);
  const lines = recent.map(
    (step) =>
      `${ICONS[step.state]} \`${sanitizePlain(step.tool)}\`${step.target ? ` on ${sanitizePlain(step.target)}` : ""}`,
  );
  if (steps.length > recent.length) lines.unshift(`… ${steps.length - recent.length} earlier steps`);
  return [
    { type: "context", elements: [{ type: "mrkdwn", text: `:mag: ${sanitizePlain(headline)}` }] },
    ...(lines.length > 0
      ? [{ type: "section" as const, text: { type: "mrkdwn" as const, text: lines.join("\n") } }]
      : []),
    ...(note
      ? [
          {
            type: "context" as const,
            elements: [{ type: "mrkdwn" as const, text: `:hourglass: ${sanitizePlain(note)}` }],
          },
        ]
      : []),
  ];
}

/** The fallback text (notifications, screen readers): sanitised like the blocks, since Slack acts on it too. */
export function statusText(headline: string, steps: readonly StatusStep[], note?: string): string {
  if (note) return sanitizePlain(`${headline} (${note})`);
  const last = steps.at(-1);
  return sanitizePlain(
    last ? `${headline} (${last.tool}${last.target ? ` on ${last.target}` : ""})` : headline,
  );
}
