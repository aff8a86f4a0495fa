import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { ensureHelm } from "../../devenv/binaries.ts";
import { kubeObjects, parseYamlDocuments, type KubeObject } from "../manifests/kustomize.ts";

/** Running the real helm (the pinned build) on charts/deputy, for the chart tests. */

export const CHART_DIR = resolve(import.meta.dirname, "../../charts/deputy");

let helm: Promise<string> | undefined;

/**
 * The pinned helm, built into the binary cache the first time a chart test
 * asks (never by the global setup); a lock makes two test files build it once.
 */
export function pinnedHelm(): Promise<string> {
  helm ??= ensureHelm((line) => process.stderr.write(`helm: ${line}\n`));
  return helm;
}

export interface HelmRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Run helm with its own empty config, cache and data directories (nothing of the user's is read). */
export async function runHelm(args: string[]): Promise<HelmRun> {
  const binary = await pinnedHelm();
  const home = await mkdtemp(join(tmpdir(), "deputy-helm-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
    KUBECONFIG: join(home, "no-kubeconfig"),
  };
  try {
    return await new Promise((resolvePromise) => {
      execFile(binary, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        resolvePromise({ ok: error === null, stdout, stderr });
      });
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Run `helm <command> … charts/deputy -f <values>` with the values written to a file. */
export async function withValues(command: string[], values: unknown): Promise<HelmRun> {
  const dir = await mkdtemp(join(tmpdir(), "deputy-values-"));
  try {
    const file = join(dir, "values.yaml");
    await writeFile(file, stringify(values));
    return await runHelm([...command, CHART_DIR, "--values", file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template` with these values; a refusal is returned, not thrown. */
export function helmTemplate(values: unknown): Promise<HelmRun> {
  return withValues(["template", "deputy"], values);
}

/** The objects `helm template` renders with these values (it must succeed). */
export async function renderChart(values: unknown): Promise<KubeObject[]> {
  const run = await helmTemplate(values);
  if (!run.ok) throw new Error(`helm template failed:\n${run.stderr}`);
  // The same parser as the kustomize renderer: YAML 1.1/1.2 ambiguous scalars are refused.
  return kubeObjects(
    parseYamlDocuments(run.stdout, "helm template charts/deputy"),
    "helm template charts/deputy",
  );
}
