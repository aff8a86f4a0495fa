import { describe, expect, it } from "vitest";
import { triageScopeFilter } from "../../bot/unprompted.ts";
import type { TriageMessage } from "../../core/observability/alerts.ts";
import { parseConfig } from "../../core/config/config.ts";

/** Proactive triage follows the triage channel's scope, like a question or an alert there. */
const accessOf = (value: string) => parseConfig({ DEPUTY_CHANNEL_NAMESPACES: value }).access;
const problem = (object: TriageMessage["object"]): TriageMessage => ({
  reason: "crash-loop",
  object,
  title: "t",
  diagnosis: "d",
  at: new Date(0).toISOString(),
});
const inShop = problem({ kind: "Deployment", namespace: "shop", name: "checkout" });
const inPayments = problem({ kind: "Deployment", namespace: "payments", name: "api" });
const onNode = problem({ kind: "Node", name: "node-c" });

describe("triage in a scoped channel", () => {
  it("posts only problems inside the channel's namespaces, and nodes only with @cluster", () => {
    const shopOnly = triageScopeFilter(accessOf("C0TRIAGE=shop"), "C0TRIAGE");
    expect([inShop, inPayments, onNode].map(shopOnly)).toEqual([true, false, false]);
    const ops = triageScopeFilter(accessOf("C0TRIAGE=shop|@cluster"), "C0TRIAGE");
    expect([inShop, inPayments, onNode].map(ops)).toEqual([true, false, true]);
  });

  it("posts everything when nothing is scoped, and nothing in a channel without a scope while others have one", () => {
    const open = triageScopeFilter(accessOf(""), "C0TRIAGE");
    expect([inShop, inPayments, onNode].map(open)).toEqual([true, true, true]);
    const unlisted = triageScopeFilter(accessOf("C0OTHER=shop"), "C0TRIAGE");
    expect([inShop, inPayments, onNode].map(unlisted)).toEqual([false, false, false]);
    const others = triageScopeFilter(accessOf("C0OTHER=shop,*=*"), "C0TRIAGE");
    expect([inShop, inPayments, onNode].map(others)).toEqual([true, true, false]);
  });
});
