import { redactText } from "../core/redact.ts";

/**
 * Everything Deputy posts to Slack that came from the model or the cluster goes
 * through here. The model reads attacker-controlled text (logs, annotations),
 * so its output may try to ping a whole channel, plant a phishing link or echo
 * a secret. Slack renders `<!here>`, `<!subteam^…>`, `<url|label>` and bare
 * URLs specially; we neutralise all of them except links the user gave us.
 */

export interface SanitizeOptions {
  /** Text the user wrote in this conversation: links found here stay clickable. */
  userText?: readonly string[];
}

// Secret shapes redacted after core/redact.ts (the MCP server's own fence): a second fence.
const SECRET_PATTERNS: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g,
  /\bxapp-[A-Za-z0-9-]{10,}/g,
  /\bsk-ant-[A-Za-z0-9_-]{10,}/g,
  /\bhv[sbr]\.[A-Za-z0-9_-]{20,}/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
];
const SECRET_ASSIGNMENT =
  /\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|authorization)["']?\s*[:=]\s*["']?)(?:Bearer\s+)?([^\s"'`,;]{4,})/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/-]{8,}=*/g;

export const REDACTED = "[redacted]";

/** Replace anything shaped like a credential with a marker. */
export function redactSecrets(text: string): string {
  let out = redactText(text);
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
  out = out.replace(BEARER, `$1${REDACTED}`);
  out = out.replace(SECRET_ASSIGNMENT, (_match, prefix: string, value: string) =>
    value === REDACTED ? `${prefix}${value}` : `${prefix}${REDACTED}`,
  );
  return out;
}

/** Slack's control characters: escaping them disables every `<…>` construct. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const BROADCAST = /([@＠])(channel|here|everyone)\b/gi;
// A scheme URL, or a bare host with a public-looking TLD that Slack would autolink.
const URL_PATTERN =
  /\b(?:(?:https?|ftp|mailto|slack|file):(?:\/\/)?[^\s<>`"')\]]+|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|co|ai|dev|app|xyz|info|biz|me|ru|cn|tk|top|site|online|link|click|sh|ly|gg|us|uk|de)\b(?:\/[^\s<>`"')\]]*)?)/gi;

function normaliseUrl(url: string): string {
  return url
    .toLowerCase()
    .replace(/^[a-z]+:(\/\/)?/, "")
    .replace(/^www\./, "")
    .replace(/[/.,;:!?]+$/, "");
}

/** For text shown inside code blocks or from the cluster: no markup, no pings, no secrets. */
export function sanitizePlain(text: string): string {
  return escapeMrkdwn(redactSecrets(text)).replace(
    BROADCAST,
    (_m, at: string, word: string) => `${at}\u200b${word}`,
  );
}

/**
 * Make model or cluster text safe to post: secrets redacted, Slack markup
 * escaped, broadcast mentions defused, and links the user did not supply
 * turned into inert code spans (Slack does not autolink inside code).
 */
export function sanitizeForSlack(text: string, options: SanitizeOptions = {}): string {
  const allowed = new Set<string>();
  for (const source of options.userText ?? []) {
    // Slack delivers user links as <url> or <url|label>; take both forms.
    for (const match of source.matchAll(/<((?:https?|mailto):[^|>\s]+)(?:\|[^>]*)?>/g)) {
      allowed.add(normaliseUrl(match[1]!));
    }
    for (const match of source.matchAll(URL_PATTERN)) allowed.add(normaliseUrl(match[0]));
  }

  let out = redactSecrets(text);
  out = escapeMrkdwn(out);
  out = out.replace(BROADCAST, (_m, at: string, word: string) => `${at}\u200b${word}`);
  out = replaceOutsideCode(out, (segment) =>
    segment.replace(URL_PATTERN, (url) => {
      const trimmed = url.replace(/[.,;:!?]+$/, "");
      const tail = url.slice(trimmed.length);
      if (allowed.has(normaliseUrl(trimmed))) return url;
      return `\`${trimmed.replace(/`/g, "")}\`${tail}`;
    }),
  );
  return markdownToMrkdwn(out);
}

/** Apply `transform` to the parts of `text` that are not in code spans or fences. */
function replaceOutsideCode(text: string, transform: (segment: string) => string): string {
  const parts = text.split(/(```[\s\S]*?```|`[^`\n]*`)/g);
  return parts.map((part, index) => (index % 2 === 1 ? part : transform(part))).join("");
}

/** Claude writes Markdown; Slack speaks mrkdwn. Convert the common constructs. */
export function markdownToMrkdwn(text: string): string {
  return replaceOutsideCode(text, (segment) =>
    segment
      .replace(/^#{1,6}\s+(.+)$/gm, "*$1*")
      .replace(/\*\*([^*\n]+)\*\*/g, "*$1*")
      .replace(/__([^_\n]+)__/g, "*$1*")
      .replace(/^(\s*)[-*]\s+/gm, "$1• "),
  );
}

/** Slack section text is limited to 3000 characters; split on line breaks. */
export function splitForSlack(text: string, limit = 2900): string[] {
  if (text.length <= limit) return [text];
  const chunks: string[] = [];
  let current = "";
  for (const line of text.split("\n")) {
    let rest = line;
    while (rest.length > limit) {
      if (current) {
        chunks.push(current);
        current = "";
      }
      chunks.push(rest.slice(0, limit));
      rest = rest.slice(limit);
    }
    if (current.length + rest.length + 1 > limit) {
      chunks.push(current);
      current = rest;
    } else {
      current = current ? `${current}\n${rest}` : rest;
    }
  }
  if (current) chunks.push(current);
  return chunks;
}
