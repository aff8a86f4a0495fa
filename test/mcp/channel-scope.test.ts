import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api } from "@kubernetes/client-node";
import { startHarness, type Harness } from "./harness.ts";
import { adminKubeConfig } from "../helpers/testenv.ts";
import { ensure } from "../helpers/kube-apply.ts";
import { prepareNamespaces } from "../executor/write-env.ts";

/**
 * DEPUTY_CHANNEL_NAMESPACES on the real MCP server against the real API
 * server: a conversation's channel limits what every tool call may see,
 * reads and write proposals alike; a channel without an entry is refused,
 * and the console is not narrowed.
 */
let h: Harness;
const requester = { kind: "slack", id: "U0ALICE" };
const from = (channel: string) => ({
  "deputy/requester": requester,
  "deputy/conversation": { surface: "slack", channel, thread: "1700000000.000100" },
});

beforeAll(async () => {
  await prepareNamespaces();
  h = await startHarness({
    env: {
      // @cluster: this channel may propose node actions (a drain), within its namespaces.
      DEPUTY_CHANNEL_NAMESPACES: "C0PAYMENTS=payments-*|@cluster,dm=sandbox",
      DEPUTY_REDIS_PREFIX: `deputy-test-trust-${randomBytes(4).toString("hex")}:`,
    },
  });
});

afterAll(async () => {
  await h?.close();
});

describe("per-channel namespace scope", () => {
  it("refuses a read outside the channel's namespaces, by rule, before asking the API server", async () => {
    const before = h.requests.length;
    const reply = await h.call("list_pods", { namespace: "shop" }, from("C0PAYMENTS"));
    expect(reply.isError).toBe(true);
    expect(reply.text).toContain(
      'namespace "shop" is outside the scope of channel C0PAYMENTS (DEPUTY_CHANNEL_NAMESPACES: payments-*, @cluster)',
    );
    expect(h.requests.length).toBe(before);
    expect(h.audit.at(-1)).toMatchObject({ kind: "tool_call", tool: "list_pods", rule: "channel-scope" });
  });

  it("scopes direct messages by the dm entry, and write proposals too", async () => {
    const dm = await h.call("list_pods", { namespace: "shop" }, from("D0ALICE"));
    expect(dm.text).toContain('namespace "shop" is outside the scope of direct messages');
    const write = await h.call(
      "restart_deployment",
      { namespace: "shop", name: "frontend" },
      from("C0PAYMENTS"),
    );
    expect(write.isError).toBe(true);
    expect(write.text).toContain("outside the scope of channel C0PAYMENTS");
    expect(await h.deps.actions.list("pending")).toEqual([]);
  });

  it("leaves pods outside the channel's namespaces on a node it drains, and names them", async () => {
    const kc = adminKubeConfig();
    const node = `deputy-test-node-scope-${randomBytes(3).toString("hex")}`;
    const pod = `scoped-${randomBytes(3).toString("hex")}`;
    await ensure(kc, { apiVersion: "v1", kind: "Node", metadata: { name: node } });
    const core = kc.makeApiClient(CoreV1Api);
    const owner = await core.createNamespacedConfigMap({
      namespace: "deputy-w-tools",
      body: { metadata: { name: `${pod}-owner` } },
    });
    await core.createNamespacedPod({
      namespace: "deputy-w-tools",
      body: {
        metadata: {
          name: pod,
          ownerReferences: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              name: `${pod}-owner`,
              uid: owner.metadata!.uid!,
              controller: true,
            },
          ],
        },
        spec: { nodeName: node, containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
      },
    });
    try {
      const reply = await h.call("drain_node", { name: node }, from("C0PAYMENTS"));
      expect(reply.isError, reply.text).toBe(false);
      expect(reply.text).toContain(
        `deputy-w-tools/${pod} (outside the namespaces this conversation may change)`,
      );
      const [action] = (await h.deps.actions.list("pending")).filter((a) => a.target.name === node);
      expect(action?.arguments).toMatchObject({ evict: [] });
    } finally {
      await core
        .deleteNamespacedPod({ name: pod, namespace: "deputy-w-tools", gracePeriodSeconds: 0 })
        .catch(() => undefined);
      await core.deleteNode({ name: node }).catch(() => undefined);
    }
  });

  it("refuses a channel without an entry once any channel is scoped (no * entry here)", async () => {
    const reply = await h.call("list_pods", { namespace: "shop" }, from("C0OPS"));
    expect(reply.isError).toBe(true);
    expect(reply.text).toContain("Channel C0OPS has no entry in DEPUTY_CHANNEL_NAMESPACES");
  });

  it("leaves local-mode conversations to the global lists", async () => {
    const reply = await h.call(
      "list_pods",
      { namespace: "shop" },
      { "deputy/conversation": { surface: "console", channel: "local", thread: "t1" } },
    );
    expect(reply.isError, reply.text).toBe(false);
  });
});
