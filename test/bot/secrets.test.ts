import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyBotSecrets, resolveBotSecrets } from "../../bot/secrets.ts";
import { parseConfig } from "../../core/config/config.ts";
import { isDeputyError } from "../../core/errors.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { deleteNamespace, freshNamespace, loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";

/**
 * Against the real Vault dev server (OpenBao's HTTP API) and the real API
 * server: Kubernetes auth login with an audience-bound service-account token,
 * KV v2 reads, the OpenBao token revoked afterwards.
 */
const env = loadTestEnv();
const suffix = randomBytes(4).toString("hex");
const mount = `kubernetes-bot-${suffix}`;
const kvPath = `secret/data/deputy-test-${suffix}`;
const policy = `deputy-bot-test-${suffix}`;
const slackSecrets = {
  bot_token: `xoxb-${suffix}-bot`,
  signing_secret: `sign-${suffix}`,
  app_token: `xapp-${suffix}-app`,
};
const anthropicSecret = { api_key: `sk-ant-${suffix}-key-000000000000` };
const alertsSecret = { token: `alerts-${suffix}-${"0".repeat(32)}` };
let namespace: string;
let dir: string;

async function bao(
  method: string,
  path: string,
  body?: unknown,
  token = env.baoRootToken,
): Promise<Response> {
  return fetch(`${env.baoAddr}/v1/${path}`, {
    method,
    headers: { "X-Vault-Token": token, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function ok(response: Promise<Response>): Promise<void> {
  const r = await response;
  if (!r.ok) throw new Error(`setup failed: ${r.status} ${await r.text()}`);
}

function config(jwtPath: string, path = kvPath) {
  return parseConfig({
    BAO_ADDR: env.baoAddr,
    DEPUTY_BAO_AUTH_MOUNT: mount,
    DEPUTY_BAO_JWT_PATH: jwtPath,
    DEPUTY_SECRETS_FROM_OPENBAO: path,
    DEPUTY_BAO_BOT_AUTH_ROLE: "deputy-bot",
  });
}

function capture(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: "debug", destination }), text: () => lines.join("") };
}

beforeAll(async () => {
  namespace = await freshNamespace("bot-secrets");
  dir = await mkdtemp(join(tmpdir(), "deputy-bot-secrets-"));
  const reviewer = await mintServiceAccountToken(namespace, "token-reviewer", {
    clusterRole: "system:auth-delegator",
  });
  await ok(bao("POST", `sys/auth/${mount}`, { type: "kubernetes" }));
  await ok(
    bao("POST", `auth/${mount}/config`, {
      kubernetes_host: env.server,
      kubernetes_ca_cert: readFileSync(env.caFile, "utf8"),
      token_reviewer_jwt: reviewer,
      disable_local_ca_jwt: true,
    }),
  );
  await ok(
    bao("PUT", `sys/policies/acl/${policy}`, { policy: `path "${kvPath}/*" { capabilities = ["read"] }` }),
  );
  await ok(
    bao("POST", `auth/${mount}/role/deputy-bot`, {
      bound_service_account_names: ["deputy-bot"],
      bound_service_account_namespaces: [namespace],
      audience: "openbao",
      token_ttl: 60,
      token_max_ttl: 60,
      token_policies: [policy],
      token_no_default_policy: true,
    }),
  );
  await ok(bao("POST", `${kvPath}/slack`, { data: slackSecrets }));
  await ok(bao("POST", `${kvPath}/anthropic`, { data: anthropicSecret }));
  await ok(bao("POST", `${kvPath}/alerts`, { data: alertsSecret }));
});

afterAll(async () => {
  await bao("DELETE", `sys/auth/${mount}`);
  await bao("DELETE", `sys/policies/acl/${policy}`);
  await bao("DELETE", `${kvPath.replace("/data/", "/metadata/")}/slack`);
  await bao("DELETE", `${kvPath.replace("/data/", "/metadata/")}/anthropic`);
  await bao("DELETE", `${kvPath.replace("/data/", "/metadata/")}/alerts`);
  await deleteNamespace(namespace);
});

describe("bot secrets from OpenBao", () => {
  it("logs in with the service-account token, reads KV v2 and logs no value", async () => {
    const jwtPath = join(dir, "token");
    await writeFile(jwtPath, await mintServiceAccountToken(namespace, "deputy-bot", { audience: "openbao" }));
    const { logger, text } = capture();
    const resolved = await resolveBotSecrets(config(jwtPath), logger);
    expect(resolved.slack.botToken).toBe(slackSecrets.bot_token);
    expect(resolved.slack.signingSecret).toBe(slackSecrets.signing_secret);
    expect(resolved.slack.appToken).toBe(slackSecrets.app_token);
    expect(resolved.anthropic.apiKey).toBe(anthropicSecret.api_key);
    expect(resolved.alertmanager.token).toBe(alertsSecret.token);
    const logged = text();
    expect(logged).toContain("secrets loaded from OpenBao");
    for (const value of [...Object.values(slackSecrets), anthropicSecret.api_key, alertsSecret.token])
      expect(logged).not.toContain(value);
  });

  it("revokes its OpenBao token right after reading", async () => {
    const jwt = await mintServiceAccountToken(namespace, "deputy-bot", { audience: "openbao" });
    const seen: string[] = [];
    const spyingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).endsWith(`auth/${mount}/login`)) {
        const body = (await response.clone().json()) as { auth: { client_token: string } };
        seen.push(body.auth.client_token);
      }
      return response;
    };
    const { loadBotSecretsFromOpenBao } = await import("../../bot/secrets.ts");
    await loadBotSecretsFromOpenBao({
      addr: env.baoAddr,
      authMount: mount,
      role: "deputy-bot",
      jwt,
      path: kvPath,
      fetch: spyingFetch,
    });
    expect(seen).toHaveLength(1);
    const lookup = await bao("GET", "auth/token/lookup-self", undefined, seen[0]);
    expect(lookup.status).toBe(403);
  });

  it("refuses a token whose audience or service account is not bound, with a clear error", async () => {
    const wrongAudience = join(dir, "wrong-audience");
    await writeFile(wrongAudience, await mintServiceAccountToken(namespace, "deputy-bot"));
    const otherAccount = join(dir, "other-account");
    await writeFile(
      otherAccount,
      await mintServiceAccountToken(namespace, "someone-else", { audience: "openbao" }),
    );
    for (const path of [wrongAudience, otherAccount]) {
      const error = await resolveBotSecrets(config(path), createLogger({ level: "silent" })).catch(
        (e: unknown) => e,
      );
      expect(isDeputyError(error, "UPSTREAM_FAILED")).toBe(true);
      expect(String((error as Error).message)).toMatch(
        new RegExp(`OpenBao auth/${mount}/login answered (400|403)`),
      );
    }
  });

  it("names the problem when the token file or the secrets are missing", async () => {
    const missing = await resolveBotSecrets(
      config(join(dir, "nope")),
      createLogger({ level: "silent" }),
    ).catch((e: unknown) => e);
    expect(String((missing as Error).message)).toContain("DEPUTY_BAO_JWT_PATH");
    const jwtPath = join(dir, "token2");
    await writeFile(jwtPath, await mintServiceAccountToken(namespace, "deputy-bot", { audience: "openbao" }));
    const empty = await resolveBotSecrets(
      config(jwtPath, `${kvPath}/nothing-here`),
      createLogger({ level: "silent" }),
    ).catch((e: unknown) => e);
    // The policy does not reach there, or nothing is there: either way a sentence naming the path.
    expect(String((empty as Error).message)).toContain(`${kvPath}/nothing-here`);
  });

  it("holds an alerts token from OpenBao to the rule the environment variable has", () => {
    const base = parseConfig({});
    expect(applyBotSecrets(base, { alertsToken: "a".repeat(32) }).alertmanager.token).toBe("a".repeat(32));
    expect(() => applyBotSecrets(base, { alertsToken: "short" })).toThrow(/at least 32 characters/);
  });

  it("leaves the config alone when not configured", async () => {
    const plain = parseConfig({ SLACK_BOT_TOKEN: "xoxb-env" });
    expect(await resolveBotSecrets(plain, createLogger({ level: "silent" }))).toBe(plain);
  });
});
