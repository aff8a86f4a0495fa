import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisCheck } from "../../cli/doctor.ts";
import { connectRedisForCommand } from "../../cli/redis.ts";
import { parseConfig } from "../../core/config/config.ts";
import { createRedisClient } from "../../core/state/redis.ts";
import { startRedisHa, type RedisHa } from "../../devenv/redis-ha.ts";
import { withRedisSecrets } from "../../executor/wiring.ts";
import { capture } from "../executor/support.ts";
import { deleteNamespace, freshNamespace, loadTestEnv, mintServiceAccountToken } from "../helpers/testenv.ts";

/**
 * Redis credentials kept in OpenBao, against the OpenBao-compatible dev
 * server, the API server and a replicated Redis of the test's own whose data
 * nodes need an ACL user and password and whose sentinels need their own
 * password: a component logs in with its role, reads them, and reaches the
 * primary through the sentinels; without them it is refused, in a sentence.
 */
const env = loadTestEnv();
const suffix = randomBytes(4).toString("hex");
const mount = `kubernetes-redis-${suffix}`;
const kvPath = `secret/data/deputy-test-redis-${suffix}`;
const policy = `deputy-redis-test-${suffix}`;
const secrets = {
  username: `deputy-${suffix}`,
  password: `data-${randomBytes(12).toString("hex")}`,
  sentinel_password: `sentinel-${randomBytes(12).toString("hex")}`,
};
let namespace: string;
let dir: string;
let ha: RedisHa;

async function bao(method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${env.baoAddr}/v1/${path}`, {
    method,
    headers: { "X-Vault-Token": env.baoRootToken, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok && method !== "DELETE")
    throw new Error(`setup failed: ${response.status} ${await response.text()}`);
}

/** The set's sentinels and master, with no credential: those come from OpenBao or `extra`. */
function config(extra: Record<string, string> = {}) {
  return parseConfig({
    DEPUTY_REDIS_SENTINELS: ha.sentinelList,
    DEPUTY_REDIS_SENTINEL_MASTER: ha.masterName,
    DEPUTY_REDIS_PREFIX: `deputy-test:redis-secrets:${suffix}:`,
    BAO_ADDR: env.baoAddr,
    DEPUTY_BAO_AUTH_MOUNT: mount,
    DEPUTY_BAO_JWT_PATH: join(dir, "token"),
    ...extra,
  });
}

beforeAll(async () => {
  ha = await startRedisHa({
    auth: { username: secrets.username, password: secrets.password },
    sentinelPassword: secrets.sentinel_password,
  });
  namespace = await freshNamespace("redis-secrets");
  dir = await mkdtemp(join(tmpdir(), "deputy-redis-secrets-"));
  const reviewer = await mintServiceAccountToken(namespace, "token-reviewer", {
    clusterRole: "system:auth-delegator",
  });
  await bao("POST", `sys/auth/${mount}`, { type: "kubernetes" });
  await bao("POST", `auth/${mount}/config`, {
    kubernetes_host: env.server,
    kubernetes_ca_cert: readFileSync(env.caFile, "utf8"),
    token_reviewer_jwt: reviewer,
    disable_local_ca_jwt: true,
  });
  await bao("PUT", `sys/policies/acl/${policy}`, { policy: `path "${kvPath}" { capabilities = ["read"] }` });
  await bao("POST", `auth/${mount}/role/deputy-executor`, {
    bound_service_account_names: ["deputy-executor"],
    bound_service_account_namespaces: [namespace],
    audience: "openbao",
    token_ttl: 60,
    token_max_ttl: 60,
    token_policies: [policy],
    token_no_default_policy: true,
  });
  await bao("POST", kvPath, { data: secrets });
  await writeFile(
    join(dir, "token"),
    await mintServiceAccountToken(namespace, "deputy-executor", { audience: "openbao" }),
  );
}, 120_000);

afterAll(async () => {
  await ha?.stop();
  await bao("DELETE", `sys/auth/${mount}`);
  await bao("DELETE", `sys/policies/acl/${policy}`);
  await bao("DELETE", kvPath.replace("/data/", "/metadata/"));
  if (namespace) await deleteNamespace(namespace);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Redis credentials from OpenBao", () => {
  it("are read with the component's role and reach the primary through password-protected sentinels", async () => {
    const { logger, text } = capture();
    const resolved = await withRedisSecrets(
      config({ DEPUTY_REDIS_SECRETS_FROM_OPENBAO: kvPath }),
      "deputy-executor",
      logger,
    );
    expect(resolved.redis.auth).toEqual({ username: secrets.username, password: secrets.password });
    expect(resolved.redis.sentinelAuth.password).toBe(secrets.sentinel_password);
    const redis = createRedisClient(resolved.redis, { maxRetriesPerRequest: 1 });
    try {
      expect(await redis.call("ACL", "WHOAMI")).toBe(secrets.username);
      expect(redis.stream.remotePort).toBe((await ha.primary()).port);
    } finally {
      redis.disconnect();
    }
    const check = await redisCheck(resolved).run();
    expect(check.ok, check.sentence).toBe(true);
    // Names only in the log, never a value.
    expect(text()).toContain("Redis credentials loaded from OpenBao");
    for (const value of Object.values(secrets).slice(1)) expect(text()).not.toContain(value);
  });

  it("reach Redis for a one-shot command too (deputy audit --anchors, deputy policy explain)", async () => {
    const { logger } = capture();
    const redis = await connectRedisForCommand(
      config({ DEPUTY_REDIS_SECRETS_FROM_OPENBAO: kvPath }),
      "the audit anchors",
      logger,
    );
    try {
      expect(await redis.call("ACL", "WHOAMI")).toBe(secrets.username);
    } finally {
      redis.disconnect();
    }
    // Without them the command says what it could not reach, and names no password.
    const refused = connectRedisForCommand(
      config({ DEPUTY_REDIS_SENTINEL_PASSWORD: secrets.sentinel_password }),
      "the audit anchors",
      logger,
    );
    await expect(refused).rejects.toThrow(/^cannot reach Redis for the audit anchors: /);
    const sentence = await refused.catch((error: unknown) => (error as Error).message);
    for (const value of Object.values(secrets).slice(1)) expect(sentence).not.toContain(value);
  });

  it("without them, deputy doctor says Redis refuses, and names no password", async () => {
    const check = await redisCheck(
      config({ DEPUTY_REDIS_SENTINEL_PASSWORD: secrets.sentinel_password }),
    ).run();
    expect(check.ok).toBe(false);
    expect(check.sentence).toMatch(/Redis refuses Deputy's user|does not answer/);
    for (const value of Object.values(secrets).slice(1)) expect(check.sentence).not.toContain(value);
  });

  it("a path the role may not read stops the start with a sentence naming it", async () => {
    const { logger } = capture();
    const other = `${kvPath}-elsewhere`;
    await expect(
      withRedisSecrets(config({ DEPUTY_REDIS_SECRETS_FROM_OPENBAO: other }), "deputy-executor", logger),
    ).rejects.toThrow(
      new RegExp(
        `^The Redis credentials at OpenBao ${other} \\(DEPUTY_REDIS_SECRETS_FROM_OPENBAO\\) cannot be read with role deputy-executor`,
      ),
    );
  });
});
