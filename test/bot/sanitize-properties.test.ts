import fc from "fast-check";
import { growthOnFourfoldInput } from "../helpers/growth.ts";
import { describe, expect, it } from "vitest";
import { sanitizeForSlack, sanitizeInCodeBlock, sanitizePlain } from "../../bot/sanitize.ts";

/**
 * What Slack would make active in posted text: any `<…>` construct (mentions,
 * broadcasts, user groups, channels, links), a bare broadcast word, and
 * anything it might autolink (a scheme, or a dotted host name with any TLD).
 */
function activeParts(text: string): string[] {
  const found: string[] = [];
  if (text.includes("<")) found.push(text.slice(text.indexOf("<"), text.indexOf("<") + 20));
  for (const m of text.matchAll(/[@＠](?:here|channel|everyone)\b/giu)) found.push(m[0]);
  for (const m of text.matchAll(/[a-z][a-z0-9+.-]*:\/\//giu)) found.push(m[0]);
  for (const m of text.matchAll(/\b(?:mailto|tel|sms|slack|javascript|data|file):[^\s[]/giu))
    found.push(m[0]);
  for (const m of text.matchAll(/(?:[\p{L}\p{N}_-]+[.．。｡])+\p{L}[\p{L}\p{N}-]*[\p{L}\p{N}]/gu))
    found.push(m[0]);
  return found;
}

const fragment = fc.oneof(
  fc.constantFrom(
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0123|@oncall>",
    "<@U0EVIL>",
    "<@W0EVIL|admin>",
    "<#C0123|general>",
    "<https://evil.zip|click here>",
    "<mailto:a@evil.zip>",
    "<",
    ">",
    "|",
    "!",
    "^",
    "&",
    "&lt;",
    "&gt;",
    "&amp;",
    "@",
    "＠",
    "here",
    "channel",
    "everyone",
    "https://",
    "http://",
    "hxxp://",
    "ftp://",
    "mailto:",
    "javascript:",
    "www",
    "evil",
    "login",
    ".",
    "．",
    "。",
    "zip",
    "cloud",
    "support",
    "com",
    "/path?a=1&b=2",
    "`",
    "```",
    "*",
    "**",
    "_",
    "~",
    "#",
    "- ",
    " ",
    "\n",
    "\u200b",
  ),
  fc.string({ unit: "grapheme", maxLength: 6 }),
);
const hostile = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(""));

describe("Slack output of generated hostile text", () => {
  it("has no active mention, broadcast or link (answers, with Markdown)", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        expect(activeParts(sanitizeForSlack(text))).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it("has no active mention, broadcast or link (plain text: names, errors, cards)", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        expect(activeParts(sanitizePlain(text))).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it("cannot end the code block Deputy puts it in, nor mention anyone from there (card previews)", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const line = sanitizeInCodeBlock(text);
        expect(line).not.toContain("<");
        expect(line).not.toContain("```");
        expect(line).not.toMatch(/[@＠](?:here|channel|everyone)\b/iu);
      }),
      { numRuns: 2000 },
    );
  });

  // Linear time, argued and checked. Every pattern in bot/sanitize.ts is either a bounded
  // prefix followed by a greedy run that always succeeds (schemes, broadcasts, emphasis),
  // or, for host names, starts only where a label starts (the lookbehind) and repeats at most
  // 11 dot-separated labels, none of which can contain the separator: each character is read
  // by a constant number of attempts. The two that were not: `^(\s*)` under the m flag (a \s
  // crosses newlines, so every line start ran to the end of a blank run: 7.8 s for 64,000
  // newlines) and user links whose `[^|>\s]+` crossed the next `<` (each `<http:` scanned to
  // the end). Checked here as growth from n to 4n on generated repetitions of adversarial
  // pieces, with no fixed seed: about 4 when linear, about 16 when quadratic.
  const adversarial = fc
    .array(
      fc.constantFrom(
        "a",
        "b.",
        ".",
        "．",
        "-",
        "_",
        "1",
        "x://",
        ":",
        "@",
        "here",
        "`",
        "```",
        "*",
        "**",
        "__",
        "<",
        "<http:",
        "<https://a|",
        "&",
        "\n",
        " ",
        "\t",
        "#",
        "# ",
        "- ",
        "=",
        "key=",
        "eyJ",
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((parts) => parts.join(""));
  const SIZE = 20_000;
  /** Growth from n to 4n, measured again once if it looks quadratic (a load spike; a real one stays). */
  const growth = (work: (size: number) => void): number => {
    const first = growthOnFourfoldInput(work, SIZE);
    return first < 10 ? first : Math.min(first, growthOnFourfoldInput(work, SIZE));
  };

  it("takes linear time on long generated runs of adversarial pieces, as answers and as the user's own links", () => {
    fc.assert(
      fc.property(adversarial, (piece) => {
        const text = (size: number): string => piece.repeat(Math.ceil(size / piece.length));
        expect(growth((size) => sanitizeForSlack(text(size)))).toBeLessThan(10);
        expect(growth((size) => sanitizeForSlack("see the link", { userText: [text(size)] }))).toBeLessThan(
          10,
        );
      }),
      { numRuns: 20 },
    );
  });

  it("takes linear time on the runs that were quadratic: blank lines, and user links that never close", () => {
    for (const piece of ["\n", " \n", "\t\n", "<http:", "<https://a|"]) {
      const text = (size: number): string => piece.repeat(Math.ceil(size / piece.length));
      expect(
        growth((size) => sanitizeForSlack(text(size))),
        JSON.stringify(piece),
      ).toBeLessThan(10);
      expect(
        growth((size) => sanitizeForSlack("x", { userText: [text(size)] })),
        JSON.stringify(piece),
      ).toBeLessThan(10);
    }
  });
});
