import { describe, expect, it } from "vitest";
import { historyText, recallBlocks } from "../../../bot/blocks/memory.ts";
import type { FixRecord } from "../../../core/memory/fix-record.ts";
import type { Recall } from "../../../core/memory/fix-store.ts";
import { fixRecord } from "../../helpers/fix-records.ts";

const fix: FixRecord = fixRecord({
  id: "act_bWVtb3J5QmxvY2tzMDAwMDAx",
  cause: { rule: "oom-killed", key: "oom-killed", facts: { container: "web", memoryLimit: "256Mi" } },
  change: {
    tool: "set_deployment_resources",
    input: { container: "web", requests: {}, limits: { memory: "512Mi" } },
  },
  verifiedSeconds: 35,
  thread: {
    channel: "C0SHOP",
    ts: "1764756000.000100",
    link: "https://acme.slack.com/archives/C0SHOP/p1764756000000100",
  },
});

describe("incident memory blocks", () => {
  it("a recalled fix: one line, its tally, and the button that proposes it again", () => {
    const recall: Recall = {
      fix,
      sameWorkload: false,
      counts: { worked: 2, undone: 1, stuck: 0, failed: 1, unverified: 0 },
    };
    expect(recallBlocks(recall, "Deployment", Date.parse("2026-12-07T00:00:00Z"))).toMatchSnapshot();
  });

  it("a workload's history, newest first, each with its verified result", () => {
    const undone: FixRecord = {
      ...fix,
      id: "act_bWVtb3J5QmxvY2tzMDAwMDAy",
      ranAt: "2026-12-05T09:00:00.000Z",
      undone: { at: "2026-12-05T09:30:00.000Z", by: "act_bWVtb3J5QmxvY2tzMDAwMDAz" },
    };
    expect(
      historyText("shop", "checkout", [undone, fix], 90, Date.parse("2026-12-07T00:00:00Z")),
    ).toMatchSnapshot();
    expect(historyText("shop", "cart", [], 90)).toBe(
      "No fix is remembered for shop/cart (Deputy remembers verified fixes for 90 days).",
    );
  });
});
