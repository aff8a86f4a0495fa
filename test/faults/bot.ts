import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { startBot, type BotRuntime } from "../../bot/wiring.ts";
import { createAuditLog, type AuditRecord } from "../../core/audit/log.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/observability/logger.ts";
import type { AnthropicFake } from "../fakes/anthropic.ts";
import type { SlackFake } from "../fakes/slack.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { TEST_ACTION_KEY } from "../executor/support.ts";
import { logCapture } from "./support.ts";

export interface FaultBot {
  bot: BotRuntime;
  prefix: string;
  /** Parsed log lines of the bot, to count what it logged. */
  logs: Record<string, unknown>[];
  audit: AuditRecord[];
  /** Stop the bot and remove its files. */
  close(): Promise<void>;
}

/**
 * `deputy bot` as deployed in HTTP mode with the executor and the MCP server
 * in its process: bot/wiring.ts's startBot from a parsed configuration, the
 * Slack and model fakes in place of the SaaS, the rest whatever the test
 * points it at (its own Redis, a frozen API server, an unconfigured OpenBao).
 */
export async function startFaultBot(options: {
  slack: SlackFake;
  model: AnthropicFake;
  redisUrl: string;
  baoAddr?: string;
  kubeconfig?: string;
  env?: Record<string, string>;
}): Promise<FaultBot> {
  const prefix = `deputy-test-faults-${randomBytes(4).toString("hex")}:`;
  const jwtDir = await mkdtemp(join(tmpdir(), "deputy-faults-jwt-"));
  // Only read when the executor logs in to OpenBao; these tests never get that far with a real one.
  await writeFile(join(jwtDir, "token"), "not-a-service-account-token");
  const config = parseConfig({
    SLACK_BOT_TOKEN: options.slack.botToken,
    SLACK_SIGNING_SECRET: options.slack.signingSecret,
    SLACK_SOCKET_MODE: "false",
    SLACK_API_URL: options.slack.apiUrl,
    SLACK_PORT: "0",
    ANTHROPIC_API_KEY: options.model.apiKey,
    ANTHROPIC_BASE_URL: options.model.url,
    DEPUTY_MODEL_RETRY_SECONDS: "1",
    REDIS_URL: options.redisUrl,
    DEPUTY_REDIS_PREFIX: prefix,
    KUBECONFIG: options.kubeconfig ?? loadTestEnv().kubeconfig,
    DEPUTY_CLUSTER_NAME: "testenv",
    DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000",
    BAO_ADDR: options.baoAddr ?? "http://127.0.0.1:9",
    DEPUTY_BAO_JWT_PATH: join(jwtDir, "token"),
    ...options.env,
  });
  const capture = logCapture();
  const audit: AuditRecord[] = [];
  const silent = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const bot = await startBot(config, {
    logger: createLogger({ level: "info", name: "deputy-faults", destination: capture.destination }),
    audit: createAuditLog({ destination: silent, onRecord: (record) => audit.push(record) }),
    statusIntervalMs: 0,
    keys: { action: TEST_ACTION_KEY },
  });
  options.slack.setTarget(`http://127.0.0.1:${bot.port}/slack/events`);
  return {
    bot,
    prefix,
    logs: capture.lines,
    audit,
    async close() {
      await bot.close();
      await rm(jwtDir, { recursive: true, force: true });
    },
  };
}
