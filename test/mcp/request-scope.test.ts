import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { CompleteRequestSchema, GetPromptRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMcpOverHttp } from "../../bot/mcp-client.ts";
import type { ChannelScope } from "../../core/identity/access.ts";
import { ASSERTION_HEADER, createCallerVerifier, signAssertion } from "../../core/identity/caller-auth.ts";
import { generateKeys } from "../../core/identity/keys.ts";
import { accessOf } from "../../mcp/request-gate.ts";
import { podLogUri } from "../../mcp/resources/pod-log.ts";
import { createMcpServer } from "../../mcp/server.ts";
import { startHttpServer, type RunningHttpServer } from "../../mcp/transports/http.ts";
import { loadTestEnv, SEED } from "../helpers/testenv.ts";
import { startHarness, type Harness } from "./harness.ts";

/**
 * DEPUTY_CHANNEL_NAMESPACES on every MCP request kind, not only tool calls:
 * the pod log resource the bot uploads as a file (`/deputy logs … --full`),
 * and any prompt or completion handler registered later, over the bot's
 * signed Streamable HTTP connection and in process, against the real API
 * server. The scope is the one of the conversation the bot's signed
 * assertion names; a channel without a scope is refused once any is set;
 * node actions need a scope that says @cluster.
 */
let h: Harness;
let http: RunningHttpServer;
let redis: Redis;
let bot: Client;
const keys = generateKeys(["mcpCaller"]);
const prefix = `deputy-test-scope-${randomBytes(4).toString("hex")}:`;
const requester = { kind: "slack", id: "U0SCOPE" };
const from = (channel: string) => ({
  "deputy/requester": requester,
  "deputy/conversation": { surface: "slack", channel, thread: "1700000000.000200" },
});
/** The example: a StatefulSet pod's log, asked for from a channel scoped elsewhere. */
const dbLog = podLogUri({ namespace: SEED.namespace, pod: "db-0", container: "postgres" });

beforeAll(async () => {
  h = await startHarness({
    env: {
      DEPUTY_CHANNEL_NAMESPACES: `C0PAYMENTS=payments-*,C0SHOP=${SEED.namespace},C0OPS=*|@cluster`,
      DEPUTY_REDIS_PREFIX: prefix,
    },
  });
  redis = new Redis(loadTestEnv().redisUrl);
  http = await startHttpServer(h.deps, {
    host: "127.0.0.1",
    port: 0,
    callers: createCallerVerifier({ key: keys.mcpCaller!, purpose: "mcp", redis, prefix }),
  });
  bot = await connectMcpOverHttp(http.url, keys.mcpCaller!);
});

afterAll(async () => {
  await bot?.close();
  await http?.close();
  await h?.close();
  redis?.disconnect();
});

describe("the pod log resource under the conversation's channel scope", () => {
  it("refuses, over the bot's signed HTTP connection, a log outside the channel's namespaces before the API server is asked, and serves one inside", async () => {
    const before = h.requests.length;
    await expect(bot.readResource({ uri: dbLog, _meta: from("C0PAYMENTS") })).rejects.toThrow(
      `namespace "${SEED.namespace}" is outside the scope of channel C0PAYMENTS (DEPUTY_CHANNEL_NAMESPACES: payments-*)`,
    );
    expect(h.requests.length).toBe(before);
    expect(h.audit.at(-1)).toMatchObject({
      tool: "resource:pod-log",
      outcome: "error",
      actor: { id: requester.id },
      conversation: { channel: "C0PAYMENTS" },
    });

    const read = await bot.readResource({ uri: dbLog, _meta: from("C0SHOP") });
    const [content] = read.contents;
    expect(content && "text" in content ? content.text : "").toMatch(/^# Deputy: /);
  });

  it("refuses it in process too (the bot's single-process mode)", async () => {
    await expect(h.client.readResource({ uri: dbLog, _meta: from("C0PAYMENTS") })).rejects.toThrow(
      "outside the scope of channel C0PAYMENTS",
    );
  });

  it("refuses a _meta conversation the signed assertion does not vouch for, rather than read it unscoped", async () => {
    const post = async (
      claimed: string | undefined,
    ): Promise<{ error?: { message: string }; result?: unknown }> => {
      const body = JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "resources/read",
        params: { uri: dbLog, _meta: from("C0SHOP") },
      });
      const signed = signAssertion(keys.mcpCaller!, "mcp", {
        method: "POST",
        path: "/mcp",
        body,
        claims: {
          requester: { kind: "slack", id: requester.id },
          ...(claimed
            ? { conversation: { surface: "slack", channel: claimed, thread: "1700000000.000200" } }
            : {}),
        },
      });
      const response = await fetch(http.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          [ASSERTION_HEADER]: signed,
        },
        body,
      });
      return (await response.json()) as { error?: { message: string }; result?: unknown };
    };
    for (const claimed of ["C0PAYMENTS", undefined]) {
      const answer = await post(claimed);
      expect(answer.result, String(claimed)).toBeUndefined();
      expect(answer.error?.message).toContain(
        "the conversation in _meta is not the one the caller's signed assertion names",
      );
    }
    expect((await post("C0SHOP")).result).toBeDefined();
  });
});

describe("a channel without a scope of its own, once any is configured", () => {
  it("is refused for every request kind, audited, with no API call", async () => {
    const before = h.requests.length;
    const reply = await h.call("list_pods", { namespace: SEED.namespace }, from("C0NEWCHANNEL"));
    expect(reply.isError).toBe(true);
    expect(reply.text).toContain("Channel C0NEWCHANNEL has no entry in DEPUTY_CHANNEL_NAMESPACES");
    expect(h.audit.at(-1)).toMatchObject({
      tool: "list_pods",
      decision: "refused",
      rule: "channel-unscoped",
    });

    await expect(bot.readResource({ uri: dbLog, _meta: from("C0NEWCHANNEL") })).rejects.toThrow(
      "has no entry in DEPUTY_CHANNEL_NAMESPACES",
    );
    expect(h.audit.at(-1)).toMatchObject({ tool: "resources/read", rule: "channel-unscoped" });
    // A direct message is a conversation without an entry too (no "dm" here).
    const dm = await h.call("list_pods", { namespace: SEED.namespace }, from("D0SCOPE"));
    expect(dm.text).toContain("Direct messages have no entry in DEPUTY_CHANNEL_NAMESPACES");
    expect(h.requests.length).toBe(before);
  });
});

describe("every request kind passes the gate", () => {
  it("gives a prompt or completion handler registered later the caller's scope, and refuses it for an unscoped channel", async () => {
    const server = createMcpServer(h.deps);
    server.registerCapabilities({ prompts: {}, completions: {} });
    const seen: (ChannelScope | undefined)[] = [];
    server.setRequestHandler(GetPromptRequestSchema, (_request, extra) => {
      seen.push(accessOf(extra).deps.namespaceScope);
      return { messages: [] };
    });
    server.setRequestHandler(CompleteRequestSchema, (_request, extra) => {
      seen.push(accessOf(extra).deps.namespaceScope);
      return { completion: { values: [] } };
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: "scope-test", version: "0" });
    await server.connect(serverSide);
    await client.connect(clientSide);
    try {
      await client.getPrompt({ name: "anything", _meta: from("C0SHOP") });
      await client.complete({
        ref: { type: "ref/prompt", name: "anything" },
        argument: { name: "namespace", value: "s" },
        _meta: from("C0SHOP"),
      });
      const shop = { channel: "C0SHOP", namespaces: [SEED.namespace], clusterWide: false };
      expect(seen).toEqual([shop, shop]);
      await expect(client.getPrompt({ name: "anything", _meta: from("C0NEWCHANNEL") })).rejects.toThrow(
        "has no entry in DEPUTY_CHANNEL_NAMESPACES",
      );
      await expect(
        client.complete({
          ref: { type: "ref/prompt", name: "anything" },
          argument: { name: "namespace", value: "s" },
          _meta: from("C0NEWCHANNEL"),
        }),
      ).rejects.toThrow("has no entry in DEPUTY_CHANNEL_NAMESPACES");
      expect(seen).toHaveLength(2);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe("node actions need a channel whose scope says @cluster", () => {
  const node = SEED.readyNodes[0]!;

  it("refuses cordon, uncordon and drain from a channel scoped to namespaces, even to all of them", async () => {
    for (const [tool, channel] of [
      ["cordon_node", "C0SHOP"],
      ["uncordon_node", "C0SHOP"],
      ["drain_node", "C0PAYMENTS"],
    ] as const) {
      const reply = await h.call(tool, { name: node }, from(channel));
      expect(reply.isError, tool).toBe(true);
      expect(reply.text).toContain(`${tool} on Node ${node} affects the whole cluster`);
      expect(reply.text).toContain("does not include @cluster");
      expect(h.audit.at(-1)).toMatchObject({ tool, rule: "channel-scope", decision: "deny" });
    }
    expect(await h.deps.actions.list("pending")).toEqual([]);
  });

  it("proposes them from a channel whose scope names @cluster", async () => {
    const reply = await h.call("cordon_node", { name: node }, from("C0OPS"));
    expect(reply.isError, reply.text).toBe(false);
    expect(reply.text).toContain("pending approval");
    const [action] = await h.deps.actions.list("pending");
    expect(action).toMatchObject({ tool: "cordon_node", target: { kind: "Node", name: node } });
  });
});
