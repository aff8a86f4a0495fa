import { describe, expect, it } from "vitest";
import { alertBlocks } from "../../../bot/alerts/alertmanager.ts";
import { followUpBlocks, UNDO_ACTION_ID } from "../../../bot/blocks/follow-up.ts";
import { homeView, pendingBlocks, RESUME_WRITES_ACTION_ID } from "../../../bot/blocks/pending.ts";
import type { PendingOverview } from "../../../bot/handlers/pending.ts";
import type { PendingAction } from "../../../core/actions/schema.ts";

const scale: PendingAction = {
  id: "act_U2NhbGVBY3Rpb25JZDAwMDAx",
  cluster: "prod-eu",
  tool: "scale_deployment",
  arguments: { namespace: "shop", name: "checkout", replicas: 5 },
  evidence: { currentReplicas: 2, pods: [] },
  risk: { level: "normal", flags: [] },
  target: { kind: "Deployment", namespace: "shop", name: "checkout", uid: "u-1" },
  requester: { kind: "slack", id: "U0REQUEST", teamId: "T1" },
  createdAt: "2026-11-01T12:00:00.000Z",
  expiresAt: "2026-11-01T12:15:00.000Z",
  digest: "a".repeat(64),
  state: "pending",
};

const overview = (isApprover: boolean, paused: boolean): PendingOverview => ({
  forMe: isApprover
    ? [{ action: scale, permalink: "https://fake.slack.com/archives/C0OPS/p1800000000000001" }]
    : [],
  mine: [{ action: { ...scale, id: "act_TWluZUFjdGlvbklkMDAwMDAx" }, permalink: "javascript:alert(1)" }],
  others: isApprover ? 0 : 1,
  pause: paused
    ? { rule: "delete-burst", reason: "6 deletes in a minute <!channel>", since: "2026-11-01T12:01:00.000Z" }
    : undefined,
  isApprover,
  health: "Cluster: 1 of 3 node(s) unhealthy (node-c); 4 unhealthy pod(s) in the namespaces Deputy may read.",
  at: Date.parse("2026-11-01T12:05:00.000Z"),
});

describe("on-call blocks", () => {
  it("the card's tail after a run: the verdict and the Undo button", () => {
    const blocks = followUpBlocks({
      actionId: scale.id,
      verification: {
        status: "verified",
        message: "Deployment shop/checkout: rollout complete.",
        seconds: 12,
      },
      inverse: { tool: "scale_deployment", arguments: {}, summary: "Undo: scale back to 2 replica(s)." },
    });
    expect(JSON.stringify(blocks)).toContain(UNDO_ACTION_ID);
    expect(blocks).toMatchSnapshot();
  });

  it("the pending list and the Home tab, for an approver during a pause and for anyone else", () => {
    const approver = pendingBlocks(overview(true, true));
    const json = JSON.stringify(approver);
    expect(json).toContain(RESUME_WRITES_ACTION_ID);
    expect(json).not.toContain("<!channel>");
    // Only Slack's own permalinks become links.
    expect(json).not.toContain("javascript:");
    expect(JSON.stringify(pendingBlocks(overview(false, true)))).not.toContain(RESUME_WRITES_ACTION_ID);
    expect(approver).toMatchSnapshot();
    expect(homeView(overview(false, false))).toMatchSnapshot();
  });

  it("an alert's message, firing and resolved", () => {
    const alert = {
      status: "firing" as const,
      labels: {
        alertname: "KubePodCrashLooping",
        namespace: "shop",
        pod: "checkout-7d9f",
        severity: "critical",
      },
      annotations: { summary: "checkout restarts <!here> <https://evil.example|click>" },
      startsAt: "2026-11-01T12:00:00.000Z",
      fingerprint: "abc123",
    };
    expect(alertBlocks(alert)).toMatchSnapshot();
    expect(alertBlocks(alert, "2026-11-01T12:30:00.000Z")).toMatchSnapshot();
  });

  it("names each entry's cluster when several clusters are served", () => {
    const one = JSON.stringify(pendingBlocks(overview(true, false)));
    expect(one).not.toContain("in cluster prod-eu");
    const several = JSON.stringify(pendingBlocks({ ...overview(true, false), severalClusters: true }));
    expect(several).toContain("scale_deployment on Deployment shop/checkout in cluster prod-eu");
  });
});
