import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./harness.ts";

/** Bad arguments get a clear error naming the problem; configured namespace rules name the rule. */
let h: Harness;
let restricted: Harness;

beforeAll(async () => {
  h = await startHarness();
  restricted = await startHarness({
    env: { DEPUTY_NAMESPACE_DENY: "kube-*,secret-ops", DEPUTY_NAMESPACE_ALLOW: "shop,deputy-*,kube-*" },
  });
});

afterAll(async () => {
  await h?.close();
  await restricted?.close();
});

describe("bad arguments", () => {
  it.each([
    [
      "describe_pod",
      { namespace: "nope-does-not-exist", pod: "x" },
      /namespace "nope-does-not-exist" does not exist/,
    ],
    ["list_pods", { namespace: "nope-does-not-exist" }, /namespace "nope-does-not-exist" does not exist/],
    [
      "list_pods",
      { namespace: "shop", labelSelector: "app in (a" },
      /label selector "app in \(a" has an unmatched "\("/,
    ],
    ["list_pods", { namespace: "shop", labelSelector: "=x" }, /label selector "=x" is invalid/],
    ["describe_pod", { namespace: "shop", pod: "../../secrets" }, /pod name "..\/..\/secrets" contains "\/"/],
    ["describe_pod", { namespace: "shop", pod: "a..b" }, /pod name "a..b" contains "\.\."/],
    [
      "check_logs",
      { namespace: "shop/../kube-system", pod: "x" },
      /namespace "shop\/..\/kube-system" contains "\/"/,
    ],
    [
      "describe_pod",
      { namespace: "shop", pod: "checkout" },
      /pod "checkout" not found in namespace shop; did you mean checkout-/,
    ],
    ["troubleshoot_node", { name: "node-z" }, /node "node-z" not found/],
    ["list_pods", { namespace: "shop", limit: 0 }, /Invalid arguments for list_pods: limit:/],
    [
      "list_pods",
      { namespace: "shop", colour: "red" },
      /Invalid arguments for list_pods: unknown argument\(s\) "colour"/,
    ],
    [
      "get_resource",
      { kind: "frobnicators", name: "x", namespace: "shop" },
      /no resource type called "frobnicators"/,
    ],
    ["get_resource", { kind: "configmap", name: "x" }, /ConfigMap is namespaced: pass the namespace/],
    ["kubectl", { command: "get pods | sh" }, /not a shell/],
    [
      "propose_git_change",
      { kind: "Deployment", namespace: "shop", name: "catalog", change: { type: "scale" } },
      /Invalid arguments for propose_git_change: change.replicas: replicas is required for type "scale"/,
    ],
    [
      "propose_git_change",
      { kind: "Deployment", namespace: "shop", name: "catalog", change: { type: "restart", replicas: 3 } },
      /change.replicas: replicas does not apply to type "restart"/,
    ],
  ])("%s %j → %s", async (tool, args, message) => {
    const reply = await h.call(tool, args);
    expect(reply.isError).toBe(true);
    expect(reply.text).toMatch(message);
  });

  it("names a missing container and lists the real ones", async () => {
    const pods = await h.call("list_pods", { namespace: "shop", labelSelector: "app=checkout" });
    const pod = (pods.structured?.pods as { name: string }[])[0]!.name;
    const reply = await h.call("check_logs", { namespace: "shop", pod, container: "sidecar" });
    expect(reply.isError).toBe(true);
    expect(reply.text).toBe(`pod shop/${pod} has no container "sidecar"; its containers are: checkout`);
  });

  it("records one audit event per call, refused ones included", async () => {
    const before = h.audit.length;
    await h.call("describe_pod", { namespace: "shop", pod: "a/b" });
    await h.call(
      "list_namespaces",
      {},
      { "deputy/requester": { kind: "slack", id: "U123", teamId: "T1" }, "deputy/prompt": "why?" },
    );
    const records = h.audit.slice(before);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({
      kind: "tool_call",
      tool: "describe_pod",
      outcome: "error",
      rule: "invalid-arguments",
    });
    expect(records[1]).toMatchObject({
      tool: "list_namespaces",
      outcome: "ok",
      actor: { id: "U123" },
      prompt: "why?",
      cluster: "testenv",
    });
  });

  it("rejects a malformed caller identity", async () => {
    const reply = await h.call("list_namespaces", {}, { "deputy/requester": { kind: "martian" } });
    expect(reply.isError).toBe(true);
    expect(reply.text).toMatch(/caller identity in _meta is invalid/);
  });
});

describe("namespace allow/deny lists", () => {
  it("refuses a denied namespace naming the deny rule, before any API call", async () => {
    const before = restricted.requests.length;
    const reply = await restricted.call("list_pods", { namespace: "kube-system" });
    expect(reply.text).toBe(
      'namespace "kube-system" is denied by the namespace deny list (DEPUTY_NAMESPACE_DENY entry "kube-*")',
    );
    expect(restricted.requests.length).toBe(before);
    expect(restricted.audit.at(-1)).toMatchObject({ rule: "namespace-deny", decision: "deny" });
  });

  it("refuses a namespace outside the allow list naming the allow rule", async () => {
    const reply = await restricted.call("check_logs", { namespace: "default", pod: "x" });
    expect(reply.text).toBe(
      'namespace "default" is not in the namespace allow list (DEPUTY_NAMESPACE_ALLOW: shop, deputy-*, kube-*)',
    );
  });

  it("hides denied namespaces from lists across namespaces", async () => {
    const namespaces = await restricted.call("list_namespaces");
    const names = (namespaces.structured?.namespaces as { name: string }[]).map((n) => n.name);
    expect(names).toContain("shop");
    expect(names).not.toContain("default");
    expect(names).not.toContain("kube-system");
    expect(namespaces.text).toMatch(/more hidden by Deputy's namespace allow\/deny lists/);
    const pods = await restricted.call("list_pods", { unhealthyOnly: true });
    const podNamespaces = new Set((pods.structured?.pods as { namespace: string }[]).map((p) => p.namespace));
    expect([...podNamespaces].every((n) => n === "shop" || n.startsWith("deputy-"))).toBe(true);
  });
});
