import { redactText } from "../core/untrusted/redact.ts";

export { REDACTED } from "../core/untrusted/redact.ts";

/**
 * The one sanitiser for everything Deputy posts to Slack that did not come
 * from Deputy's own code: model answers, cluster text, tool and executor
 * messages, error sentences, names. The model reads attacker-controlled text
 * (logs, annotations), so its output may try to ping a whole channel, plant a
 * phishing link or echo a secret. In order:
 * - secrets are redacted (core/untrusted/redact.ts);
 * - `&`, `<` and `>` are escaped, which disables every Slack `<…>` construct:
 *   `<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^…>`, `<@U…>`, `<#C…>`,
 *   `<url|label>`;
 * - bare `@channel`, `@here` and `@everyone` get a zero-width space;
 * - anything URL-shaped (a scheme, or a dotted host name with any TLD) is
 *   defanged (`hxxps[:]//example[.]zip`) unless the user gave that link in the
 *   conversation. Defanging works inside code spans too: Slack does not treat
 *   intraword backticks as code, so a code span is no guarantee.
 * Mentions and dates that Deputy builds itself (`<@approver>`) are added
 * around sanitised pieces, never passed through here.
 */

export interface SanitizeOptions {
  /** Text the user wrote in this conversation: links found here stay clickable. */
  userText?: readonly string[];
  /** Convert the model's Markdown to Slack mrkdwn (default true); plain text skips it. */
  markdown?: boolean;
  /**
   * The text goes inside a ``` block that Deputy builds (the approval card's
   * preview): Slack shows such a block verbatim and links nothing in it, so
   * URLs stay readable for the approver, and backtick runs are broken so the
   * text cannot end the block.
   */
  inCodeBlock?: boolean;
}

/** Replace anything shaped like a credential with a marker (the shared redactor). */
export function redactSecrets(text: string): string {
  return redactText(text);
}

/** Slack's control characters: escaping them disables every `<…>` construct. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const BROADCAST = /([@＠])(channel|here|everyone)\b/gi;

/** Dots that browsers and Slack may read as label separators. */
const DOT = "[.．。｡]";
const SCHEME_URL = String.raw`[a-z][a-z0-9+.-]{0,30}:\/\/[^\s\x60"'()\[\]{}|]*`;
const SCHEMES = "mailto|tel|sms|slack|javascript|vbscript|data|file|news|xmpp|callto|skype|facetime";
const SCHEME_ONLY = String.raw`\b(?:${SCHEMES}):[^\s\x60"'()\[\]{}|]*`;
const LABEL = String.raw`[\p{L}\p{N}_-]+`;
const HOST = String.raw`(?<![\p{L}\p{N}_-])(?:${LABEL}${DOT}){1,10}\p{L}[\p{L}\p{N}-]*[\p{L}\p{N}](?:[:/][^\s\x60"'()\[\]{}|]*)?`;

/** URL-shaped text: a scheme URL, a scheme-only link, or a dotted host name with any TLD. */
export const URL_SHAPED = new RegExp(`${SCHEME_URL}|${SCHEME_ONLY}|${HOST}`, "giu");

function normaliseUrl(url: string): string {
  return url
    .replace(/&amp;/g, "&")
    .toLowerCase()
    .replace(/^[a-z]+:(\/\/)?/, "")
    .replace(/^www\./, "")
    .replace(/[/.,;:!?]+$/, "");
}

const SCHEME_COLON = new RegExp(String.raw`([a-z0-9+.-]):(?=\/\/)|\b(${SCHEMES}):`, "gi");

/** `https://evil.zip/x` → `hxxps[:]//evil[.]zip/x`: readable, never a link (nested schemes included). */
function defang(url: string): string {
  return url
    .replace(/^http/i, (h) => (h === "http" ? "hxxp" : "HXXP"))
    .replace(SCHEME_COLON, (_m, before: string | undefined, scheme: string | undefined) =>
      before !== undefined ? `${before}[:]` : `${scheme}[:]`,
    )
    .replace(new RegExp(DOT, "g"), "[.]");
}

function userLinks(userText: readonly string[]): Set<string> {
  const allowed = new Set<string>();
  for (const source of userText) {
    // Slack delivers user links as <url> or <url|label>; take both forms and bare ones.
    // Neither part crosses a `<`: each candidate is scanned up to the next one, never to the end.
    for (const match of source.matchAll(/<((?:https?|mailto):[^|<>\s]+)(?:\|[^<>]*)?>/g)) {
      allowed.add(normaliseUrl(match[1]!));
    }
    for (const match of source.matchAll(URL_SHAPED)) allowed.add(normaliseUrl(match[0]));
  }
  return allowed;
}

/**
 * Make model or cluster text safe to post (see the module comment). Every
 * posting path uses this, or sanitizePlain, which is this without Markdown.
 */
export function sanitizeForSlack(text: string, options: SanitizeOptions = {}): string {
  const allowed = userLinks(options.userText ?? []);
  let out = escapeMrkdwn(redactText(text));
  out = out.replace(BROADCAST, (_m, at: string, word: string) => `${at}\u200b${word}`);
  if (options.inCodeBlock) return out.replace(/`{3,}/g, (run) => "'".repeat(run.length));
  out = out.replace(URL_SHAPED, (url) => {
    const trimmed = url.replace(/[.,;:!?]+$/, "");
    return allowed.has(normaliseUrl(trimmed)) ? url : defang(url);
  });
  return options.markdown === false ? out : markdownToMrkdwn(out);
}

/** For names, error sentences, fallback texts: the same sanitiser, no Markdown. */
export function sanitizePlain(text: string): string {
  return sanitizeForSlack(text, { markdown: false });
}

/** For a line Deputy places inside a ``` block it builds: the same sanitiser, links left readable. */
export function sanitizeInCodeBlock(text: string): string {
  return sanitizeForSlack(text, { markdown: false, inCodeBlock: true });
}

/**
 * For an approval view's line inside a ``` block: escaped so it can neither
 * ping nor link nor close the block, and otherwise shown exactly. Never
 * redacted: what an approver approves must be what runs, so a value that
 * looks like a credential is refused at proposal (core/actions/effect.ts)
 * instead of being hidden here.
 */
export function escapeApprovalLine(text: string): string {
  return escapeMrkdwn(text)
    .replace(BROADCAST, (_m, at: string, word: string) => `${at}\u200b${word}`)
    .replace(/`{3,}/g, (run) => "'".repeat(run.length));
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
      // [ \t], not \s: a \s* after ^ runs over every following newline from every line
      // start, which is quadratic in a run of blank lines (test/bot/sanitize-properties.test.ts).
      .replace(/^#{1,6}[ \t]+(.+)$/gm, "*$1*")
      .replace(/\*\*([^*\n]+)\*\*/g, "*$1*")
      .replace(/__([^_\n]+)__/g, "*$1*")
      .replace(/^([ \t]*)[-*][ \t]+/gm, "$1• "),
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
