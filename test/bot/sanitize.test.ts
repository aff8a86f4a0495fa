import { describe, expect, it } from "vitest";
import {
  markdownToMrkdwn,
  redactSecrets,
  sanitizeForSlack,
  sanitizePlain,
  splitForSlack,
} from "../../bot/sanitize.ts";

describe("sanitizeForSlack", () => {
  it("defuses broadcast mentions and Slack special syntax", () => {
    const out = sanitizeForSlack(
      "Hey <!channel> and <!here> and <!everyone> and <!subteam^S123|@oncall> and @here @channel",
    );
    expect(out).not.toMatch(/<!/);
    expect(out).not.toMatch(/(^|[^\u200b])@(here|channel)\b/);
    expect(out).toContain("&lt;!channel&gt;");
    expect(out).toContain("@\u200bhere");
  });

  it("defangs links the user did not supply", () => {
    const out = sanitizeForSlack(
      "Log in at https://evil.example.com/login or <https://evil.com|click here> or evil.io/x",
    );
    expect(out).toContain("hxxps[:]//evil[.]example[.]com/login");
    expect(out).not.toMatch(/<https?:/);
    expect(out).toContain("evil[.]io/x");
  });

  it.each([
    ["a .zip host", "download evil.zip now", "evil[.]zip"],
    ["a .cloud host", "open login.acme.cloud/reset", "login[.]acme[.]cloud/reset"],
    ["a .support host", "call help.support", "help[.]support"],
    ["a URL in intraword backticks", "foo`https://evil.zip/x`bar", "foo`hxxps[:]//evil[.]zip/x`bar"],
    ["a URL in a code span", "`curl https://x.com`", "`curl hxxps[:]//x[.]com`"],
    ["an email address", "mail bob@evil.example", "bob@evil[.]example"],
    ["full-width dots", "evil．zip", "evil[.]zip"],
    ["a mailto link", "mailto:a@b.example", "mailto[:]a@b[.]example"],
  ])("makes %s inert whatever its TLD", (_label, input, expected) => {
    expect(sanitizeForSlack(input)).toContain(expected);
  });

  it("keeps links the user gave", () => {
    const out = sanitizeForSlack("See https://runbooks.acme.dev/checkout.", {
      userText: ["our runbook is <https://runbooks.acme.dev/checkout>"],
    });
    expect(out).toBe("See https://runbooks.acme.dev/checkout.");
  });

  it("leaves names without dots, versions and addresses as they are", () => {
    const out = sanitizeForSlack(
      "checkout-7d9f in shop runs v1.2.3 and talks to 10.0.0.12:5432, e.g. the db",
    );
    expect(out).toBe("checkout-7d9f in shop runs v1.2.3 and talks to 10.0.0.12:5432, e.g. the db");
  });

  it("redacts secrets", () => {
    const text =
      "token: abcdefghijklmnop, xoxb-1234567890-abcdefghij, Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln hvs.CAESIJ5cM2n5t8vLxQ0Fqh1xyz password=hunter22";
    const out = sanitizeForSlack(text);
    for (const secret of [
      "abcdefghijklmnop",
      "xoxb-1234567890",
      "eyJhbGciOiJSUzI1NiJ9",
      "hvs.CAES",
      "hunter22",
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain("[redacted]");
  });

  it("converts Markdown to Slack mrkdwn", () => {
    expect(markdownToMrkdwn("## Cause\n**OOMKilled** at 256Mi\n- raise the limit")).toBe(
      "*Cause*\n*OOMKilled* at 256Mi\n• raise the limit",
    );
  });

  it("sanitizePlain escapes markup and redacts", () => {
    expect(sanitizePlain("<!here> sk-ant-api03-abcdefghijklmnopqrstuvwxyz")).toBe(
      "&lt;!here&gt; [redacted token]",
    );
  });

  it("redactSecrets leaves ordinary text alone", () => {
    const text = "Back-off restarting failed container checkout in pod checkout-7d9f (exit code 1)";
    expect(redactSecrets(text)).toBe(text);
  });
});

describe("splitForSlack", () => {
  it("splits long text under the limit on line breaks", () => {
    const text = Array.from({ length: 200 }, (_, i) => `line ${i} ${"x".repeat(40)}`).join("\n");
    const chunks = splitForSlack(text, 1000);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(1000);
    expect(chunks.join("\n")).toBe(text);
  });

  it("splits a single overlong line", () => {
    const chunks = splitForSlack("y".repeat(2500), 1000);
    expect(chunks.map((c) => c.length)).toEqual([1000, 1000, 500]);
  });
});
