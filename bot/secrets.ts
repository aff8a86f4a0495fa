import { z } from "zod";
import type { Config } from "../core/config/config.ts";
import { DeputyError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import {
  createOpenBaoClient,
  ignoredSchema,
  loginResponseSchema,
  OpenBaoError,
  readOpenBaoJwt,
} from "../executor/openbao-client.ts";

/**
 * Production secrets for the bot come from OpenBao KV v2, not from an env file
 * or a manifest: the pod logs in with its projected service-account token
 * (Kubernetes auth, audience-bound), reads `<path>/slack`,
 * `<path>/anthropic` and `<path>/alerts` (the Alertmanager webhook's bearer
 * token, optional) once at start-up, and revokes its OpenBao token at once.
 * Key names follow manifests/openbao/roles.yaml (kv.paths).
 */
export interface BotSecrets {
  slackBotToken?: string;
  slackSigningSecret?: string;
  slackAppToken?: string;
  anthropicApiKey?: string;
  /** Bearer token Alertmanager sends to POST /v1/alerts (DEPUTY_ALERTS_TOKEN). */
  alertsToken?: string;
}

export interface LoadSecretsOptions {
  addr: string;
  authMount: string;
  role: string;
  /** The service-account JWT (projected token, audience "openbao"). */
  jwt: string;
  /** KV v2 data path prefix, e.g. secret/data/deputy. */
  path: string;
  fetch?: typeof fetch;
}

const kvSchema = z.object({ data: z.object({ data: z.record(z.string(), z.unknown()) }).loose() }).loose();

const SOURCES = {
  slack: { bot_token: "slackBotToken", signing_secret: "slackSigningSecret", app_token: "slackAppToken" },
  anthropic: { api_key: "anthropicApiKey" },
  alerts: { token: "alertsToken" },
} as const satisfies Record<string, Record<string, keyof BotSecrets>>;

export async function loadBotSecretsFromOpenBao(options: LoadSecretsOptions): Promise<BotSecrets> {
  const bao = createOpenBaoClient({ addr: options.addr, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const jwt = options.jwt.trim();
  if (jwt.split(".").length !== 3) {
    throw new DeputyError("CONFIG_INVALID", "The service-account token for OpenBao login is not a JWT");
  }
  const login = await bao.request("POST", `auth/${options.authMount}/login`, {
    body: { role: options.role, jwt },
    schema: loginResponseSchema,
  });
  const token = login.auth.client_token;
  const secrets: BotSecrets = {};
  try {
    for (const [section, keys] of Object.entries(SOURCES)) {
      let document: z.infer<typeof kvSchema>;
      try {
        document = await bao.request("GET", `${options.path}/${section}`, { token, schema: kvSchema });
      } catch (error) {
        // A missing section is allowed (e.g. no Anthropic key: direct commands only).
        if (error instanceof OpenBaoError && error.status === 404) continue;
        throw error;
      }
      for (const [key, field] of Object.entries(keys)) {
        const value = document.data.data[key];
        if (value === undefined || value === "") continue;
        if (typeof value !== "string") {
          throw new DeputyError(
            "CONFIG_INVALID",
            `OpenBao ${options.path}/${section} key "${key}" is not a string`,
          );
        }
        secrets[field as keyof BotSecrets] = value;
      }
    }
  } finally {
    // The token was needed for these reads only.
    await bao
      .request("POST", "auth/token/revoke-self", { token, schema: ignoredSchema })
      .catch(() => undefined);
  }
  if (Object.keys(secrets).length === 0) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `OpenBao has no Deputy secrets under ${options.path} (expected ${options.path}/slack)`,
    );
  }
  return secrets;
}

/** The config with secrets from OpenBao filled in; OpenBao wins where it has a value. */
export function applyBotSecrets(config: Config, secrets: BotSecrets): Config {
  // The same rule DEPUTY_ALERTS_TOKEN is held to in the environment.
  if (secrets.alertsToken !== undefined && secrets.alertsToken.length < 32) {
    throw new DeputyError(
      "CONFIG_INVALID",
      "OpenBao's alerts token (key token) must be at least 32 characters (e.g. openssl rand -hex 32)",
    );
  }
  return {
    ...config,
    slack: {
      ...config.slack,
      botToken: secrets.slackBotToken ?? config.slack.botToken,
      signingSecret: secrets.slackSigningSecret ?? config.slack.signingSecret,
      appToken: secrets.slackAppToken ?? config.slack.appToken,
    },
    anthropic: { ...config.anthropic, apiKey: secrets.anthropicApiKey ?? config.anthropic.apiKey },
    alertmanager: { ...config.alertmanager, token: secrets.alertsToken ?? config.alertmanager.token },
  };
}

/** If DEPUTY_SECRETS_FROM_OPENBAO is set, load the secrets; otherwise the config as it is. */
export async function resolveBotSecrets(config: Config, logger: Logger): Promise<Config> {
  const path = config.slack.secretsFromOpenBao;
  if (!path) return config;
  const jwt = await readOpenBaoJwt(config, "DEPUTY_SECRETS_FROM_OPENBAO");
  const secrets = await loadBotSecretsFromOpenBao({
    addr: config.openbao.addr,
    authMount: config.openbao.authMount,
    role: config.slack.openbaoRole,
    jwt,
    path,
  });
  // Names only: never a value.
  logger.info({ path, loaded: Object.keys(secrets).sort() }, "secrets loaded from OpenBao");
  return applyBotSecrets(config, secrets);
}
