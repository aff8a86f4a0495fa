import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAgentTurn } from "../../bot/agent/run-agent-turn.ts";
import { createAnthropicModel } from "../../bot/agent/model.ts";
import {
  agentFromConfig,
  botKeyPurposes,
  connectMcpOverHttp,
  servedClusterConfigs,
} from "../../bot/wiring.ts";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { createCallerVerifier } from "../../core/identity/caller-auth.ts";
import { parseConfig } from "../../core/config/config.ts";
import { generateKeys } from "../../core/identity/keys.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { startHttpServer, type RunningHttpServer } from "../../mcp/transports/http.ts";
import { startAnthropicFake, text, toolUse, type AnthropicFake } from "../fakes/anthropic.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";

/**
 * The cluster deployment: the bot reaches the MCP server over Streamable HTTP
 * (DEPUTY_MCP_URL) and the agent loop runs over it exactly as in-process.
 */
let harness: Harness;
let server: RunningHttpServer;
let client: Client;
let model: AnthropicFake;
let redis: Redis;

beforeAll(async () => {
  harness = await startHarness();
  redis = new Redis(loadTestEnv().redisUrl);
  const keys = generateKeys(["mcpCaller"]);
  server = await startHttpServer(harness.deps, {
    host: "127.0.0.1",
    port: 0,
    callers: createCallerVerifier({
      key: keys.mcpCaller!,
      purpose: "mcp",
      redis,
      prefix: `deputy-test-trust-${randomBytes(4).toString("hex")}:`,
    }),
  });
  client = await connectMcpOverHttp(server.url, keys.mcpCaller!);
  model = await startAnthropicFake();
});

afterAll(async () => {
  await client?.close();
  await server?.close();
  await harness?.close();
  await model?.close();
  redis?.disconnect();
});

describe("bot wiring", () => {
  it("talks to the MCP server over Streamable HTTP, identity in _meta included", async () => {
    const listed = await client.listTools();
    expect(listed.tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(["troubleshoot_pod", "restart_deployment"]),
    );
    const result = (await client.callTool({
      name: "troubleshoot_pod",
      arguments: { namespace: "shop", name: "checkout" },
      _meta: { "deputy/requester": { kind: "slack", id: "U0WIRE", teamId: "T1" } },
    })) as CallToolResult;
    expect(result.isError).not.toBe(true);
    expect(JSON.stringify(result.content)).toContain("CrashLoopBackOff");
    expect(harness.audit.at(-1)).toMatchObject({
      kind: "tool_call",
      tool: "troubleshoot_pod",
      actor: { id: "U0WIRE" },
    });
  });

  it("runs an agent turn over HTTP", async () => {
    model.setScript([
      toolUse("troubleshoot_pod", { namespace: "shop", name: "checkout" }),
      text("diagnosed"),
    ]);
    const result = await runAgentTurn(
      {
        prompt: "why?",
        history: [],
        requester: { kind: "slack", id: "U0WIRE", teamId: "T1" },
        conversation: { surface: "slack", teamId: "T1", channel: "C1", thread: "1.1" },
        mcp: client,
      },
      {
        model: createAnthropicModel({ apiKey: model.apiKey, baseUrl: model.url }),
        modelName: "claude-test",
        limits: { maxIterations: 4, maxSeconds: 30, maxTokens: 100_000, maxOutputTokens: 512 },
        logger: createLogger({ level: "silent" }),
      },
    );
    expect(result.text).toBe("diagnosed");
    expect(result.toolCalls).toEqual([expect.objectContaining({ tool: "troubleshoot_pod", isError: false })]);
  });

  it("builds the agent only with an API key, with the configured model and limits", async () => {
    const logger = createLogger({ level: "silent" });
    expect(agentFromConfig(parseConfig({}), logger)).toBeUndefined();
    const config = parseConfig({
      ANTHROPIC_API_KEY: model.apiKey,
      ANTHROPIC_BASE_URL: model.url,
      DEPUTY_MODEL: "claude-configured",
      DEPUTY_AGENT_MAX_OUTPUT_TOKENS: "777",
    });
    model.setScript([text("hi")]);
    const before = model.requests.length;
    const agent = agentFromConfig(config, logger)!;
    await agent.run({
      prompt: "hello",
      history: [],
      requester: { kind: "local", id: "alice" },
      conversation: { surface: "console", channel: "c", thread: "t" },
      mcp: client,
    });
    const sent = model.requests[before]!.body;
    expect(sent.model).toBe("claude-configured");
    expect(sent.max_tokens).toBe(777);
  });
});

describe("the cluster the bot serves", () => {
  const prodEu = {
    name: "prod-eu",
    mcpUrl: "https://mcp.prod-eu.internal/mcp",
    executorUrl: "https://executor.prod-eu.internal",
    channels: ["C0EU"],
  };

  it("takes its name, MCP server and executor from a one-entry DEPUTY_CLUSTERS", () => {
    const [config, ...others] = servedClusterConfigs(
      parseConfig({ DEPUTY_CLUSTERS: JSON.stringify([prodEu]) }),
    );
    expect(others).toEqual([]);
    if (!config) throw new Error("no cluster");
    expect(config.kube.clusterName).toBe("prod-eu");
    expect(config.mcp.url).toBe(prodEu.mcpUrl);
    expect(config.approvals.executorUrl).toBe(prodEu.executorUrl);
    expect(botKeyPurposes(parseConfig({ DEPUTY_CLUSTERS: JSON.stringify([prodEu]) }))).toEqual([
      "action",
      "mcpCaller",
      "executorCaller",
    ]);
  });

  it("is today's single cluster without DEPUTY_CLUSTERS", () => {
    const [config] = servedClusterConfigs(parseConfig({ DEPUTY_CLUSTER_NAME: "production" }));
    if (!config) throw new Error("no cluster");
    expect(config.kube.clusterName).toBe("production");
    expect(config.mcp.url).toBeUndefined();
    expect(config.approvals.executorUrl).toBeUndefined();
  });

  it("gives each of several clusters its own name, MCP server and executor", () => {
    const staging = {
      name: "staging",
      mcpUrl: "https://mcp.staging.internal/mcp",
      executorUrl: "https://executor.staging.internal",
      channels: [],
    };
    const two = parseConfig({ DEPUTY_CLUSTERS: JSON.stringify([prodEu, staging]) });
    const served = servedClusterConfigs(two);
    expect(
      served.map((config) => [config.kube.clusterName, config.mcp.url, config.approvals.executorUrl]),
    ).toEqual([
      ["prod-eu", prodEu.mcpUrl, prodEu.executorUrl],
      ["staging", staging.mcpUrl, staging.executorUrl],
    ]);
    expect(botKeyPurposes(two)).toEqual(["action", "mcpCaller", "executorCaller"]);
  });
});
