import { createServer } from "node:http";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { SEED, seedCluster as seedWith } from "../devenv/seed.ts";
import { upTestEnv } from "../devenv/testenv.ts";
import { countTokens } from "../test/helpers/tokens.ts";
import { startHarness, type Harness } from "../test/mcp/harness.ts";
import { interleaved, spreadNote, spreadOf, type Sample } from "./compare.ts";
import type { BenchLine } from "./run.ts";
import { inSpan, startTracing } from "../core/observability/tracing.ts";

/**
 * MCP overhead: list_pods and troubleshoot_pod through the in-memory MCP
 * client (validation, audit, rendering, budget, redaction, fencing) against
 * the same Kubernetes reads done directly with client-node, in the same run
 * on the seeded cluster (each side three times, interleaved, with the
 * spread printed), and the size in tokens of each tool's answer for
 * each seeded problem; and a write proposal's latency with the API
 * server's dry run against the same proposal with its answer replayed.
 * Brings the local test environment up if needed.
 */
const ROUNDS = 40;
const WARMUP = 10;

/** Receives OTLP/HTTP JSON exports and counts their spans. */
async function startOtlpSink(): Promise<{ url: string; spans: () => number; close: () => void }> {
  let spans = 0;
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      spans += (body.match(/"spanId"/g) ?? []).length;
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans: () => spans, close: () => server.close() };
}

async function timeIt(rounds: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * One write proposal (scale_deployment) with the preview identity's real dry
 * run, against the same proposal whose dry-run answer is replayed from memory
 * (everything else the same: reads, guardrails, diff, signing, Redis), in
 * interleaved rounds: the difference is what the dry run costs.
 */
async function proposalLatency(
  h: Harness,
  deployment: string,
): Promise<Record<"real" | "replayed", Sample[]>> {
  const preview = h.deps.preview;
  if (!preview) throw new Error("the harness has no preview identity");
  const answers = new Map<string, Awaited<ReturnType<typeof preview.dryRun>>>();
  const replaying: typeof preview = {
    ...preview,
    async dryRun(request, signal) {
      const key = JSON.stringify(request);
      const known = answers.get(key);
      if (known) return known;
      const answer = await preview.dryRun(request, signal);
      answers.set(key, answer);
      return answer;
    },
  };
  const meta = { "deputy/requester": { kind: "slack", id: "UBENCH", teamId: "TBENCH" } };
  let replicas = 0;
  const propose = async (): Promise<void> => {
    // Alternate two values: each is a real change, and the replayed side sees the same requests.
    replicas = replicas === 7 ? 8 : 7;
    const reply = await h.call(
      "scale_deployment",
      { namespace: SEED.namespace, name: deployment, replicas },
      meta,
    );
    if (reply.isError) throw new Error(`scale_deployment was refused: ${reply.text}`);
  };
  const side = (use: typeof preview) => async (): Promise<Sample> => {
    h.deps.preview = use;
    try {
      for (let i = 0; i < WARMUP; i++) await propose();
      const timings: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const start = performance.now();
        await propose();
        timings.push(performance.now() - start);
      }
      return { p50: percentile(timings, 50), p95: percentile(timings, 95) };
    } finally {
      h.deps.preview = preview;
    }
  };
  return interleaved({ real: side(preview), replayed: side(replaying) });
}

export async function run(): Promise<BenchLine[]> {
  const state = await upTestEnv({ progress: (line) => process.stderr.write(`testenv: ${line}\n`) });
  const admin = new KubeConfig();
  admin.loadFromFile(state.kubeconfig);
  await seedWith(admin);
  const h: Harness = await startHarness({
    env: { DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "10000", DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: "10000" },
  });
  // The direct baseline uses the same read identity, through client-node's typed API.
  const reader = h.deps.kube.kubeConfig;
  const core = reader.makeApiClient(CoreV1Api);
  try {
    const ns = SEED.namespace;
    const pods = await core.listNamespacedPod({ namespace: ns });
    const podOf = (app: string): string => {
      const live = pods.items.filter((p) => p.metadata?.labels?.app === app && !p.metadata.deletionTimestamp);
      const broken = live.find((p) => p.status?.containerStatuses?.some((s) => !s.ready));
      return (broken ?? live[0])!.metadata!.name!;
    };
    const checkout = podOf(SEED.crashLoop.deployment);

    // Each side is measured three times, interleaved, so load on the machine falls on all of them alike.
    const list = await interleaved({
      direct: async () => ({ ms: await timeIt(ROUNDS, () => core.listNamespacedPod({ namespace: ns })) }),
      // The same read through Deputy's own wrapper isolates what MCP, validation,
      // audit and rendering add on top of the API call.
      wrapper: async () => ({
        ms: await timeIt(ROUNDS, () => h.deps.kube.core.listPods(ns, { limit: 100 })),
      }),
      mcp: async () => ({ ms: await timeIt(ROUNDS, () => h.call("list_pods", { namespace: ns })) }),
    });
    const troubleshoot = await interleaved({
      direct: async () => ({
        ms: await timeIt(ROUNDS, async () => {
          const pod = await core.readNamespacedPod({ namespace: ns, name: checkout });
          await Promise.all([
            core.listNamespacedEvent({
              namespace: ns,
              fieldSelector: `involvedObject.name=${checkout},involvedObject.kind=Pod,involvedObject.namespace=${ns},involvedObject.uid=${pod.metadata!.uid}`,
            }),
            core.readNode({ name: pod.spec!.nodeName! }),
            core
              .readNamespacedPodLog({
                namespace: ns,
                name: checkout,
                container: SEED.crashLoop.container,
                previous: true,
                tailLines: 60,
              })
              .catch(() => ""),
          ]);
        }),
      }),
      mcp: async () => ({
        ms: await timeIt(ROUNDS, () => h.call("troubleshoot_pod", { namespace: ns, name: checkout })),
      }),
    });
    // Tracing off (what ships by default) against tracing on, exporting to a local OTLP receiver.
    const receiver = await startOtlpSink();
    const traced = await interleaved({
      off: async () => ({ ms: await timeIt(ROUNDS, () => h.call("list_pods", { namespace: ns })) }),
      on: async () => {
        const tracing = startTracing("deputy-bench", {
          OTEL_TRACES_EXPORTER: "otlp",
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        });
        try {
          return { ms: await timeIt(ROUNDS, () => h.call("list_pods", { namespace: ns })) };
        } finally {
          await tracing.shutdown();
        }
      },
    });
    receiver.close();
    // What one span costs while tracing is off: the API's no-op tracer around an empty async call.
    const CALLS = 100_000;
    const perCall = async (fn: () => Promise<unknown>): Promise<number> => {
      const start = performance.now();
      for (let i = 0; i < CALLS; i++) await fn();
      return ((performance.now() - start) * 1e6) / CALLS;
    };
    const spanOff = await interleaved({
      bare: async () => ({ ns: await perCall(async () => undefined) }),
      span: async () => ({ ns: await perCall(() => inSpan("bench", {}, async () => undefined)) }),
    });
    const proposals = await proposalLatency(h, SEED.crashLoop.deployment);
    const ms = (samples: Sample[]): number[] => samples.map((sample) => sample.ms!);
    const ratios = (a: Sample[], b: Sample[]): number[] => a.map((sample, i) => sample.ms! / b[i]!.ms!);
    const median = (values: number[]): number => spreadOf(values).median;
    const directList = median(ms(list.direct));
    const wrapperList = median(ms(list.wrapper));
    const mcpList = median(ms(list.mcp));
    const directTroubleshoot = median(ms(troubleshoot.direct));
    const mcpTroubleshoot = median(ms(troubleshoot.mcp));
    const unit = (values: number[], what = "ms"): string => `${what} (${spreadNote(values)})`;

    const lines: BenchLine[] = [
      {
        name: "list_pods shop: direct client-node (median)",
        value: Number(directList.toFixed(2)),
        unit: unit(ms(list.direct)),
      },
      {
        name: "list_pods shop: through MCP in-memory (median)",
        value: Number(mcpList.toFixed(2)),
        unit: unit(ms(list.mcp)),
      },
      {
        name: "list_pods overhead (MCP / direct, goal ≤ 1.2)",
        value: Number(median(ratios(list.mcp, list.direct)).toFixed(2)),
        unit: unit(ratios(list.mcp, list.direct), "x"),
      },
      {
        name: "list_pods shop: Deputy kube wrapper only (median)",
        value: Number(wrapperList.toFixed(2)),
        unit: unit(ms(list.wrapper)),
      },
      {
        name: "list_pods: MCP layer cost (MCP / wrapper)",
        value: Number(median(ratios(list.mcp, list.wrapper)).toFixed(2)),
        unit: unit(ratios(list.mcp, list.wrapper), "x"),
      },
      {
        name: "list_pods through MCP, tracing off (median)",
        value: Number(median(ms(traced.off)).toFixed(2)),
        unit: unit(ms(traced.off)),
      },
      {
        name: `list_pods through MCP, tracing on, OTLP export (median; ${receiver.spans()} spans received)`,
        value: Number(median(ms(traced.on)).toFixed(2)),
        unit: unit(ms(traced.on)),
      },
      {
        name: "tracing overhead (on / off)",
        value: Number(median(ratios(traced.on, traced.off)).toFixed(2)),
        unit: unit(ratios(traced.on, traced.off), "x"),
      },
      {
        name: "one span with tracing off: added cost per call (median)",
        value: Number(median(spanOff.span.map((sample, i) => sample.ns! - spanOff.bare[i]!.ns!)).toFixed(0)),
        unit: `ns (${spreadNote(spanOff.span.map((sample, i) => sample.ns! - spanOff.bare[i]!.ns!))})`,
      },
      {
        name: "troubleshoot_pod checkout: direct client-node (median)",
        value: Number(directTroubleshoot.toFixed(2)),
        unit: unit(ms(troubleshoot.direct)),
      },
      {
        name: "troubleshoot_pod checkout: through MCP (median)",
        value: Number(mcpTroubleshoot.toFixed(2)),
        unit: unit(ms(troubleshoot.mcp)),
      },
      {
        name: "troubleshoot_pod overhead (MCP / direct, goal ≤ 1.2)",
        value: Number(median(ratios(troubleshoot.mcp, troubleshoot.direct)).toFixed(2)),
        unit: unit(ratios(troubleshoot.mcp, troubleshoot.direct), "x"),
      },
    ];

    for (const [side, label] of [
      ["real", "with the API server's dry run"],
      ["replayed", "dry-run answer replayed (no API round trip)"],
    ] as const) {
      for (const p of [50, 95] as const) {
        const values = proposals[side].map((sample) => sample[`p${p}`]!);
        lines.push({
          name: `scale_deployment proposal, ${label}: p${p} (median of rounds)`,
          value: Number(median(values).toFixed(2)),
          unit: unit(values),
        });
      }
    }
    const cost = proposals.real.map((sample, i) => sample.p50! - proposals.replayed[i]!.p50!);
    lines.push({
      name: "what the dry run adds to a proposal (p50 difference)",
      value: Number(median(cost).toFixed(2)),
      unit: unit(cost),
    });
    const sizes: [string, string, Record<string, unknown>][] = [
      ["crash loop: troubleshoot_pod checkout", "troubleshoot_pod", { namespace: ns, name: "checkout" }],
      [
        "OOMKilled: troubleshoot_pod recommendations",
        "troubleshoot_pod",
        { namespace: ns, name: podOf(SEED.oomKilled.deployment) },
      ],
      [
        "ImagePullBackOff: troubleshoot_pod payments",
        "troubleshoot_pod",
        { namespace: ns, name: "payments" },
      ],
      ["NotReady node: troubleshoot_node node-c", "troubleshoot_node", { name: SEED.notReadyNode }],
      ["unhealthy nodes: show_unhealthy_nodes", "show_unhealthy_nodes", {}],
      [
        "PDB: get_resource pdb db-pdb",
        "get_resource",
        { kind: "pdb", name: SEED.statefulSet.pdb, namespace: ns },
      ],
      [
        "Argo CD: describe_deployment catalog",
        "describe_deployment",
        { namespace: ns, name: SEED.argoManaged.deployment },
      ],
      [
        "rollout: describe_deployment payments",
        "describe_deployment",
        { namespace: ns, name: SEED.imagePull.deployment },
      ],
      ["list_pods shop", "list_pods", { namespace: ns }],
      ["describe_pod checkout", "describe_pod", { namespace: ns, pod: checkout }],
      ["check_logs checkout (100 lines)", "check_logs", { namespace: ns, pod: checkout }],
      ["get_events shop", "get_events", { namespace: ns }],
      ["list_deployments shop", "list_deployments", { namespace: ns }],
      ["list_namespaces", "list_namespaces", {}],
      ["kubectl get pods,svc -n shop", "kubectl", { command: "get pods,svc -n shop" }],
    ];
    for (const [label, tool, args] of sizes) {
      const reply = await h.call(tool, args);
      if (reply.isError) throw new Error(`${tool} failed: ${reply.text}`);
      lines.push({ name: `tokens: ${label}`, value: countTokens(reply.text), unit: "tokens" });
    }
    return lines;
  } finally {
    await h.close();
  }
}
