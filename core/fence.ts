/**
 * Fencing of cluster-sourced text (logs, events, annotations, messages) as
 * untrusted data. Attackers control that text; the agent loop and the system
 * prompt treat whatever sits between the fence tags as data, never as
 * instructions. A fence is only worth something if the data cannot close it,
 * so every tag look-alike inside is neutralised before wrapping.
 */

export const FENCE_TAG = "untrusted-data";
export const FENCE_CLOSE = `</${FENCE_TAG}>`;

/**
 * Matches anything a model might read as our tag: `<untrusted-data`,
 * `</ untrusted_data`, `&lt;/untrusted-data`, full-width or other angle
 * look-alikes, with any spacing or case.
 */
const TAG_LOOKALIKE =
  /(<|＜|﹤|‹|〈|⟨|&lt;|&#0*60;|&#x0*3c;|\\u003c|\\x3c)(\s*\/?\s*)(untrusted[\s_\-‐‑–—.]*data)/gi;

/** Make text safe to place inside a fence: no tag look-alike survives. */
export function neutraliseFenceTags(text: string): string {
  return text.replace(TAG_LOOKALIKE, (_match, _open: string, slash: string, name: string) => {
    const closing = slash.includes("/") ? "/" : "";
    return `[${closing}${name.replace(/\s+/g, "")} (neutralised)]`;
  });
}

/** Attribute values carry only characters that cannot break out of the quotes. */
function safeAttribute(value: string): string {
  return value.replace(/[^A-Za-z0-9 ._:/@=,+-]/g, "_").slice(0, 200);
}

/**
 * Wrap cluster-sourced text, e.g.
 * `<untrusted-data source="pod-log shop/checkout-7d9f/app">…</untrusted-data>`.
 */
export function fenceUntrusted(source: string, text: string): string {
  const body = neutraliseFenceTags(text);
  const newline = body.endsWith("\n") ? "" : "\n";
  return `<${FENCE_TAG} source="${safeAttribute(source)}">\n${body}${newline}${FENCE_CLOSE}`;
}

export interface FencedBlock {
  source: string;
  text: string;
}

const FENCE_BLOCK = new RegExp(`<${FENCE_TAG} source="([^"]*)">\\n([\\s\\S]*?)\\n?${FENCE_CLOSE}`, "g");

/** The fenced blocks of a text, in order (for the agent loop and tests). */
export function extractFenced(text: string): FencedBlock[] {
  return [...text.matchAll(FENCE_BLOCK)].map((m) => ({ source: m[1] ?? "", text: m[2] ?? "" }));
}

/** The text with every fenced block removed: what Deputy itself said. */
export function outsideFences(text: string): string {
  return text.replace(FENCE_BLOCK, "");
}
