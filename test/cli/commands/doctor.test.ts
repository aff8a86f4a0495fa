import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REQUIRED_SLACK_SCOPES } from "../../../cli/doctor.ts";
import { startAnthropicFake, text, type AnthropicFake } from "../../fakes/anthropic.ts";
import { startSlackFake, type SlackFake } from "../../fakes/slack.ts";
import { ensureKeysInOpenBao, TEST_KEYS_PATH } from "../../helpers/deputy-keys.ts";
import { clusterKeyPath } from "../../../core/identity/keys.ts";
import {
  allowPreviewImpersonation,
  unguardedPreviewAccount,
  waitForUsablePreview,
} from "../../helpers/preview.ts";
import { loadTestEnv, mintServiceAccountToken, serviceAccountKubeConfig } from "../../helpers/testenv.ts";
import {
  applyReaderRole,
  EXECUTOR_NAMESPACE,
  JIT_NAMESPACE,
  prepareWriteEnv,
  WRITABLE,
  type WriteEnv,
} from "../../executor/write-env.ts";

/**
 * `deputy doctor` against the real parts, each component first as it should
 * be, then with one thing broken at a time: the answer is a sentence naming
 * what is wrong, and exit code 1.
 */
const ROOT = join(import.meta.dirname, "../../..");
const CLI = join(ROOT, "cli/deputy.ts");
const prefix = `deputy-test-doctor-${randomBytes(4).toString("hex")}:`;

let env: WriteEnv;
let dir: string;
let slack: SlackFake;
let model: AnthropicFake;
const files: Record<string, string> = {};

async function doctor(
  component: string,
  extra: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const test = loadTestEnv();
  const child = spawn(process.execPath, [CLI, "doctor", component], {
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: test.redisUrl,
      DEPUTY_REDIS_PREFIX: prefix,
      BAO_ADDR: test.baoAddr,
      DEPUTY_BAO_AUTH_MOUNT: env.authMount,
      DEPUTY_BAO_SECRETS_MOUNT: env.secretsMount,
      DEPUTY_KEYS_FROM_OPENBAO: TEST_KEYS_PATH,
      DEPUTY_WRITABLE_NAMESPACES: WRITABLE.join(","),
      DEPUTY_JIT_NAMESPACE: JIT_NAMESPACE,
      LOG_LEVEL: "warn",
      ...extra,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  // "close", not "exit": the process can exit before its last lines are read from the pipes.
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  return { code, stdout, stderr };
}

async function tokenFile(name: string, token: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, token, { mode: 0o600 });
  return path;
}

async function kubeconfigFile(name: string, clusterRole: string): Promise<string> {
  const kc = await serviceAccountKubeConfig(EXECUTOR_NAMESPACE, name, { clusterRole });
  const path = join(dir, `${name}.kubeconfig`);
  await writeFile(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

beforeAll(async () => {
  env = await prepareWriteEnv();
  await ensureKeysInOpenBao();
  await applyReaderRole();
  dir = await mkdtemp(join(tmpdir(), "deputy-doctor-"));
  slack = await startSlackFake();
  model = await startAnthropicFake({ script: () => text("0") });
  const openbaoToken = (sa: string): Promise<string> =>
    mintServiceAccountToken(EXECUTOR_NAMESPACE, sa, { audience: "openbao" });
  files.mcpJwt = await tokenFile("mcp.jwt", await openbaoToken("deputy-mcp"));
  files.botJwt = await tokenFile("bot.jwt", await openbaoToken("deputy-bot"));
  // The executor's account, with the API server's audience instead of OpenBao's.
  files.wrongAudience = await tokenFile(
    "executor-api.jwt",
    await mintServiceAccountToken(EXECUTOR_NAMESPACE, "deputy-executor"),
  );
  files.reader = await kubeconfigFile("doctor-reader", "deputy-reader");
  // Like deputy-mcp, the doctor's reader may impersonate the dry-run-only preview account.
  await allowPreviewImpersonation(EXECUTOR_NAMESPACE, "doctor-reader");
  await waitForUsablePreview(await serviceAccountKubeConfig(EXECUTOR_NAMESPACE, "doctor-reader"));
  files.readerAlone = await kubeconfigFile("doctor-reader-alone", "deputy-reader");
  files.unguardedPreview = await unguardedPreviewAccount(
    { namespace: EXECUTOR_NAMESPACE, name: "doctor-unguarded-preview" },
    { namespace: EXECUTOR_NAMESPACE, name: "doctor-reader" },
  );
  files.editor = await kubeconfigFile("doctor-editor", "edit");
}, 120_000);

afterAll(async () => {
  await slack?.close();
  await model?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function mcpEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBECONFIG: files.reader!,
    DEPUTY_BAO_MCP_AUTH_ROLE: "deputy-mcp",
    DEPUTY_BAO_JWT_PATH: files.mcpJwt!,
    ...extra,
  };
}

function executorEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBECONFIG: loadTestEnv().kubeconfig,
    DEPUTY_BAO_AUTH_ROLE: env.authRole,
    DEPUTY_BAO_JWT_PATH: env.jwtPath,
    ...extra,
  };
}

function botEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DEPUTY_BAO_BOT_AUTH_ROLE: "deputy-bot",
    DEPUTY_BAO_JWT_PATH: files.botJwt!,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_APP_TOKEN: slack.appToken,
    SLACK_API_URL: slack.apiUrl,
    ANTHROPIC_API_KEY: model.apiKey,
    ANTHROPIC_BASE_URL: model.url,
    ...extra,
  };
}

describe("deputy doctor", () => {
  it("finds nothing wrong with the MCP server's read identity, keys and Redis", async () => {
    const { code, stdout } = await doctor("mcp", mcpEnv());
    expect(stdout).toContain("The read identity lists pods and can neither read Secrets nor patch.");
    expect(stdout).toContain("Deputy's keys load from OpenBao (action, mcpCaller).");
    expect(stdout).toContain("Redis accepts Deputy's user");
    expect(stdout).toContain(
      "ok       preview: Proposals can be previewed: the API server refuses every real write by the preview account system:serviceaccount:deputy-system:deputy-preview (admission policy deputy-preview-dry-run-only) and answers its dry runs.",
    );
    expect(code, stdout).toBe(0);
  });

  it("says proposals cannot be previewed when the read identity may not impersonate the preview account", async () => {
    const { code, stdout } = await doctor("mcp", mcpEnv({ KUBECONFIG: files.readerAlone! }));
    expect(stdout).toMatch(
      /PROBLEM +preview: Proposals cannot be previewed: the read identity may not act as the preview account system:serviceaccount:deputy-system:deputy-preview \(bind the Role deputy-preview-impersonator in deputy-system to it\)/,
    );
    expect(stdout).toMatch(/ok +read identity:/);
    expect(code).toBe(1);
  });

  it("says so loudly when the preview account's real writes are not refused by admission", async () => {
    const { code, stdout } = await doctor(
      "mcp",
      mcpEnv({ DEPUTY_PREVIEW_IDENTITY: files.unguardedPreview!, DEPUTY_PREVIEW_PROBE_NAMESPACE: "shop" }),
    );
    expect(stdout).toContain(
      `PROBLEM  preview: DANGER: Proposals cannot be previewed: a real write by the preview account ${files.unguardedPreview} was NOT refused by admission`,
    );
    expect(stdout).toContain("apply manifests/base/rbac/deputy-preview-guard.yaml");
    expect(code).toBe(1);
  });

  it("says so when the read identity can read Secrets and patch", async () => {
    const { code, stdout } = await doctor("mcp", mcpEnv({ KUBECONFIG: files.editor! }));
    expect(stdout).toMatch(/PROBLEM +read identity: .*it can read Secrets/);
    expect(stdout).toContain("it can patch Deployments in shop");
    expect(code).toBe(1);
  });

  it("says so when Redis does not answer", async () => {
    const { code, stdout } = await doctor("mcp", mcpEnv({ REDIS_URL: "redis://127.0.0.1:1" }));
    expect(stdout).toMatch(/PROBLEM +redis: Redis at redis:\/\/127\.0\.0\.1:1 does not answer/);
    expect(code).toBe(1);
  });

  it("says so when Redis refuses Deputy's user", async () => {
    const url = new URL(loadTestEnv().redisUrl);
    url.username = "deputy-doctor-nobody";
    url.password = "not-the-password";
    const { code, stdout } = await doctor("mcp", mcpEnv({ REDIS_URL: url.toString() }));
    expect(stdout).toMatch(
      /PROBLEM +redis: Redis refuses Deputy's user \(check the password in REDIS_URL and the ACL\)/,
    );
    expect(stdout).not.toContain("not-the-password");
    expect(code).toBe(1);
  });

  it("logs the executor in to OpenBao and mints and revokes one credential", async () => {
    const { code, stdout } = await doctor("executor", executorEnv());
    expect(stdout).toMatch(
      /ok +credentials: The executor logs in to OpenBao as deputy-executor and mints and revokes a credential for deputy-\S+ in shop\./,
    );
    expect(code, stdout).toBe(0);
  });

  it("says so when the executor's token has the wrong audience", async () => {
    const { code, stdout } = await doctor(
      "executor",
      executorEnv({ DEPUTY_BAO_JWT_PATH: files.wrongAudience! }),
    );
    expect(stdout).toMatch(/PROBLEM +credentials: The executor cannot get a credential from OpenBao/);
    expect(stdout).toMatch(/PROBLEM +keys: Deputy's keys do not load/);
    expect(code).toBe(1);
  });

  it("loads a bot's keys per cluster when it serves several, and names a cluster whose key is missing", async () => {
    const run = randomBytes(3).toString("hex");
    const cluster = (name: string) => ({
      name,
      mcpUrl: `https://mcp.${name}.internal/mcp`,
      executorUrl: `https://executor.${name}.internal`,
      channels: [],
    });
    const [eu, us, ap] = [`eu-${run}`, `us-${run}`, `ap-${run}`];
    for (const name of [eu, us]) await ensureKeysInOpenBao(undefined, clusterKeyPath(TEST_KEYS_PATH, name));
    const served = await doctor(
      "bot",
      botEnv({ DEPUTY_CLUSTERS: JSON.stringify([cluster(eu), cluster(us)]) }),
    );
    expect(served.stdout).toContain(
      `ok       keys: Deputy's keys load from OpenBao for each cluster (${eu}, ${us}: action, mcpCaller, executorCaller).`,
    );
    expect(served.code, served.stdout).toBe(0);
    const missing = await doctor(
      "bot",
      botEnv({ DEPUTY_CLUSTERS: JSON.stringify([cluster(eu), cluster(ap)]) }),
    );
    expect(missing.stdout).toContain(
      `Deputy's action key is missing at OpenBao ${TEST_KEYS_PATH}/clusters/${ap}/action`,
    );
    expect(missing.code).toBe(1);
  });

  it("finds Slack and the model answering for the bot", async () => {
    const { code, stdout } = await doctor("bot", botEnv());
    expect(stdout).toContain("Slack accepts the bot token");
    expect(stdout).toMatch(/ok +model: The model endpoint \S+ answers/);
    expect(code, stdout).toBe(0);
  });

  it("names the scopes the Slack app lacks, from the app manifest's list", async () => {
    const manifest = parse(readFileSync(join(ROOT, "bot/slack-app-manifest.yaml"), "utf8")) as {
      oauth_config: { scopes: { bot: string[] } };
    };
    expect([...REQUIRED_SLACK_SCOPES].sort()).toEqual([...manifest.oauth_config.scopes.bot].sort());
    const narrow = await startSlackFake({
      botToken: slack.botToken,
      scopes: REQUIRED_SLACK_SCOPES.filter((scope) => scope !== "usergroups:read"),
    });
    try {
      const { code, stdout } = await doctor("bot", botEnv({ SLACK_API_URL: narrow.apiUrl }));
      expect(stdout).toMatch(
        /PROBLEM +slack: The Slack app lacks scopes usergroups:read: reinstall it from bot\/slack-app-manifest\.yaml\./,
      );
      expect(code).toBe(1);
    } finally {
      await narrow.close();
    }
    const full = await startSlackFake({ botToken: slack.botToken, scopes: [...REQUIRED_SLACK_SCOPES] });
    try {
      const { stdout } = await doctor("bot", botEnv({ SLACK_API_URL: full.apiUrl }));
      expect(stdout).toContain("with every scope it needs");
    } finally {
      await full.close();
    }
  });

  it("says so when Slack refuses the bot token, and when the model refuses the key", async () => {
    const { code, stdout } = await doctor(
      "bot",
      botEnv({ SLACK_BOT_TOKEN: "xoxb-not-the-right-one", ANTHROPIC_API_KEY: "sk-ant-wrong" }),
    );
    expect(stdout).toMatch(/PROBLEM +slack: Slack refuses the bot token: invalid_auth/);
    expect(stdout).toMatch(/PROBLEM +model: The model endpoint \S+ refuses the key \(HTTP 401\)/);
    expect(code).toBe(1);
  });
});
