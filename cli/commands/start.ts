import { startTracing } from "../../core/observability/tracing.ts";
import { relative } from "node:path";
import { DeputyError, describeError, isDeputyError } from "../../core/errors.ts";
import { startLocalMode, type LocalMode } from "../../console/local-mode.ts";

const USAGE = `Usage: deputy start [--port N] [--host H]

Runs all of Deputy on this machine: the MCP server, the approval executor with
OpenBao just-in-time credentials, the audit trail, the triage watcher and a
local web console (in place of Slack).

Cluster: KUBECONFIG if it points at a cluster that answers (then BAO_ADDR and
BAO_TOKEN name the OpenBao to set up); otherwise the project's own local
control plane, OpenBao-compatible dev server and Redis, seeded with a troubled
demo namespace. The first run builds the control plane from Go modules.
DEPUTY_KUBE_CONTEXTS=a,b serves each named KUBECONFIG context as a cluster of
its own (named after the context); a message picks one with "in b, …" or
--cluster b.

  --port N   console port (default DEPUTY_CONSOLE_PORT or 8090; 0 picks a free one)
  --host H   console address (default 127.0.0.1; keep it on loopback)

Environment: ANTHROPIC_API_KEY turns on the agent; DEPUTY_LOCAL_USERS sets the
local people (default alice:requester,bob:approver).
`;

/** How often to say "still working" when a step prints nothing for a while. */
const HEARTBEAT_MS = 15_000;

function parseArgs(args: string[], env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = args[i + 1];
    if (arg === "--port" || arg === "--host") {
      if (value === undefined || value.startsWith("--")) {
        throw new DeputyError("INPUT_INVALID", `${arg} needs a value`);
      }
      if (arg === "--port") out.DEPUTY_CONSOLE_PORT = value;
      else out.DEPUTY_CONSOLE_HOST = value;
      i++;
    } else {
      throw new DeputyError("INPUT_INVALID", `unknown option "${arg}" (see deputy start --help)`);
    }
  }
  return out;
}

function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const tracing = startTracing("deputy");
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const started = Date.now();
  let lastLine = Date.now();
  let lastStep = "starting";
  const progress = (line: string): void => {
    lastLine = Date.now();
    if (!line.startsWith(" ")) lastStep = line;
    say(line.startsWith(" ") ? `   ${line.trim()}` : `▸ ${line}`);
  };
  const heartbeat = setInterval(() => {
    if (Date.now() - lastLine < HEARTBEAT_MS) return;
    lastLine = Date.now();
    say(
      `   … still ${lastStep.replace(/^[A-Z]/, (c) => c.toLowerCase())} (${Math.round((Date.now() - started) / 1000)} s so far)`,
    );
  }, 1000);
  heartbeat.unref();

  // Until local mode is up, Ctrl-C just stops (nothing of ours holds state yet;
  // a half-built control plane resumes on the next start).
  const interruptedEarly = (): void => {
    say(
      "\nInterrupted before Deputy was ready; nothing is left running except the local cluster, if it started.",
    );
    process.exit(130);
  };
  process.once("SIGINT", interruptedEarly);
  process.once("SIGTERM", interruptedEarly);

  let mode: LocalMode;
  try {
    say("Starting Deputy in local mode");
    mode = await startLocalMode({ env: parseArgs(args, process.env), progress });
  } catch (error) {
    clearInterval(heartbeat);
    const code = isDeputyError(error) ? ` [${error.code}]` : "";
    process.stderr.write(`\nDeputy could not start${code}: ${describeError(error)}\n`);
    if (!isDeputyError(error)) process.stderr.write(`${(error as Error)?.stack ?? ""}\n`);
    await tracing.shutdown();
    return 1;
  } finally {
    process.removeListener("SIGINT", interruptedEarly);
    process.removeListener("SIGTERM", interruptedEarly);
  }
  clearInterval(heartbeat);

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  say("");
  say(`Deputy is ready (${seconds} s).`);
  say(`  Deputy console: ${mode.consoleUrl}`);
  if (mode.clusters.length > 1) {
    for (const cluster of mode.clusters) {
      const first = cluster.name === mode.defaultCluster ? ", where conversations start" : "";
      say(
        `  Cluster ${cluster.name}: ${cluster.server} (context ${cluster.context ?? cluster.name}${first})`,
      );
      say(`    MCP server:   ${cluster.mcpUrl}`);
    }
    const other = mode.clusters.find((cluster) => cluster.name !== mode.defaultCluster)!.name;
    say(`  Name a cluster in a message to switch: "in ${other}, …" or --cluster ${other}`);
  } else {
    say(`  MCP server:     ${mode.mcpUrl}`);
    say(
      `  Cluster:        ${mode.cluster.server} (${mode.cluster.source === "local" ? "local demo cluster" : "from KUBECONFIG"})`,
    );
  }
  say(
    `  Model:          ${mode.model ?? "none — set ANTHROPIC_API_KEY for the agent; direct commands work without it"}`,
  );
  say(
    `  Audit trail:    ${shortPath(mode.auditFile)} (verify: deputy audit verify ${shortPath(mode.auditFile)})`,
  );
  say(`  Logs:           ${shortPath(mode.logFile)}`);
  say("Open the console, pick a person at the top right, and try: troubleshoot shop/checkout");
  say("Press Ctrl-C to stop.");

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  say("\nStopping Deputy… (Ctrl-C again to force)");
  const force = (): void => process.exit(130);
  process.once("SIGINT", force);
  try {
    await mode.close();
  } catch (error) {
    process.stderr.write(`Stopping was not clean: ${describeError(error)}\n`);
    return 1;
  } finally {
    // Last, so the spans of everything that stopped are exported too (SIGTERM or Ctrl-C alike).
    await tracing.shutdown();
  }
  if (mode.cluster.source === "local") {
    say(`Stopped. The local cluster keeps running for a fast next start; "npm run testenv:down" stops it.`);
  } else {
    say("Stopped.");
  }
  return 0;
}
