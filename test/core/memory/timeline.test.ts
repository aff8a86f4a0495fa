import { describe, expect, it } from "vitest";
import type { PendingAction } from "../../../core/actions/schema.ts";
import type { JournalEntry } from "../../../core/memory/journal.ts";
import { buildTimeline, duration, timelineMarkdown } from "../../../core/memory/timeline.ts";

const at = (seconds: number): string => new Date(Date.UTC(2026, 11, 7, 3, 0, seconds)).toISOString();
const ALICE = { kind: "slack" as const, id: "U0ALICE" };
const BOB = { kind: "slack" as const, id: "U0BOB" };
const CAROL = { kind: "slack" as const, id: "U0CAROL" };

function action(id: string, overrides: Partial<PendingAction>): PendingAction {
  return {
    id,
    cluster: "prod-eu",
    tool: "set_deployment_env",
    arguments: {},
    evidence: {},
    target: { kind: "Deployment", namespace: "shop", name: "checkout" },
    risk: { level: "normal", flags: [] },
    requester: ALICE,
    createdAt: at(0),
    expiresAt: at(900),
    digest: "0".repeat(64),
    state: "pending",
    ...overrides,
  };
}

describe("an incident's timeline", () => {
  it("lists the alert, questions, steps, proposals, decisions, runs and the verdict in order, with who and how long", () => {
    const refused = action("act_refusedproposal0000000001", {
      tool: "restart_deployment",
      createdAt: at(70),
      state: "rejected",
      decidedBy: BOB,
      decidedAt: at(100),
    });
    const approved = action("act_approvedproposal000000001", {
      createdAt: at(130),
      state: "succeeded",
      decidedBy: CAROL,
      decidedAt: at(200),
      outcome: { message: "done", finishedAt: at(202), durationMs: 1500 },
    });
    const entries: JournalEntry[] = [
      { kind: "alert", at: at(10), name: "KubePodCrashLooping", firedAt: at(0) },
      { kind: "answer", at: at(25), steps: 1 },
      { kind: "question", at: at(40), by: ALICE, text: "why is checkout crashing?" },
      { kind: "step", at: at(45), tool: "troubleshoot_pod", target: "shop/checkout" },
      { kind: "answer", at: at(60), steps: 1 },
      { kind: "proposal", at: at(70), action: refused.id, tool: refused.tool, cluster: "prod-eu" },
      { kind: "question", at: at(120), by: ALICE, text: "set the variable instead" },
      { kind: "proposal", at: at(130), action: approved.id, tool: approved.tool, cluster: "prod-eu" },
      { kind: "verified", at: at(250), action: approved.id, status: "verified", seconds: 48 },
      { kind: "resolved", at: at(400) },
    ];
    const timeline = buildTimeline(entries, [refused, approved]);
    expect(timeline.startedAt).toBe(at(0));
    expect(timeline.toFirstAnswerMs).toBe(25_000);
    expect(timeline.toFirstApprovedFixMs).toBe(200_000);
    expect(timeline.toVerifiedRecoveryMs).toBe(250_000);
    const what = timeline.rows.map((row) => row.what);
    const index = (text: string): number => what.findIndex((line) => line.includes(text));
    expect(index("Alert KubePodCrashLooping fired")).toBe(0);
    const order = [
      "Alert KubePodCrashLooping fired",
      "Deputy answered",
      'Asked: "why is checkout crashing?"',
      "Investigation: troubleshoot_pod",
      "Proposed restart_deployment",
      "Refused restart_deployment",
      'Asked: "set the variable instead"',
      "Proposed set_deployment_env",
      "Approved set_deployment_env",
      "Executed set_deployment_env",
      "Verified outcome",
      "resolved",
    ].map(index);
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(timeline.rows[index("Refused")]!.who).toEqual(BOB);
    expect(timeline.rows[index("Approved")]!.who).toEqual(CAROL);
    expect(timeline.rows[index("Proposed set_deployment_env")]!.who).toEqual(ALICE);

    const markdown = timelineMarkdown(timeline, { title: "Incident", person: (p) => `@${p.id}` });
    expect(markdown).toContain("Time to first answer: 25 s");
    expect(markdown).toContain("Time to first approved fix: 3 min 20 s");
    expect(markdown).toContain("Time to verified recovery: 4 min 10 s");
    expect(markdown).toMatch(/Refused restart_deployment.*\| @U0BOB \|/);
  });

  it("says when something did not happen, and redacts a secret in a question", () => {
    const timeline = buildTimeline(
      [{ kind: "question", at: at(0), by: ALICE, text: "is password=hunter2hunter2 the problem?" }],
      [],
    );
    expect(timeline.toFirstApprovedFixMs).toBeUndefined();
    expect(duration(timeline.toVerifiedRecoveryMs)).toBe("—");
    const markdown = timelineMarkdown(timeline, { title: "Incident", person: (p) => p.id });
    expect(markdown).not.toContain("hunter2hunter2");
  });
});
