import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ALLOWED_IMPORTS,
  CODE_FOLDERS,
  codeFiles,
  forbiddenImports,
  forbiddenImportsIn,
  importClosure,
  importCycles,
  importGraph,
  importSpecifiers,
  docImportTable,
} from "./helpers/imports.ts";

const ROOT = resolve(import.meta.dirname, "..");

/**
 * The layering, held: every file's imports against the table in
 * test/helpers/imports.ts (and docs/architecture.md).
 */
describe("the import table", () => {
  it("is kept by every file in the repository", () => {
    const files = CODE_FOLDERS.flatMap((folder) => codeFiles(ROOT, folder));
    // The walk really reads the product: a broken walk would pass with nothing.
    for (const folder of ["cli", "console", "bot", "watcher", "mcp", "executor", "core", "devenv", "test"]) {
      expect(
        files.some((file) => file.startsWith(`${folder}/`)),
        folder,
      ).toBe(true);
    }
    expect(forbiddenImportsIn(ROOT)).toEqual([]);
  });

  it("reads static, type-only, re-exported and dynamic imports", () => {
    const source = [
      'import { a } from "../core/a.ts";',
      'import type { B } from "../bot/b.ts";',
      'export { c } from "./c.ts";',
      'const d = await import("../cli/d.ts");',
      'import "../test/e.ts";',
    ].join("\n");
    expect(importSpecifiers(source)).toEqual([
      "../core/a.ts",
      "../bot/b.ts",
      "./c.ts",
      "../cli/d.ts",
      "../test/e.ts",
    ]);
  });

  it("fails on the edges the layering forbids", () => {
    const edge = (file: string, specifier: string): string[] =>
      forbiddenImports(file, `import { x } from "${specifier}";`).map((e) => `${e.from}→${e.to}`);
    expect(edge("bot/wiring.ts", "../cli/commands/mcp.ts")).toEqual(["bot→cli"]);
    expect(edge("executor/wiring.ts", "../mcp/policy/index.ts")).toEqual(["executor→mcp"]);
    expect(edge("core/actions/store.ts", "../../executor/wiring.ts")).toEqual(["core→executor"]);
    expect(edge("mcp/server.ts", "../console/card.ts")).toEqual(["mcp→console"]);
    expect(edge("watcher/triage.ts", "../bot/sanitize.ts")).toEqual(["watcher→bot"]);
    expect(edge("console/local-cluster.ts", "../test/helpers/testenv.ts")).toEqual(["console→test"]);
    expect(edge("bot/app.ts", "../devenv/seed.ts")).toEqual(["bot→devenv"]);
    expect(edge("devenv/seed.ts", "../bot/app.ts")).toEqual(["devenv→bot"]);
    // Type-only and dynamic imports count the same.
    expect(forbiddenImports("executor/x.ts", 'import type { McpDeps } from "../mcp/deps.ts";')).toHaveLength(
      1,
    );
    expect(forbiddenImports("core/x.ts", 'const m = await import("../bot/wiring.ts");')).toHaveLength(1);
    // Leaving the repository is never allowed.
    expect(edge("core/x.ts", "../../elsewhere/y.ts")).toEqual(["core→.."]);
  });

  it("allows each layer the layers below it, and devenv only to the CLI, the console, benchmarks and tests", () => {
    const edge = (file: string, specifier: string): number =>
      forbiddenImports(file, `import { x } from "${specifier}";`).length;
    expect(edge("cli/commands/start.ts", "../../console/local-mode.ts")).toBe(0);
    expect(edge("console/local-mode.ts", "../bot/wiring.ts")).toBe(0);
    expect(edge("bot/wiring.ts", "../watcher/wiring.ts")).toBe(0);
    expect(edge("watcher/wiring.ts", "../mcp/wiring.ts")).toBe(0);
    expect(edge("mcp/wiring.ts", "../executor/wiring.ts")).toBe(0);
    expect(edge("executor/wiring.ts", "../core/config/config.ts")).toBe(0);
    const mayImportDevenv = Object.entries(ALLOWED_IMPORTS)
      .filter(([, allowed]) => allowed.includes("devenv"))
      .map(([folder]) => folder)
      .sort();
    expect(mayImportDevenv).toEqual(["bench", "cli", "console", "devenv", "test"]);
  });

  it("is the table docs/architecture.md shows, naming every top-level folder", () => {
    const table = docImportTable(readFileSync(resolve(ROOT, "docs", "architecture.md"), "utf8"));
    expect([...table.keys()].sort()).toEqual([...CODE_FOLDERS, "manifests"].sort());
    for (const [folder, allowed] of Object.entries(ALLOWED_IMPORTS)) {
      const others = allowed.filter((to) => to !== folder);
      expect(table.get(folder)?.sort(), folder).toEqual([...others].sort());
    }
    expect(table.get("manifests")).toEqual([]);
  });

  it("keeps the development environment and local mode out of deputy bot, mcp and executor", () => {
    for (const command of ["bot", "mcp", "executor"]) {
      const loaded = [...importClosure(ROOT, `cli/commands/${command}.ts`)];
      expect(loaded.length, command).toBeGreaterThan(10);
      expect(
        loaded.filter((file) => /^(devenv|console|test)\//.test(file)),
        command,
      ).toEqual([]);
    }
  });
});

/**
 * No circles: a file never reaches itself through its imports (type-only and
 * dynamic ones too), so each file can be read, tested and moved after the
 * files it uses. A shared type or value lives below both of its users.
 */
describe("the import graph", () => {
  it("has no circle anywhere in the repository", () => {
    const graph = importGraph(ROOT, CODE_FOLDERS);
    // The walk really reads the product and follows its imports.
    expect(graph.get("bot/app.ts")).toContain("bot/deps.ts");
    expect(graph.get("mcp/diagnose/pod.ts")).toContain("mcp/diagnose/pod-rules.ts");
    expect(importCycles(graph)).toEqual([]);
  });

  it("finds circles of any length, and a file that imports itself", () => {
    const graph = new Map<string, string[]>([
      ["bot/deps.ts", ["bot/handlers/verify-outcome.ts"]],
      ["bot/handlers/verify-outcome.ts", ["bot/handlers/question.ts", "bot/deps.ts"]],
      ["bot/handlers/question.ts", ["bot/deps.ts"]],
      ["mcp/diagnose/pod.ts", ["mcp/diagnose/pod-rules.ts", "mcp/diagnose/types.ts"]],
      ["mcp/diagnose/pod-rules.ts", ["mcp/diagnose/pod.ts"]],
      ["mcp/diagnose/types.ts", []],
      ["core/a.ts", ["core/a.ts"]],
      ["core/b.ts", ["core/a.ts"]],
    ]);
    expect(importCycles(graph)).toEqual([
      ["bot/deps.ts", "bot/handlers/question.ts", "bot/handlers/verify-outcome.ts"],
      ["core/a.ts"],
      ["mcp/diagnose/pod-rules.ts", "mcp/diagnose/pod.ts"],
    ]);
  });
});
