import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import ts from "typescript";

/**
 * Which top-level folder may import which: the layering
 * cli → console → bot → watcher → mcp → executor → core, each layer taking
 * from itself and the layers below it. docs/architecture.md shows the same
 * table; test/architecture.test.ts holds every file to it.
 */
export const LAYERS = ["cli", "console", "bot", "watcher", "mcp", "executor", "core"] as const;

const below = (layer: (typeof LAYERS)[number]): string[] => LAYERS.slice(LAYERS.indexOf(layer));

export const ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  bin: ["cli"],
  cli: [...below("cli"), "prompts", "devenv"],
  console: [...below("console"), "prompts", "devenv"],
  bot: [...below("bot"), "prompts"],
  watcher: below("watcher"),
  mcp: below("mcp"),
  executor: below("executor"),
  core: below("core"),
  prompts: ["prompts"],
  devenv: ["devenv", "core"],
  bench: [...LAYERS, "prompts", "devenv", "bench", "test"],
  test: [...LAYERS, "prompts", "devenv", "bench", "test"],
};

/** Folders whose files are read for imports (manifests/ holds no code). */
export const CODE_FOLDERS = Object.keys(ALLOWED_IMPORTS);

const CODE_FILE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;

/** Every code file under `folder`, as paths relative to `root` with "/" separators. */
export function codeFiles(root: string, folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(join(root, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(path);
      } else if (CODE_FILE.test(entry.name)) found.push(path);
    }
  };
  walk(folder);
  return found.sort();
}

/** Every module a source text imports or re-exports, statically or with import(). */
export function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName);
}

export interface ForbiddenEdge {
  file: string;
  specifier: string;
  from: string;
  to: string;
}

/**
 * The imports of one file (path relative to the repository root) that its
 * folder may not make. Packages are not judged here; a relative import that
 * leaves the repository or lands in a folder outside the table is forbidden.
 */
export function forbiddenImports(file: string, source: string): ForbiddenEdge[] {
  const from = file.split("/")[0]!;
  const allowed = ALLOWED_IMPORTS[from];
  if (!allowed) throw new Error(`${file} is in ${from}/, which the import table does not name`);
  const edges: ForbiddenEdge[] = [];
  for (const specifier of importSpecifiers(source)) {
    if (!specifier.startsWith(".")) continue;
    const target = relative(".", normalize(join(dirname(file), specifier)));
    const to = target.split(sep)[0]!;
    if (!allowed.includes(to)) edges.push({ file, specifier, from, to });
  }
  return edges;
}

/** Every forbidden import in the repository at `root`. */
export function forbiddenImportsIn(root: string): ForbiddenEdge[] {
  return CODE_FOLDERS.flatMap((folder) =>
    codeFiles(root, folder).flatMap((file) => forbiddenImports(file, readFileSync(join(root, file), "utf8"))),
  );
}

/** Every repository file `entry` loads, itself included, following relative imports of all kinds. */
export function importClosure(root: string, entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    let source: string;
    try {
      source = readFileSync(join(root, file), "utf8");
    } catch {
      return;
    }
    for (const specifier of importSpecifiers(source)) {
      if (!specifier.startsWith(".")) continue;
      visit(
        relative(".", normalize(join(dirname(file), specifier)))
          .split(sep)
          .join("/"),
      );
    }
  };
  visit(entry);
  return seen;
}

/** The section of docs/architecture.md that holds the import table. */
export const IMPORT_TABLE_HEADING = "## Folders and what each may import";

/**
 * The relative-import graph of every code file under `folders`: each file
 * (relative to `root`, "/" separators) and the files of the graph it
 * imports, re-exports or loads with import(), type-only imports included.
 */
export function importGraph(root: string, folders: readonly string[]): Map<string, string[]> {
  const files = folders.flatMap((folder) => codeFiles(root, folder));
  const known = new Set(files);
  return new Map(
    files.map((file) => {
      const targets = importSpecifiers(readFileSync(join(root, file), "utf8"))
        .filter((specifier) => specifier.startsWith("."))
        .map((specifier) =>
          relative(".", normalize(join(dirname(file), specifier)))
            .split(sep)
            .join("/"),
        )
        .filter((target) => known.has(target));
      return [file, [...new Set(targets)].sort()];
    }),
  );
}

/**
 * The import circles of a graph: each set of files that reach one another
 * through imports (Tarjan's strongly connected components with more than one
 * file, or one file that imports itself), files sorted, circles by first file.
 */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) cycles.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/**
 * The import table of docs/architecture.md: each folder's row and the folders
 * its second column names ("every folder but `x/`" meaning every row's folder
 * but x and the row's own, "no code" meaning nothing).
 */
export function docImportTable(doc: string): Map<string, string[]> {
  const start = doc.indexOf(IMPORT_TABLE_HEADING);
  if (start < 0) throw new Error(`no "${IMPORT_TABLE_HEADING}" section`);
  const section = doc.slice(start);
  const rows: [string, string][] = [];
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    // | `folder/` | `other/`, `another/` |
    if (cells.length !== 4 || !/^`[a-z]+\/`$/.test(cells[1]!)) continue;
    rows.push([cells[1]!.slice(1, -2), cells[2]!]);
  }
  const folders = rows.map(([folder]) => folder);
  const named = (text: string): string[] => [...text.matchAll(/`([a-z]+)\/`/g)].map((m) => m[1]!);
  return new Map(
    rows.map(([folder, text]) => {
      if (!text.startsWith("every folder but")) return [folder, named(text)];
      const except = new Set([...named(text), folder, "manifests"]);
      return [folder, folders.filter((other) => !except.has(other))];
    }),
  );
}
