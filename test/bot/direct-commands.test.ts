import { describe, expect, it } from "vitest";
import { DIRECT_COMMAND_USAGE, parseDirectCommand } from "../../bot/direct-commands.ts";
import { isDeputyError } from "../../core/errors.ts";

function tool(text: string): { tool: string; arguments: Record<string, unknown> } {
  const parsed = parseDirectCommand(text);
  if (parsed.kind !== "tool") throw new Error(`expected a tool call, got ${parsed.kind}`);
  return { tool: parsed.tool, arguments: parsed.arguments };
}

function failure(text: string): { code: string; message: string } {
  try {
    parseDirectCommand(text);
  } catch (error) {
    if (isDeputyError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`expected "${text}" to be refused`);
}

describe("parseDirectCommand", () => {
  it.each([
    ["troubleshoot shop/checkout", "troubleshoot_pod", { namespace: "shop", name: "checkout" }],
    ["troubleshoot deployment/checkout -n shop", "troubleshoot_pod", { namespace: "shop", name: "checkout" }],
    ["troubleshoot node/node-a", "troubleshoot_node", { name: "node-a" }],
    ["troubleshoot node node-a", "troubleshoot_node", { name: "node-a" }],
    ["logs shop/checkout-xyz", "check_logs", { namespace: "shop", pod: "checkout-xyz" }],
    [
      "logs shop/checkout-xyz -c app --tail 50 --since 10m --previous --grep 'Null pointer'",
      "check_logs",
      {
        namespace: "shop",
        pod: "checkout-xyz",
        container: "app",
        tailLines: 50,
        sinceSeconds: 600,
        previous: true,
        grep: "Null pointer",
      },
    ],
    ["restart deployment/checkout -n shop", "restart_deployment", { namespace: "shop", name: "checkout" }],
    ["restart shop/checkout", "restart_deployment", { namespace: "shop", name: "checkout" }],
    [
      "scale deployment/checkout --replicas 3 -n shop",
      "scale_deployment",
      { namespace: "shop", name: "checkout", replicas: 3 },
    ],
    [
      "scale deployment/checkout --replicas=0 --namespace=shop",
      "scale_deployment",
      { namespace: "shop", name: "checkout", replicas: 0 },
    ],
    [
      "rollback deploy/checkout -n shop --to-revision 2",
      "rollback_deployment",
      { namespace: "shop", name: "checkout", toRevision: 2 },
    ],
    ["delete pod/db-0 -n shop", "delete_pod", { namespace: "shop", name: "db-0" }],
    ["cordon node-a", "cordon_node", { name: "node-a" }],
    ["uncordon node/node-a", "uncordon_node", { name: "node-a" }],
    ["drain node-a", "drain_node", { name: "node-a" }],
    ["pods shop", "list_pods", { namespace: "shop" }],
    ["events shop --limit 20", "get_events", { namespace: "shop", limit: 20 }],
    ["nodes", "show_unhealthy_nodes", {}],
    ["describe pod/checkout-1 -n shop", "describe_pod", { namespace: "shop", pod: "checkout-1" }],
    ["describe deployment/checkout -n shop", "describe_deployment", { namespace: "shop", name: "checkout" }],
    ["kubectl get pods -n shop -o wide", "kubectl", { command: "get pods -n shop -o wide" }],
  ])("%s", (text, expectedTool, expectedArgs) => {
    expect(tool(text)).toEqual({ tool: expectedTool, arguments: expectedArgs });
  });

  it("reads history and timeline, which the bot answers from its own records", () => {
    expect(parseDirectCommand("history shop/checkout")).toEqual({
      kind: "history",
      arguments: { namespace: "shop", workload: "checkout" },
    });
    expect(parseDirectCommand("history deployment/checkout -n shop")).toEqual({
      kind: "history",
      arguments: { namespace: "shop", workload: "checkout" },
    });
    expect(() => parseDirectCommand("history checkout")).toThrow(/Which namespace/);
    expect(parseDirectCommand("timeline")).toEqual({ kind: "timeline", thread: undefined });
    expect(parseDirectCommand("timeline https://acme.slack.com/archives/C0SHOP/p1765080000123456")).toEqual({
      kind: "timeline",
      thread: { channel: "C0SHOP", ts: "1765080000.123456" },
    });
    expect(() => parseDirectCommand("timeline https://evil.example/x")).toThrow(
      /not a link to a Slack message/,
    );
    expect(DIRECT_COMMAND_USAGE).toContain("/deputy history <namespace>/<workload>");
  });

  it("answers help", () => {
    for (const text of ["", "help", "--help"])
      expect(parseDirectCommand(text)).toEqual({ kind: "help", text: DIRECT_COMMAND_USAGE });
    expect(DIRECT_COMMAND_USAGE).toContain("/deputy restart deployment/<name> -n <namespace>");
  });

  it("treats anything else as a question for the agent", () => {
    expect(parseDirectCommand("why is checkout crashing in shop?")).toEqual({
      kind: "ask",
      prompt: "why is checkout crashing in shop?",
    });
  });

  it("leaves a question's punctuation alone: quotes and shell characters are the agent's to read", () => {
    const prompt = `what's wrong with "checkout; it says $PORT isn't set | grep?`;
    expect(parseDirectCommand(prompt)).toEqual({ kind: "ask", prompt });
  });

  it("splits a verb's arguments as a shell would, with the kubectl tool's tokenizer", () => {
    expect(tool(`logs shop/checkout --grep "a \\"quoted\\" word|error$"`).arguments).toMatchObject({
      grep: 'a "quoted" word|error$',
    });
    expect(tool("logs shop/checkout --grep=Null' 'pointer").arguments).toMatchObject({
      grep: "Null pointer",
    });
  });

  it.each([
    ["restart deployment/checkout", "Which namespace is checkout in?"],
    ["scale deployment/checkout -n shop", "--replicas is required"],
    ["scale deployment/checkout -n shop --replicas many", "--replicas must be a whole number"],
    ["scale deployment/checkout -n shop --replicas -1", "--replicas"],
    ["logs shop/..", "not a valid pod name"],
    ["logs shop/../etc", "is not namespace/name"],
    ["logs shop/checkout --tail", "--tail needs a value"],
    ["logs shop/checkout --since yesterday", "--since must look like"],
    ["restart deployment/checkout -n Shop_1", "not a valid namespace name"],
    ["restart shop/checkout -n other", "Namespace given twice"],
    ["delete deployment/checkout -n shop", "deployment is not something this command acts on"],
    ["cordon", "Missing the node name"],
    ["cordon node-a node-b", 'Unexpected "node-b"'],
    ["restart deployment/checkout -n shop --replicas 2", "Unknown option --replicas"],
    ["describe checkout -n shop", "Say pod/<name> or deployment/<name>"],
    ["logs shop/checkout --grep 'Null pointer", "Unterminated ' quote"],
  ])("refuses %s with a clear usage error", (text, fragment) => {
    const { code, message } = failure(text);
    expect(code).toBe("INPUT_INVALID");
    expect(message).toContain(fragment);
    expect(message).toContain("Usage: /deputy");
  });

  it.each([
    "delete pod/x -n shop --force",
    "delete pod/x -n shop --grace-period=0",
    "delete pod/x -n shop --grace-period 0",
  ])("refuses force: %s", (text) => {
    const { code, message } = failure(text);
    expect(code).toBe("POLICY_DENIED");
    expect(message).toContain("no-force");
  });
});
