import { FENCE_TAG, fenceCloseTag, fenceUntrusted, newFenceNonce } from "./fence.ts";
import { redactText } from "./redact.ts";

/**
 * Output budgets. A tool result must fit in a model's context next to
 * everything else, so each result is held to a token budget (estimated at
 * about four characters per token) and whatever is cut is said, not hidden.
 */
export const CHARS_PER_TOKEN = 4;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

export function tokensToChars(tokens: number): number {
  return Math.max(0, Math.floor(tokens * CHARS_PER_TOKEN));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export interface Truncation {
  text: string;
  truncated: boolean;
  cutLines: number;
  cutChars: number;
}

/**
 * Cut text to at most maxChars (the note included), on line boundaries,
 * keeping the head or the tail, and say what was cut.
 */
export function truncateText(text: string, maxChars: number, keep: "head" | "tail" = "head"): Truncation {
  if (text.length <= maxChars) return { text, truncated: false, cutLines: 0, cutChars: 0 };
  const lines = text.split("\n");
  const noteFor = (cutLines: number, cutChars: number): string =>
    keep === "tail"
      ? `[… ${cutLines.toLocaleString("en-US")} earlier lines (${formatBytes(cutChars)}) cut to fit the output budget]`
      : `[… ${cutLines.toLocaleString("en-US")} more lines (${formatBytes(cutChars)}) cut to fit the output budget]`;
  const reserve = noteFor(lines.length, text.length).length + 1;
  const room = Math.max(0, maxChars - reserve);
  const kept: string[] = [];
  let used = 0;
  const ordered = keep === "tail" ? [...lines].reverse() : lines;
  for (const line of ordered) {
    const cost = line.length + 1;
    if (used + cost > room) {
      // A single huge line still yields something useful rather than nothing.
      if (kept.length === 0 && room > 40) {
        const slice = keep === "tail" ? line.slice(line.length - (room - 2)) : line.slice(0, room - 2);
        kept.push(keep === "tail" ? `…${slice}` : `${slice}…`);
        used += room;
      }
      break;
    }
    kept.push(line);
    used += cost;
  }
  const keptLines = keep === "tail" ? kept.reverse() : kept;
  const keptChars = keptLines.reduce((sum, line) => sum + line.length + 1, 0);
  const cutLines = lines.length - keptLines.length;
  const cutChars = Math.max(0, text.length - keptChars);
  const note = noteFor(cutLines, cutChars);
  const body = keptLines.join("\n");
  const out = keep === "tail" ? `${note}\n${body}` : `${body}\n${note}`;
  return { text: out, truncated: true, cutLines, cutChars };
}

/** A piece of a tool result: Deputy's own words, or cluster-sourced data to fence. */
export type OutputBlock =
  { kind: "text"; text: string } | { kind: "data"; source: string; text: string; keep?: "head" | "tail" };

export interface RenderedOutput {
  text: string;
  truncated: boolean;
  tokens: number;
}

// Tags, nonce twice, quotes and newlines around each fenced block.
const FENCE_OVERHEAD = 90;

/**
 * Assemble blocks into one text within maxTokens: every block is redacted,
 * data blocks are fenced, and when the whole does not fit, data blocks share
 * what is left (small ones whole, large ones cut evenly) with a note.
 */
export function renderWithinBudget(blocks: readonly OutputBlock[], maxTokens: number): RenderedOutput {
  const maxChars = tokensToChars(maxTokens);
  const redacted = blocks.map((block) => ({ ...block, text: redactText(block.text) }));
  const textChars = redacted.filter((b) => b.kind === "text").reduce((sum, b) => sum + b.text.length + 1, 0);
  const data = redacted.filter((b) => b.kind === "data");
  const dataChars = data.reduce((sum, b) => sum + b.text.length + b.source.length + FENCE_OVERHEAD, 0);
  let truncated = false;

  // Deputy's own text may take at most half the budget when data is present.
  const textRoom = data.length > 0 ? Math.floor(maxChars / 2) : maxChars;
  const textShare = textChars > textRoom ? textRoom / Math.max(1, textChars) : 1;
  const dataRoom = Math.max(0, maxChars - Math.min(textChars, textRoom));
  const allowance = new Map<number, number>();
  if (dataChars > dataRoom) {
    // Water-filling: blocks smaller than an even share keep everything.
    const sizes = data.map((b, i) => ({ i, size: b.text.length })).sort((a, b) => a.size - b.size);
    let room = dataRoom - data.reduce((sum, b) => sum + b.source.length + FENCE_OVERHEAD, 0);
    let left = sizes.length;
    for (const { i, size } of sizes) {
      const share = Math.max(0, Math.floor(room / left));
      const take = Math.min(size, share);
      allowance.set(i, take);
      room -= take;
      left -= 1;
    }
  }

  // One nonce per tool result: its blocks share it, the next result gets another.
  const nonce = newFenceNonce();
  const close = fenceCloseTag(FENCE_TAG, nonce);
  const parts: string[] = [];
  let dataIndex = 0;
  for (const block of redacted) {
    if (block.kind === "text") {
      if (textShare < 1) {
        const cut = truncateText(block.text, Math.floor((block.text.length + 1) * textShare), "head");
        truncated ||= cut.truncated;
        parts.push(cut.text);
      } else {
        parts.push(block.text);
      }
      continue;
    }
    const limit = allowance.get(dataIndex++);
    let body = block.text;
    if (limit !== undefined && limit < body.length) {
      const cut = truncateText(body, limit, block.keep ?? "head");
      truncated ||= cut.truncated;
      body = cut.text;
    }
    parts.push(fenceUntrusted(block.source, body, nonce));
  }
  let text = parts.join("\n");
  if (text.length > maxChars) {
    // Rounding or pathological input: a final hard cut keeps the promise.
    const cut = truncateText(text, maxChars - close.length - 1, "head");
    const opens = cut.text.split(`<${FENCE_TAG}-${nonce} `).length - 1;
    const closes = cut.text.split(close).length - 1;
    text = opens > closes ? `${cut.text}\n${close}` : cut.text;
    truncated = true;
  }
  return { text, truncated, tokens: estimateTokens(text) };
}
