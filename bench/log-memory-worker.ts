import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { tailLogStream } from "../core/kube/log-tail.ts";

/**
 * One side of bench/logs.bench.ts in a process of its own, so that each
 * measurement starts from a clean heap: the last `tailLines` lines of a log
 * file, either streamed through Deputy's tail reader or read whole and split
 * (the alternative). Prints the growth of the process's peak RSS (getrusage
 * maxrss, which catches a peak between samples) and the time taken.
 *
 *   node bench/log-memory-worker.ts stream|whole <file> <tailLines>
 */
async function main(): Promise<void> {
  const [mode, file, tailText] = process.argv.slice(2);
  if ((mode !== "stream" && mode !== "whole") || !file || !tailText) {
    throw new Error("usage: log-memory-worker.ts stream|whole <file> <tailLines>");
  }
  const tailLines = Number(tailText);
  const peakBefore = process.resourceUsage().maxRSS;
  const started = performance.now();
  let last: string | undefined;
  if (mode === "stream") {
    const tail = await tailLogStream(createReadStream(file), { tailLines, maxLineChars: 2000 });
    last = tail.lines.at(-1);
  } else {
    const lines = (await readFile(file, "utf8")).split("\n");
    if (lines.at(-1) === "") lines.pop();
    last = lines.slice(-tailLines).at(-1);
  }
  const ms = performance.now() - started;
  const peakGrowthMb = (process.resourceUsage().maxRSS - peakBefore) / 1024;
  process.stdout.write(`${JSON.stringify({ peakGrowthMb, ms, last })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`log-memory-worker: ${String(error)}\n`);
  process.exitCode = 1;
});
