import { describe, expect, it } from "vitest";
import {
  APPROVE_ACTION_ID,
  BREAK_GLASS_ACTION_ID,
  BREAK_GLASS_REASON_BLOCK,
  BREAK_GLASS_VIEW_ID,
  REJECT_ACTION_ID,
  approvalCardBlocks,
  breakGlassModal,
  type CardPolicy,
} from "../../../bot/blocks/approval-card.ts";
import { resultDigest } from "../../../core/actions/effect.ts";
import type { PendingAction } from "../../../core/actions/schema.ts";
import { approvalViewOf } from "../../../core/actions/view.ts";

/** The card under an approval policy file: the rule, who may approve, the count, break-glass, a refusal. */
const result = {
  spec: {
    template: {
      metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-01T12:00:00.000Z" } },
    },
  },
};
const restart: PendingAction = {
  id: "act_Qm9vQmFyQmF6UXV4UXV1eA",
  cluster: "prod-eu",
  tool: "restart_deployment",
  arguments: { namespace: "shop", name: "checkout" },
  evidence: {
    pods: ["shop/checkout-7d9f-a"],
    strategy: "RollingUpdate",
    maxUnavailable: "25%",
    maxSurge: "25%",
    restartedAt: "2026-11-01T12:00:00.000Z",
  },
  effect: {
    object: { kind: "Deployment", namespace: "shop", name: "checkout" },
    live: { spec: { template: { metadata: {} } } },
    result,
    warnings: [],
    digest: resultDigest(result, { created: false }),
  },
  risk: { level: "normal", flags: [] },
  target: { kind: "Deployment", namespace: "shop", name: "checkout", uid: "u-1", resourceVersion: "42" },
  requester: { kind: "slack", id: "U0REQUEST", teamId: "T1" },
  createdAt: "2026-11-01T12:00:00.000Z",
  expiresAt: "2026-11-01T12:15:00.000Z",
  digest: "a".repeat(64),
  state: "pending",
};

function card(policy: CardPolicy | undefined): { text: string; buttons: string[] } {
  const blocks = approvalCardBlocks(restart, approvalViewOf(restart), {
    approverMention: "<@U0BOB>",
    policy,
  });
  const json = JSON.stringify(blocks);
  const buttons = blocks.flatMap((block) =>
    block.type === "actions"
      ? block.elements.map((element) => ("action_id" in element ? String(element.action_id) : ""))
      : [],
  );
  return { text: json, buttons };
}

describe("the approval card under a policy file", () => {
  it("without a policy file it is the one-approver card of old", () => {
    const { text, buttons } = card(undefined);
    expect(text).toContain("<@U0BOB>: please review. The requester cannot approve their own request.");
    expect(buttons).toEqual([APPROVE_ACTION_ID, REJECT_ACTION_ID]);
  });

  it("names the rule, who may approve, how many, who has, and offers break glass", () => {
    const { text, buttons } = card({
      rule: "prod drains",
      mayApprove: ["<!subteam^S0SRE>"],
      required: 2,
      approvals: [{ kind: "slack", id: "U0ALICE" }],
      breakGlass: "<!subteam^S0IC>",
    });
    expect(text).toContain(
      "<!subteam^S0SRE>: please review. Per the approval policy, rule *prod drains*: 2 approvals from different people; the requester cannot approve their own request.",
    );
    expect(text).toContain("*1 of 2 approvals: <@U0ALICE>*");
    expect(text).toContain("Break glass: a member of <!subteam^S0IC> may approve alone, with a reason");
    expect(buttons).toEqual([APPROVE_ACTION_ID, BREAK_GLASS_ACTION_ID, REJECT_ACTION_ID]);
  });

  it("a refusal by the policy shows its reason and offers no Approve", () => {
    const { text, buttons } = card({
      rule: "holiday freeze",
      refused: "Change freeze until 4 January",
      mayApprove: [],
      required: 1,
      approvals: [],
    });
    expect(text).toContain(
      ":no_entry: Refused by the approval policy, rule *holiday freeze*: Change freeze until 4 January",
    );
    expect(buttons).toEqual([REJECT_ACTION_ID]);
  });

  it("the break-glass modal requires a reason and remembers where the card is", () => {
    const origin = {
      value: `${restart.id}|${restart.digest}`,
      channel: "C0OPS",
      messageTs: "1.2",
      threadTs: "1.1",
    };
    const modal = breakGlassModal(restart, origin);
    expect(modal.callback_id).toBe(BREAK_GLASS_VIEW_ID);
    expect(JSON.parse(modal.private_metadata!)).toEqual(origin);
    const input = modal.blocks.find((block) => block.type === "input");
    expect(input).toMatchObject({ block_id: BREAK_GLASS_REASON_BLOCK, element: { min_length: 3 } });
    expect(input).not.toHaveProperty("optional", true);
  });
});
