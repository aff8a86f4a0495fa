import { describeError, isDeputyError } from "../core/errors.ts";

/**
 * The `deputy` command. Each subcommand lives in cli/commands/<name>.ts and
 * exports `run(args)`; they are loaded lazily so `deputy audit verify` does not
 * pay for the Slack SDK.
 */
const subcommands: Record<
  string,
  { summary: string; load: () => Promise<{ run: (args: string[]) => Promise<number> }> }
> = {
  start: {
    summary: "run all of Deputy on this machine with a local web console",
    load: () => import("./commands/start.ts"),
  },
  mcp: {
    summary: "run the Kubernetes MCP server (--http or --stdio)",
    load: () => import("./commands/mcp.ts"),
  },
  executor: {
    summary: "run the approval executor's decision endpoint",
    load: () => import("./commands/executor.ts"),
  },
  bot: { summary: "run the Slack app", load: () => import("./commands/bot.ts") },
  doctor: {
    summary: "check a component's connections and permissions (mcp|executor|bot)",
    load: () => import("./commands/doctor.ts"),
  },
  config: {
    summary: "print or write the configuration reference (docs/configuration.md)",
    load: () => import("./commands/config.ts"),
  },
  audit: {
    summary: "verify an audit chain or show the story of one action",
    load: () => import("./commands/audit.ts"),
  },
  policy: {
    summary: "test an approval policy against cases, or explain its rule for an action",
    load: () => import("./commands/policy.ts"),
  },
  testenv: {
    summary: "local control plane, OpenBao and Redis for tests (up|down|seed|status)",
    load: () => import("./commands/testenv.ts"),
  },
};

function usage(): string {
  const lines = Object.entries(subcommands).map(([name, { summary }]) => `  ${name.padEnd(10)} ${summary}`);
  return `Usage: deputy <command> [options]\n\nCommands:\n${lines.join("\n")}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = subcommands[name];
  if (!command) {
    process.stderr.write(`deputy: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const prefix = isDeputyError(error) ? `deputy: ${error.code}: ` : "deputy: ";
    process.stderr.write(`${prefix}${describeError(error)}\n`);
    // A start-up failure can leave connections open (Redis, Socket Mode): exit rather than idle
    // unready, so the pod restarts and says why instead of staying silent.
    process.exit(1);
  },
);
