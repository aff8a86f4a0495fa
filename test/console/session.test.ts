import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { parseDirectCommand } from "../../bot/direct-commands.ts";
import type { Identity } from "../../core/identity/identity.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { createEventHub, type ConsoleEvent } from "../../console/events.ts";
import { createConsoleSession, type ConsoleSessionDeps } from "../../console/session.ts";

/**
 * Which cluster a console conversation reads: with several served, the
 * default until a message names another, which re-binds it. The MCP tools
 * are stand-ins recording the cluster they were called for; the whole path
 * runs in local-mode-clusters.test.ts against two real control planes.
 */

const alice: Identity = { kind: "local", id: "alice", name: "alice" };

function session(clusters: ConsoleSessionDeps["clusters"]): {
  send: (text: string, threadId?: string) => Promise<string>;
  calls: Array<{ tool: string; cluster: string }>;
  turns: Array<{ cluster: string; notes: readonly string[] }>;
  messages: (threadId: string) => string[];
} {
  const hub = createEventHub();
  const events: ConsoleEvent[] = [];
  hub.subscribe(0, (event) => events.push(event));
  const calls: Array<{ tool: string; cluster: string }> = [];
  const turns: Array<{ cluster: string; notes: readonly string[] }> = [];
  const conversations = createConsoleSession({
    hub,
    logger: createLogger({ level: "silent" }),
    approvers: ["bob"],
    parseDirectCommand,
    runAgentTurn: async (input) => {
      turns.push({ cluster: input.cluster, notes: input.notes });
      return { text: "answered", messages: [] };
    },
    directCommandHelp: [],
    clusters,
    callTool: async (tool, _args, _caller, cluster): Promise<CallToolResult> => {
      calls.push({ tool, cluster });
      return { content: [{ type: "text", text: `deployments of ${cluster}` }] };
    },
    decide: () => Promise.reject(new Error("no decisions here")),
    loadAction: async () => undefined,
    auditStory: async (actionId) => ({ actionId, lines: [] }),
  });
  return {
    calls,
    turns,
    async send(text, threadId) {
      if (threadId === undefined) {
        const started = conversations.startThread(alice, text);
        await started.done;
        return started.threadId;
      }
      await conversations.postMessage(threadId, alice, text).done;
      return threadId;
    },
    messages: (threadId) =>
      events.flatMap((event) =>
        event.threadId === threadId && event.type === "message" && event.role !== "user" ? [event.text] : [],
      ),
  };
}

describe("a console conversation's cluster", () => {
  it("starts on the default cluster and moves to the one a message names", async () => {
    const s = session({ names: ["prod-eu", "staging"], defaultCluster: "staging" });
    const thread = await s.send("deployments shop");
    await s.send("in prod-eu, deployments shop", thread);
    await s.send("deployments shop", thread);
    await s.send("deployments shop --cluster staging", thread);
    expect(s.calls).toEqual([
      { tool: "list_deployments", cluster: "staging" },
      { tool: "list_deployments", cluster: "prod-eu" },
      { tool: "list_deployments", cluster: "prod-eu" },
      { tool: "list_deployments", cluster: "staging" },
    ]);
    expect(s.messages(thread)[0]).toBe("[cluster staging] deployments of staging");
    expect(s.messages(thread)[1]).toBe("[cluster prod-eu] deployments of prod-eu");
  });

  it("runs the agent on the conversation's cluster and tells it which, and that it moved", async () => {
    const s = session({ names: ["prod-eu", "staging"], defaultCluster: "prod-eu" });
    const thread = await s.send("why is checkout failing?");
    await s.send("in staging, and here?", thread);
    expect(s.turns).toEqual([
      {
        cluster: "prod-eu",
        notes: ["This conversation works on cluster prod-eu: your tools read and propose there only."],
      },
      {
        cluster: "staging",
        notes: [
          "This conversation works on cluster staging: your tools read and propose there only.",
          "The conversation moved from cluster prod-eu to cluster staging; earlier answers were about prod-eu.",
        ],
      },
    ]);
    expect(s.messages(thread)).toEqual(["[cluster prod-eu] answered", "[cluster staging] answered"]);
  });

  it("answers an unknown explicit name with the served clusters and runs nothing", async () => {
    const s = session({ names: ["prod-eu", "staging"], defaultCluster: "prod-eu" });
    const thread = await s.send("restart deployment/checkout -n shop --cluster prod-mars");
    expect(s.calls).toEqual([]);
    expect(s.messages(thread)).toEqual([
      "Deputy does not serve a cluster named `prod-mars`, so nothing was run. Clusters served here: `prod-eu`, `staging`. " +
        "Name one at the start of your message (`in prod-eu, why…`) or with `--cluster prod-eu`.",
    ]);
  });

  it("says where the conversation is when a message only names a cluster", async () => {
    const s = session({ names: ["prod-eu", "staging"], defaultCluster: "prod-eu" });
    const thread = await s.send("in cluster staging");
    await s.send("deployments shop", thread);
    expect(s.messages(thread)[0]).toBe("This conversation is on cluster staging.");
    expect(s.calls).toEqual([{ tool: "list_deployments", cluster: "staging" }]);
  });

  it("with one cluster, reads no cluster name and says nothing of clusters", async () => {
    const s = session(undefined);
    const thread = await s.send("in default, deployments shop");
    expect(s.calls).toEqual([]);
    const other = await s.send("deployments shop");
    expect(s.calls).toEqual([{ tool: "list_deployments", cluster: "" }]);
    expect(s.messages(other)).toEqual(["deployments of"]);
    expect(s.messages(thread)).toEqual(["answered"]);
    // The agent was told nothing of clusters.
    expect(s.turns).toEqual([{ cluster: "", notes: [] }]);
  });
});
