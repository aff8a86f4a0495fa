import { describe, expect, it } from "vitest";
import { CLUSTER_WIDE, conversationScope } from "../../core/identity/access.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createNamespacePolicy } from "../../core/kube/namespace-policy.ts";

/** DEPUTY_CHANNEL_NAMESPACES: its syntax, and which scope each conversation gets. */
const accessOf = (value: string) => parseConfig({ DEPUTY_CHANNEL_NAMESPACES: value }).access;
const slack = (channel: string) => ({ surface: "slack" as const, channel, thread: "1700000000.000100" });

describe("DEPUTY_CHANNEL_NAMESPACES", () => {
  it("keeps what an old entry meant for namespaces, and reads * and @cluster", () => {
    const access = accessOf("C0SHOP=shop|shop-*,dm=sandbox,C0OPS=*|@cluster,*=web");
    expect(access.channelNamespaces).toEqual({
      C0SHOP: ["shop", "shop-*"],
      dm: ["sandbox"],
      C0OPS: ["*", CLUSTER_WIDE],
      "*": ["web"],
    });
    expect(conversationScope(access, slack("C0SHOP"))).toEqual({
      kind: "scoped",
      scope: { channel: "C0SHOP", namespaces: ["shop", "shop-*"], clusterWide: false },
    });
    expect(conversationScope(access, slack("C0OPS"))).toEqual({
      kind: "scoped",
      scope: { channel: "C0OPS", namespaces: ["*"], clusterWide: true },
    });
    expect(conversationScope(access, slack("D0ALICE"))).toMatchObject({ scope: { channel: "dm" } });
    // A channel without an entry of its own takes the * entry.
    expect(conversationScope(access, slack("C0ELSE"))).toEqual({
      kind: "scoped",
      scope: { channel: "*", namespaces: ["web"], clusterWide: false },
    });
  });

  it("refuses a channel or a direct message without an entry once any entry exists, unless * is given", () => {
    const access = accessOf("C0SHOP=shop");
    const refused = conversationScope(access, slack("C0NEW"));
    expect(refused).toMatchObject({ kind: "refused", rule: "channel-unscoped" });
    expect(refused.kind === "refused" && refused.message).toContain(
      "Channel C0NEW has no entry in DEPUTY_CHANNEL_NAMESPACES",
    );
    expect(conversationScope(access, slack("D0ALICE"))).toMatchObject({ kind: "refused" });
    // Nothing configured: nothing narrowed. Local mode's surfaces are never narrowed.
    expect(conversationScope(accessOf(""), slack("C0NEW"))).toEqual({ kind: "unscoped" });
    expect(conversationScope(access, { ...slack("C0NEW"), surface: "console" })).toEqual({
      kind: "unscoped",
    });
    expect(conversationScope(access, undefined)).toEqual({ kind: "unscoped" });
  });

  it("refuses entries it cannot read, naming the syntax", () => {
    for (const bad of ["C0X=@nodes", "C0X=shop|Cluster", "c0x=shop", "C0X=", "C0X=shop,C0X=web"]) {
      expect(() => accessOf(bad), bad).toThrow(/DEPUTY_CHANNEL_NAMESPACES/);
    }
  });

  it("allows cluster-wide changes only to an unscoped conversation or a scope naming @cluster", () => {
    const scoped = createNamespacePolicy({
      allow: [],
      deny: [],
      scope: { channel: "C0SHOP", namespaces: ["*"], clusterWide: false },
    });
    expect(() => scoped.assertClusterWide("cordon_node on Node n1")).toThrow(
      "cordon_node on Node n1 affects the whole cluster, and the scope of channel C0SHOP (DEPUTY_CHANNEL_NAMESPACES: *) does not include @cluster",
    );
    const ops = createNamespacePolicy({
      allow: [],
      deny: [],
      scope: { channel: "C0OPS", namespaces: [], clusterWide: true },
    });
    expect(() => ops.assertClusterWide("cordon_node on Node n1")).not.toThrow();
    expect(ops.allows("shop")).toBe(false);
    expect(() => createNamespacePolicy({ allow: [], deny: [] }).assertClusterWide("x")).not.toThrow();
  });
});
