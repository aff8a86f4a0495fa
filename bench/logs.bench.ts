import { execFile } from "node:child_process";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { comparisonLines, interleaved, MIN_ROUNDS, type Sample } from "./compare.ts";
import type { BenchLine } from "./run.ts";

/**
 * What the tail of a 100 MB log costs in memory: Deputy's reader
 * (core/kube/log-tail.ts, used by check_logs and the full-log upload) keeps
 * the last lines and one chunk, beside the alternative of reading the whole
 * log and splitting it. Each side runs in a fresh process (a clean heap),
 * at least three times, interleaved; the growth of the peak RSS is printed
 * with its spread. Tests assert the bound as bytes held (log-tail.test.ts),
 * which machine load cannot move; this is the figure in megabytes.
 */
const SIZE_MB = 100;
const TAIL_LINES = 2000;

async function writeLog(file: string): Promise<string> {
  const handle = await open(file, "w");
  let i = 0;
  let written = 0;
  while (written < SIZE_MB * 1024 * 1024) {
    let chunk = "";
    while (chunk.length < 1024 * 1024)
      chunk += `2025-01-01T00:00:00Z INFO request ${i++} handled in 3ms ${"x".repeat(60)}\n`;
    await handle.write(chunk);
    written += chunk.length;
  }
  const last = `final line ${i}`;
  await handle.write(`${last}\n`);
  await handle.close();
  return last;
}

export async function run(): Promise<BenchLine[]> {
  const dir = await mkdtemp(join(tmpdir(), "deputy-bench-logs-"));
  try {
    const file = join(dir, "big.log");
    const last = await writeLog(file);
    const side = (mode: "stream" | "whole") => async (): Promise<Sample> => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(import.meta.dirname, "log-memory-worker.ts"), mode, file, String(TAIL_LINES)],
        { maxBuffer: 1024 * 1024 },
      );
      const result = JSON.parse(stdout) as { peakGrowthMb: number; ms: number; last?: string };
      if (result.last !== last) throw new Error(`${mode}: the tail ends in "${result.last}", not "${last}"`);
      return { peakGrowthMb: result.peakGrowthMb, ms: result.ms };
    };
    const samples = await interleaved({ stream: side("stream"), whole: side("whole") }, MIN_ROUNDS);
    return [
      {
        name: "log size",
        value: SIZE_MB,
        unit: `MiB; the last ${TAIL_LINES.toLocaleString("en-US")} lines kept`,
      },
      ...comparisonLines(samples, { stream: "Deputy's streaming tail", whole: "whole log read and split" }, [
        { key: "peakGrowthMb", name: "peak RSS growth", unit: "MiB" },
        { key: "ms", name: "time", unit: "ms" },
      ]),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
