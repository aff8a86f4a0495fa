import { open } from "node:fs/promises";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateTokens } from "../../../../core/budget.ts";
import { extractFenced } from "../../../../core/fence.ts";
import {
  adminKubeConfig,
  deleteNamespace,
  eventually,
  freshNamespace,
  writePodLog,
} from "../../../helpers/testenv.ts";
import { startHarness, type Harness } from "../../harness.ts";

/**
 * A 100 MB container log: check_logs returns the tail within the budget, and
 * even a grep over the whole log streams it without holding it in memory.
 */
const SIZE = 100 * 1024 * 1024;
let h: Harness;
let ns: string;

beforeAll(async () => {
  h = await startHarness();
  ns = await freshNamespace("biglog");
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name: "chatty" }, spec: { containers: [{ name: "app", image: "busybox:1.36" }] } },
  });
  await eventually("pod bound", async () =>
    Boolean((await core.readNamespacedPod({ namespace: ns, name: "chatty" })).spec?.nodeName),
  );
  const file = await writePodLog(ns, "chatty", "app", "");
  const handle = await open(file, "w");
  const line = (i: number): string =>
    `2025-01-01T00:00:00Z INFO request ${i} handled in 3ms ${"x".repeat(60)}\n`;
  let chunk = "";
  let written = 0;
  let i = 0;
  while (written < SIZE) {
    chunk += line(i++);
    if (chunk.length >= 1024 * 1024) {
      await handle.write(chunk);
      written += chunk.length;
      chunk = "";
    }
  }
  await handle.write(`${chunk}2025-01-01T00:00:01Z ERROR needle: upstream timed out\nfinal line ${i}\n`);
  await handle.close();
}, 120_000);

afterAll(async () => {
  await h?.close();
  if (ns) await deleteNamespace(ns);
});

function rssMb(): number {
  return process.memoryUsage().rss / 1048576;
}

describe("a 100 MB log", () => {
  it("check_logs returns the tail within budget, quickly", async () => {
    const started = performance.now();
    const reply = await h.call("check_logs", { namespace: ns, pod: "chatty", tailLines: 2000 });
    const ms = performance.now() - started;
    expect(reply.isError, reply.text).toBe(false);
    expect(estimateTokens(reply.text)).toBeLessThanOrEqual(h.deps.config.kube.outputTokenBudget);
    const log = extractFenced(reply.text)[0]!.text;
    expect(log).toMatch(/final line \d+\n?$/);
    expect(log).toMatch(/^\[… [\d,]+ earlier lines \([\d.]+ KB\) cut to fit the output budget\]/);
    process.stderr.write(`big-log.test: tail of 100 MB log in ${ms.toFixed(0)} ms\n`);
  }, 120_000);

  it("grep streams the whole log with bounded memory", async () => {
    globalThis.gc?.();
    const before = rssMb();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb());
    }, 20);
    const started = performance.now();
    const reply = await h.call("check_logs", { namespace: ns, pod: "chatty", grep: "needle" });
    clearInterval(sampler);
    const ms = performance.now() - started;
    expect(reply.isError, reply.text).toBe(false);
    expect(reply.structured?.matchedLines).toBe(1);
    expect(reply.structured?.scannedBytes as number).toBeGreaterThan(SIZE);
    expect(extractFenced(reply.text)[0]?.text).toContain("ERROR needle: upstream timed out");
    process.stderr.write(
      `big-log.test: grep over 100 MB in ${ms.toFixed(0)} ms, RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB\n`,
    );
    // Holding the log would cost at least its 100 MB (plus chunk copies); streaming costs chunks and GC slack.
    expect(peak - before).toBeLessThan(100);
  }, 180_000);
});
