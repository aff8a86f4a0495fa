import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateTokens } from "../../../../core/untrusted/output-budget.ts";
import { createLimiter } from "../../../../core/kube/limiter.ts";
import { adminKubeConfig, deleteNamespace, freshNamespace } from "../../../helpers/testenv.ts";
import { startHarness, type Harness } from "../../harness.ts";

/**
 * The output budget on a namespace with 1,000 pods: every answer fits the
 * budget, says how many more there are, and paging with `continue` reaches
 * every pod exactly once.
 */
const PODS = 1000;
const BUDGET = 4000;
let h: Harness;
let ns: string;

beforeAll(async () => {
  h = await startHarness({ env: { DEPUTY_OUTPUT_TOKEN_BUDGET: String(BUDGET) } });
  ns = await freshNamespace("budget");
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const limiter = createLimiter(24);
  const started = Date.now();
  await Promise.all(
    Array.from({ length: PODS }, (_, i) =>
      limiter.run(() =>
        core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: {
              name: `load-${String(i).padStart(4, "0")}-worker`,
              labels: { app: "load", shard: String(i % 10) },
              // The simulator only marks these unschedulable: cheap, and they need not run.
              annotations: { "testenv.deputy.dev/simulate": "pending" },
            },
            spec: {
              containers: [{ name: "app", image: "busybox:1.36", resources: { requests: { cpu: "10m" } } }],
            },
          },
        }),
      ),
    ),
  );
  process.stderr.write(`budget.test: created ${PODS} pods in ${Date.now() - started} ms\n`);
}, 300_000);

afterAll(async () => {
  await h?.close();
  if (ns) await deleteNamespace(ns);
});

describe(`a namespace with ${PODS} pods`, () => {
  it("list_pods fits the budget, says how many remain, and pages through every pod once", async () => {
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const reply = await h.call("list_pods", {
        namespace: ns,
        limit: 500,
        ...(token ? { continue: token } : {}),
      });
      expect(reply.isError, reply.text).toBe(false);
      expect(estimateTokens(reply.text)).toBeLessThanOrEqual(BUDGET);
      expect(estimateTokens(JSON.stringify(reply.structured))).toBeLessThanOrEqual(BUDGET);
      const pods = reply.structured?.pods as { name: string }[];
      for (const pod of pods) {
        expect(seen.has(pod.name)).toBe(false);
        seen.add(pod.name);
      }
      token = (reply.structured?.continue as string | null) ?? undefined;
      if (token) {
        expect(reply.text).toMatch(
          new RegExp(
            `${(reply.structured?.remaining as number).toLocaleString("en-US")} more — call again with continue=`,
          ),
        );
      }
      if (pages === 0)
        expect(reply.text).toMatch(/Page size reduced from 500 to \d+ to fit the output budget/);
      pages += 1;
    } while (token && pages < 50);
    expect(seen.size).toBe(PODS);
    expect(pages).toBeGreaterThan(1);
  });

  it("unhealthyOnly counts all of them but shows what fits", async () => {
    const reply = await h.call("list_pods", { namespace: ns, unhealthyOnly: true });
    expect(reply.text).toMatch(/^1,000 unhealthy pods of 1,000 in namespace/);
    expect(estimateTokens(reply.text)).toBeLessThanOrEqual(BUDGET);
    expect(reply.structured?.totalMatching).toBe(PODS);
  });

  it("get_events, kubectl get and troubleshoot_node stay within budget", async () => {
    for (const [tool, args] of [
      ["get_events", { namespace: ns, limit: 200 }],
      ["kubectl", { command: `get pods -n ${ns} -o wide` }],
      ["kubectl", { command: `get pods -n ${ns} -o yaml --limit 200` }],
      ["kubectl", { command: `get pods -A` }],
      ["list_pods", {}],
    ] as const) {
      const reply = await h.call(tool, args);
      expect(reply.isError, `${tool} ${JSON.stringify(args)}: ${reply.text.slice(0, 300)}`).toBe(false);
      expect(estimateTokens(reply.text), `${tool} ${JSON.stringify(args)}`).toBeLessThanOrEqual(BUDGET);
    }
  });
});
