import { describe, expect, it } from "vitest";
import { estimateTokens, renderWithinBudget, truncateText } from "../../core/untrusted/output-budget.ts";
import { FENCE_CLOSE_PATTERN, extractFenced } from "../../core/untrusted/fence.ts";

describe("truncateText", () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `line ${i} ${"x".repeat(40)}`).join("\n");

  it("keeps the tail and says how much earlier text was cut", () => {
    const cut = truncateText(lines, 2000, "tail");
    expect(cut.text.length).toBeLessThanOrEqual(2000);
    expect(cut.text).toContain("line 999");
    expect(cut.text).not.toContain("line 0 ");
    expect(cut.text).toMatch(/^\[… [\d,]+ earlier lines \([\d.]+ KB\) cut to fit the output budget\]/);
    expect(cut.truncated).toBe(true);
  });

  it("keeps the head and says how many more lines there were", () => {
    const cut = truncateText(lines, 2000, "head");
    expect(cut.text).toContain("line 0 ");
    expect(cut.text).toMatch(/\[… [\d,]+ more lines/);
    expect(cut.cutLines).toBeGreaterThan(900);
  });

  it("returns short text untouched", () => {
    expect(truncateText("short", 100)).toEqual({ text: "short", truncated: false, cutLines: 0, cutChars: 0 });
  });
});

describe("renderWithinBudget", () => {
  it("fits the budget, fences data, redacts, and keeps small blocks whole", () => {
    const big = Array.from({ length: 5000 }, (_, i) => `log ${i} password=p${i}xyz`).join("\n");
    const out = renderWithinBudget(
      [
        { kind: "text", text: "Pod shop/checkout: CrashLoopBackOff" },
        { kind: "data", source: "events", text: "Back-off restarting failed container" },
        { kind: "data", source: "pod-log", text: big, keep: "tail" },
      ],
      1000,
    );
    expect(estimateTokens(out.text)).toBeLessThanOrEqual(1000);
    expect(out.truncated).toBe(true);
    const blocks = extractFenced(out.text);
    expect(blocks.map((b) => b.source)).toEqual(["events", "pod-log"]);
    expect(blocks[0]?.text).toBe("Back-off restarting failed container");
    expect(blocks[1]?.text).toContain("log 4999");
    expect(out.text).not.toMatch(/password=p\d+xyz/);
    expect(out.text.match(FENCE_CLOSE_PATTERN)).toHaveLength(2);
  });
});
