import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { SEED, seedCluster } from "../devenv/seed.ts";
import { upTestEnv } from "../devenv/testenv.ts";
import { countTokens } from "../test/helpers/tokens.ts";
import { readerKubeConfig } from "../test/mcp/harness.ts";
import type { BenchLine, BenchReport } from "./run.ts";

/**
 * What an investigation costs in tokens: Deputy's answer to each seeded
 * problem beside the same question put to the two best-known Kubernetes MCP
 * servers on npm (kubernetes-mcp-server, Go; mcp-server-kubernetes,
 * TypeScript) and beside Deputy's own answer before its outputs were
 * compacted. All four run as stdio MCP servers against the same local API
 * server with the same read-only kubeconfig (deputy-reader), and every answer
 * is counted with Claude's tokenizer as a client passes it to the model: the
 * text content of each tool result, and the tools/list result as JSON.
 *
 * The peers are installed from npm into a temporary directory at bench time;
 * when the registry cannot be reached their columns say so and the rest runs.
 * "Deputy before" is the commit named by DEPUTY_BENCH_BASELINE (default: the
 * commit before the compaction), exported with `git archive` and run with
 * this checkout's node_modules.
 */
const ROOT = join(import.meta.dirname, "..");
const NODE = process.execPath;
const ROUNDS = 3;
const DEFAULT_BASELINE = "55a39feff291d1c99f2fd452b7bc2d9ba0645481";
const PEERS = ["kubernetes-mcp-server", "mcp-server-kubernetes"] as const;
const run$ = promisify(execFile);

type ServerId = "deputy" | "before" | "ts" | "go";

interface Call {
  tool: string;
  args: Record<string, unknown>;
}

interface Server {
  id: ServerId;
  label: string;
  client?: Client;
  /** Why this column has no figures. */
  skipped?: string;
  tools?: string[];
  close?: () => Promise<void>;
}

interface Scenario {
  name: string;
  calls: Record<ServerId, Call[]>;
}

interface Measure {
  tokens: number;
  ms: number;
  errors: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function textOf(result: CallToolResult): string {
  return result.content
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
}

/** The line that says what went wrong: a failed command's stderr before its "Command failed" banner. */
function firstLine(error: unknown): string {
  const stderr = (error as { stderr?: unknown } | null)?.stderr;
  const text =
    typeof stderr === "string" && stderr.trim() !== ""
      ? stderr
      : error instanceof Error
        ? error.message
        : String(error);
  return (text.split("\n").find((l) => l.trim() !== "") ?? text).trim();
}

async function connect(
  label: string,
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ client: Client; close: () => Promise<void> }> {
  const transport = new StdioClientTransport({
    command,
    args,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stderr: "ignore",
  });
  const client = new Client({ name: `deputy-bench-${label}`, version: "1.0.0" });
  await client.connect(transport);
  return { client, close: () => client.close() };
}

/** Install the peers from npm into dir; a sentence on failure. */
async function installPeers(dir: string): Promise<string | undefined> {
  try {
    await writeFile(join(dir, "package.json"), '{ "private": true }\n');
    await run$(
      "npm",
      ["install", "--no-audit", "--no-fund", "--loglevel=error", ...PEERS.map((p) => `${p}@latest`)],
      { cwd: dir, timeout: 300_000 },
    );
    return undefined;
  } catch (error) {
    return `skipped: npm install ${PEERS.join(" ")} failed, is the registry reachable? (${firstLine(error)})`;
  }
}

async function versionOf(dir: string, name: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(dir, "node_modules", name, "package.json"), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "?";
  } catch {
    return "?";
  }
}

/** Export the baseline commit with git archive; a sentence on failure. */
async function exportBaseline(ref: string, dir: string): Promise<string | undefined> {
  try {
    await run$("sh", ["-c", `git -C "$0" archive --format=tar "$1" | tar -x -C "$2"`, ROOT, ref, dir], {
      timeout: 120_000,
    });
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
    return undefined;
  } catch (error) {
    return `skipped: cannot export commit ${ref} with git archive (${firstLine(error)})`;
  }
}

async function measure(client: Client, calls: readonly Call[]): Promise<Measure> {
  const started = performance.now();
  let text = "";
  let errors = 0;
  for (const call of calls) {
    const result = (await client.callTool({ name: call.tool, arguments: call.args })) as CallToolResult;
    if (result.isError) errors += 1;
    text += `${textOf(result)}\n`;
  }
  return { tokens: countTokens(text), ms: performance.now() - started, errors };
}

function cell(value: number | string): string {
  return typeof value === "number" ? Math.round(value).toLocaleString("en-US") : value;
}

function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export async function run(): Promise<BenchReport> {
  const state = await upTestEnv({ progress: (line) => process.stderr.write(`testenv: ${line}\n`) });
  const admin = new KubeConfig();
  admin.loadFromFile(state.kubeconfig);
  await seedCluster(admin);

  const work = await mkdtemp(join(tmpdir(), "deputy-bench-tokens-"));
  const servers: Server[] = [];
  try {
    // One read-only identity for every server: deputy-reader, which cannot write or read Secrets.
    const reader = await readerKubeConfig();
    const kubeconfig = join(work, "reader.kubeconfig");
    await writeFile(kubeconfig, reader.exportConfig(), { mode: 0o600 });
    const deputyEnv = {
      KUBECONFIG: kubeconfig,
      REDIS_URL: state.redisUrl,
      // Never the default prefix: a running `npm start` shares this Redis.
      DEPUTY_REDIS_PREFIX: `deputy-bench-tokens-${randomBytes(4).toString("hex")}:`,
      LOG_LEVEL: "error",
    };

    const baseline = process.env.DEPUTY_BENCH_BASELINE || DEFAULT_BASELINE;
    const beforeDir = join(work, "deputy-before");
    const peersDir = join(work, "peers");
    await run$("mkdir", ["-p", beforeDir, peersDir]);
    const [beforeProblem, peersProblem] = await Promise.all([
      exportBaseline(baseline, beforeDir),
      installPeers(peersDir),
    ]);
    const [goVersion, tsVersion] = await Promise.all(
      PEERS.map((p) => (peersProblem ? Promise.resolve("") : versionOf(peersDir, p))),
    );

    const starts: [Server, () => Promise<{ client: Client; close: () => Promise<void> }>, string?][] = [
      [
        { id: "deputy", label: "Deputy" },
        () => connect("deputy", NODE, [join(ROOT, "cli/deputy.ts"), "mcp", "--stdio"], deputyEnv),
      ],
      [
        { id: "before", label: `Deputy before (${baseline.slice(0, 7)})` },
        () => connect("before", NODE, [join(beforeDir, "cli/deputy.ts"), "mcp", "--stdio"], deputyEnv),
        beforeProblem,
      ],
      [
        { id: "ts", label: `mcp-server-kubernetes ${tsVersion}`.trim() },
        () =>
          connect("ts", NODE, [join(peersDir, "node_modules/mcp-server-kubernetes/dist/index.js")], {
            KUBECONFIG: kubeconfig,
          }),
        peersProblem,
      ],
      [
        { id: "go", label: `kubernetes-mcp-server ${goVersion}`.trim() },
        () =>
          connect(
            "go",
            NODE,
            [join(peersDir, "node_modules/kubernetes-mcp-server/bin/index.js"), "--kubeconfig", kubeconfig],
            { KUBECONFIG: kubeconfig },
          ),
        peersProblem,
      ],
    ];
    for (const [server, start, problem] of starts) {
      servers.push(server);
      if (problem) {
        server.skipped = problem;
        continue;
      }
      try {
        const connection = await start();
        server.client = connection.client;
        server.close = connection.close;
        server.tools = (await connection.client.listTools()).tools.map((t) => t.name);
      } catch (error) {
        server.skipped = `skipped: could not start it over stdio (${firstLine(error)})`;
      }
    }

    const ns = SEED.namespace;
    const pods = await admin.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns });
    const podOf = (app: string): string => {
      const live = pods.items.filter((p) => p.metadata?.labels?.app === app && !p.metadata.deletionTimestamp);
      const broken = live.find((p) => p.status?.containerStatuses?.some((s) => !s.ready));
      return (broken ?? live[0])!.metadata!.name!;
    };
    const checkout = podOf(SEED.crashLoop.deployment);
    const recommendations = podOf(SEED.oomKilled.deployment);
    const payments = podOf(SEED.imagePull.deployment);
    const deputy = (tool: string, args: Record<string, unknown>): Call[] => [{ tool, args }];
    // What a model needs from each peer to reach the same answer.
    const podQuestion = (pod: string, container: string, logs: boolean): Record<"ts" | "go", Call[]> => ({
      ts: [
        { tool: "kubectl_describe", args: { resourceType: "pod", name: pod, namespace: ns } },
        ...(logs
          ? [
              {
                tool: "kubectl_logs",
                args: { resourceType: "pod", name: pod, namespace: ns, container, previous: true },
              },
            ]
          : []),
      ],
      go: [
        { tool: "pods_get", args: { namespace: ns, name: pod } },
        ...(logs
          ? [{ tool: "pods_log", args: { namespace: ns, name: pod, container, previous: true } }]
          : []),
        { tool: "events_list", args: { namespace: ns } },
      ],
    });
    const scenarios: Scenario[] = [
      {
        name: "crash loop: why is checkout crashing?",
        calls: {
          deputy: deputy("troubleshoot_pod", { namespace: ns, name: SEED.crashLoop.deployment }),
          before: deputy("troubleshoot_pod", { namespace: ns, name: SEED.crashLoop.deployment }),
          ...podQuestion(checkout, SEED.crashLoop.container, true),
        },
      },
      {
        name: "OOMKilled: recommendations",
        calls: {
          deputy: deputy("troubleshoot_pod", { namespace: ns, name: recommendations }),
          before: deputy("troubleshoot_pod", { namespace: ns, name: recommendations }),
          ...podQuestion(recommendations, SEED.oomKilled.container, true),
        },
      },
      {
        name: "ImagePullBackOff: payments",
        calls: {
          deputy: deputy("troubleshoot_pod", { namespace: ns, name: SEED.imagePull.deployment }),
          before: deputy("troubleshoot_pod", { namespace: ns, name: SEED.imagePull.deployment }),
          ...podQuestion(payments, SEED.imagePull.container, false),
        },
      },
      {
        name: "NotReady node: node-c",
        calls: {
          deputy: deputy("troubleshoot_node", { name: SEED.notReadyNode }),
          before: deputy("troubleshoot_node", { name: SEED.notReadyNode }),
          ts: [{ tool: "kubectl_describe", args: { resourceType: "node", name: SEED.notReadyNode } }],
          go: [{ tool: "resources_get", args: { apiVersion: "v1", kind: "Node", name: SEED.notReadyNode } }],
        },
      },
      {
        name: "unhealthy nodes (node list)",
        calls: {
          deputy: deputy("show_unhealthy_nodes", {}),
          before: deputy("show_unhealthy_nodes", {}),
          ts: [{ tool: "kubectl_get", args: { resourceType: "nodes" } }],
          go: [{ tool: "resources_list", args: { apiVersion: "v1", kind: "Node" } }],
        },
      },
      {
        name: "pod list: shop",
        calls: {
          deputy: deputy("list_pods", { namespace: ns }),
          before: deputy("list_pods", { namespace: ns }),
          ts: [{ tool: "kubectl_get", args: { resourceType: "pods", namespace: ns } }],
          go: [{ tool: "pods_list_in_namespace", args: { namespace: ns } }],
        },
      },
    ];

    // Rounds interleave the servers, so a slow moment of the shared machine hits all of them.
    const results = new Map<string, Measure[]>();
    const notes = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of scenarios) {
        for (const server of servers) {
          if (!server.client) continue;
          const calls = scenario.calls[server.id];
          const missing = calls.find((c) => !server.tools?.includes(c.tool));
          if (missing) {
            notes.add(`${server.label} has no tool ${missing.tool}; "${scenario.name}" not measured for it.`);
            continue;
          }
          const key = `${scenario.name}|${server.id}`;
          results.set(key, [...(results.get(key) ?? []), await measure(server.client, calls)]);
        }
      }
    }

    const header = ["scenario", ...servers.map((s) => s.label)];
    const figure = (name: string, server: Server, pick: (m: Measure) => number): string => {
      const runs = results.get(`${name}|${server.id}`);
      if (!server.client || !runs) return "-";
      const errors = runs.some((r) => r.errors > 0) ? " (error)" : "";
      return `${cell(median(runs.map(pick)))}${errors}`;
    };
    const listTokens = async (server: Server): Promise<string> => {
      if (!server.client) return "-";
      const { tools } = await server.client.listTools();
      return `${cell(countTokens(JSON.stringify(tools)))} (${tools.length} tools)`;
    };
    const tokenRows = scenarios.map((s) => [
      s.name,
      ...servers.map((srv) => figure(s.name, srv, (m) => m.tokens)),
    ]);
    tokenRows.push(["tools/list", ...(await Promise.all(servers.map(listTokens)))]);
    const msRows = scenarios.map((s) => [s.name, ...servers.map((srv) => figure(s.name, srv, (m) => m.ms))]);

    const legend = [
      "Calls per scenario — Deputy: one troubleshoot_pod / troubleshoot_node / show_unhealthy_nodes / list_pods;",
      "mcp-server-kubernetes: kubectl_describe (+ kubectl_logs previous=true for crashes), kubectl_get for lists;",
      "kubernetes-mcp-server: pods_get (+ pods_log previous=true) + events_list for pods, resources_get/resources_list for nodes, pods_list_in_namespace.",
    ];
    const skips = servers.filter((s) => s.skipped).map((s) => `${s.label}: ${s.skipped}`);
    const text = [
      `Tokens (Claude tokenizer, median of ${ROUNDS} interleaved rounds; tool result text as a client passes it to the model):`,
      renderTable(header, tokenRows),
      "",
      `Time per scenario in ms over stdio (median of ${ROUNDS}):`,
      renderTable(header, msRows),
      "",
      ...legend,
      ...notes,
      ...skips,
      "",
    ].join("\n");

    const lines: BenchLine[] = [];
    const deputyServer = servers.find((s) => s.id === "deputy")!;
    for (const scenario of scenarios) {
      const runs = results.get(`${scenario.name}|deputy`);
      if (runs)
        lines.push({
          name: `tokens: ${scenario.name}`,
          value: median(runs.map((r) => r.tokens)),
          unit: "tokens",
        });
    }
    if (deputyServer.client) {
      const { tools } = await deputyServer.client.listTools();
      lines.push({ name: "tokens: tools/list", value: countTokens(JSON.stringify(tools)), unit: "tokens" });
    }
    return { text, lines };
  } finally {
    await Promise.all(servers.map((s) => s.close?.().catch(() => undefined)));
    await rm(work, { recursive: true, force: true });
  }
}
