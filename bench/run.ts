import { readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * `npm run bench`: runs the exported `run()` of every bench/*.bench.ts module
 * (or only those whose name contains an argument, e.g. `npm run bench -- mcp`)
 * and prints one table per module.
 */
export interface BenchLine {
  name: string;
  value: number;
  unit: string;
}

/** A module may print a table of its own (e.g. side-by-side columns) before its lines. */
export interface BenchReport {
  text: string;
  lines: BenchLine[];
}

interface BenchModule {
  run: () => Promise<BenchLine[] | BenchReport>;
}

function format(value: number): string {
  return Number.isInteger(value)
    ? value.toLocaleString("en-US")
    : value.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

async function main(filters: string[]): Promise<number> {
  const dir = import.meta.dirname;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".bench.ts"))
    .filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter)))
    .sort();
  if (files.length === 0) {
    process.stderr.write(`bench: no bench/*.bench.ts module matches ${filters.join(", ")}\n`);
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    const started = performance.now();
    process.stdout.write(`\n## ${file}\n`);
    try {
      const module = (await import(pathToFileURL(join(dir, file)).href)) as Partial<BenchModule>;
      if (typeof module.run !== "function") throw new Error("exports no run()");
      const outcome = await module.run();
      const lines = Array.isArray(outcome) ? outcome : outcome.lines;
      if (!Array.isArray(outcome)) process.stdout.write(`${outcome.text}\n`);
      const width = Math.max(20, ...lines.map((l) => l.name.length));
      const valueWidth = Math.max(8, ...lines.map((l) => format(l.value).length));
      process.stdout.write(`${"measure".padEnd(width)}  ${"value".padStart(valueWidth)}  unit\n`);
      process.stdout.write(`${"-".repeat(width)}  ${"-".repeat(valueWidth)}  ----\n`);
      for (const line of lines) {
        process.stdout.write(
          `${line.name.padEnd(width)}  ${format(line.value).padStart(valueWidth)}  ${line.unit}\n`,
        );
      }
      process.stdout.write(`(${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    } catch (error) {
      failed += 1;
      process.stdout.write(
        `FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
  }
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Benchmarks may leave keep-alive sockets or Redis connections open.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
