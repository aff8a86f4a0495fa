import { open } from "node:fs/promises";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateTokens } from "../../../../core/untrusted/output-budget.ts";
import { extractFenced } from "../../../../core/untrusted/fence.ts";
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
 * a grep scans the whole log through the API server's stream. That the scan
 * holds the tail and one chunk, not the log, is counted in
 * test/core/kube/log-tail.test.ts; the memory it costs beside holding the log
 * is measured by `npm run bench -- logs`.
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
  // The fake kubelet binds within a second when idle; on a loaded 2-core machine (the whole
  // suite running) one run took over 30 s, so this waits up to 90 s of the hook's 120.
  await eventually(
    "pod bound",
    async () => Boolean((await core.readNamespacedPod({ namespace: ns, name: "chatty" })).spec?.nodeName),
    { timeoutMs: 90_000 },
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

  it("grep scans the whole log through the stream and finds the one match", async () => {
    const reply = await h.call("check_logs", { namespace: ns, pod: "chatty", grep: "needle" });
    expect(reply.isError, reply.text).toBe(false);
    expect(reply.structured?.matchedLines).toBe(1);
    expect(reply.structured?.scannedBytes as number).toBeGreaterThan(SIZE);
    expect(extractFenced(reply.text)[0]?.text).toContain("ERROR needle: upstream timed out");
  }, 180_000);
});
