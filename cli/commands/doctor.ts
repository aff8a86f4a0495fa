import { parseConfig, type Config } from "../../core/config/config.ts";
import type { KeyPurpose } from "../../core/identity/keys.ts";
import { describeError } from "../../core/errors.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { doctorChecks, runChecks, type Component } from "../doctor.ts";

const USAGE = `Usage:
  deputy doctor mcp|executor|bot
      Check, with this process's configuration (run it in the component's pod, or with its
      environment), every connection and permission that component needs, and say in a
      sentence what is wrong. Exit code 1 when anything is.

      mcp       keys from OpenBao, Redis, the read identity (lists pods; no Secrets, no patch), and
                whether proposals can be previewed (a real write as the preview account is refused by
                admission, its dry run answered)
      executor  keys, Redis, the API server's CA, OpenBao login and one credential minted and revoked
      bot       secrets and keys from OpenBao, Redis, Slack auth.test and scopes, the model endpoint
`;

const COMPONENTS = ["mcp", "executor", "bot"] as const;

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const component = args[0] as Component | undefined;
  if (!component || !(COMPONENTS as readonly string[]).includes(component)) {
    process.stderr.write(`deputy doctor: name the component to check\n\n${USAGE}`);
    return 2;
  }
  let config: Config;
  try {
    config = parseConfig();
  } catch (error) {
    process.stdout.write(`PROBLEM  config: the configuration does not parse: ${describeError(error)}\n`);
    return 1;
  }
  // Checks speak for themselves; only warnings from the parts they use are worth a log line.
  const logger = createLogger({ level: "error", name: "deputy-doctor", destination: process.stderr });
  if (config.redis.secretsFromOpenBao) {
    const { withRedisSecrets } = await import("../../executor/wiring.ts");
    const role =
      component === "bot"
        ? config.slack.openbaoRole
        : component === "mcp"
          ? config.keys.mcpAuthRole
          : config.openbao.authRole;
    try {
      config = await withRedisSecrets(config, role, logger);
      process.stdout.write(`ok       redis secrets: the Redis credentials load from OpenBao.
`);
    } catch (error) {
      process.stdout.write(
        `PROBLEM  redis secrets: the Redis credentials do not load from OpenBao: ${describeError(error)}\n`,
      );
      return 1;
    }
  }
  let botKeys: { botKeyPurposes: KeyPurpose[]; botKeyClusters: string[] | undefined } | undefined;
  if (component === "bot") {
    const [{ resolveBotSecrets }, { botKeyPurposes, botKeyClusters }] = await Promise.all([
      import("../../bot/secrets.ts"),
      import("../../bot/wiring.ts"),
    ]);
    try {
      config = await resolveBotSecrets(config, logger);
      if (config.slack.secretsFromOpenBao) {
        process.stdout.write(`ok       secrets: Slack and model secrets load from OpenBao.\n`);
      }
    } catch (error) {
      process.stdout.write(
        `PROBLEM  secrets: the bot's secrets do not load from OpenBao: ${describeError(error)}\n`,
      );
      return 1;
    }
    botKeys = { botKeyPurposes: botKeyPurposes(config), botKeyClusters: botKeyClusters(config) };
  }
  const results = await runChecks(doctorChecks(component, config, logger, botKeys ?? {}));
  for (const result of results) {
    process.stdout.write(`${result.ok ? "ok      " : "PROBLEM "} ${result.name}: ${result.sentence}\n`);
  }
  const problems = results.filter((result) => !result.ok).length;
  process.stdout.write(
    problems === 0
      ? `deputy doctor ${component}: everything checked works.\n`
      : `deputy doctor ${component}: ${problems} problem${problems === 1 ? "" : "s"}.\n`,
  );
  return problems === 0 ? 0 : 1;
}
