import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { createAuditLog, type AuditLog, type AuditRecord } from "../../core/audit/log.ts";
import type { Identity } from "../../core/identity/identity.ts";
import { createLogger, type Logger } from "../../core/observability/logger.ts";
import { actionDigest, createActionSigner, type ActionSigner } from "../../core/actions/digest.ts";
import type { ActionDraft, ActionStore } from "../../core/actions/store.ts";
import type { OpenBaoRoles } from "../../core/identity/openbao-roles.ts";
import { createApprovalExecutor, type ApprovalExecutor } from "../../executor/approval-executor.ts";
import type { ClusterEndpoint } from "../../executor/kube-writer.ts";

/** Shared by the write-path tests: a Redis key prefix of their own, captured logs and audit. */

export const alice: Identity = { kind: "slack", teamId: "T1", id: "U_ALICE", name: "alice" };
export const bob: Identity = { kind: "slack", teamId: "T1", id: "U_BOB", name: "bob" };
export const mallory: Identity = { kind: "slack", teamId: "T1", id: "U_MALLORY", name: "mallory" };

export function redisUrl(): string {
  return process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
}

export function testPrefix(name: string): string {
  return `deputy-test:${name}:${randomBytes(4).toString("hex")}:`;
}

export function connectRedis(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
}

/** Delete every key under a prefix (SCAN, never KEYS). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

/** Every value stored under a prefix, as text, for "no secret in Redis" checks. */
export async function dumpPrefix(redis: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === "hash") out.push(key, JSON.stringify(await redis.hgetall(key)));
      else if (type === "string") out.push(key, (await redis.get(key)) ?? "");
      else if (type === "zset") out.push(key, JSON.stringify(await redis.zrange(key, 0, -1, "WITHSCORES")));
      else out.push(key, type);
    }
  } while (cursor !== "0");
  return out.join("\n");
}

export interface Captured {
  logger: Logger;
  audit: AuditLog;
  records: AuditRecord[];
  /** Every log and audit line written so far. */
  text(): string;
}

export function capture(): Captured {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  const records: AuditRecord[] = [];
  return {
    logger: createLogger({ level: "debug", destination: sink }),
    audit: createAuditLog({ destination: sink, onRecord: (record) => records.push(record) }),
    records,
    text: () => lines.join(""),
  };
}

export function draft(overrides: Partial<ActionDraft> = {}): ActionDraft {
  return {
    cluster: "test",
    tool: "scale_deployment",
    arguments: { namespace: "shop", name: "frontend", replicas: 3 },
    target: {
      kind: "Deployment",
      namespace: "shop",
      name: "frontend",
      uid: "u-1",
      resourceVersion: "10",
      generation: 1,
    },
    evidence: { currentReplicas: 2, pods: [] },
    risk: { level: "normal", flags: [] },
    requester: alice,
    ...overrides,
  };
}

/** The action MAC key every test process shares with itself: made per run, never stored. */
export const TEST_ACTION_KEY = randomBytes(32);

export function testSigner(key: Buffer = TEST_ACTION_KEY): ActionSigner {
  return createActionSigner(key);
}

/**
 * An executor that serves another cluster (`clusterName`) and may mint
 * nothing: its broker records any credential asked of it in `minted` and
 * refuses. For showing that a decision is refused before a credential.
 */
export function executorOfAnotherCluster(options: {
  store: ActionStore;
  roles: OpenBaoRoles;
  cluster: ClusterEndpoint;
  clusterName: string;
  minted?: string[];
  audit?: AuditLog;
}): ApprovalExecutor {
  return createApprovalExecutor({
    store: options.store,
    broker: {
      withCredential: (request) => {
        options.minted?.push(request.role.name);
        return Promise.reject(
          new Error(`no credential may be minted by cluster ${options.clusterName}'s executor`),
        );
      },
      revokeLease: () => Promise.resolve(),
      stats: () => ({ logins: 0, minted: 0, revoked: 0, revokeFailures: 0, renewals: 0, renewFailures: 0 }),
    },
    roles: options.roles,
    cluster: options.cluster,
    audit:
      options.audit ?? createAuditLog({ destination: new Writable({ write: (_c, _e, done) => done() }) }),
    logger: createLogger({ level: "silent" }),
    approvers: { slackUserIds: [bob.id], localApproverIds: [] },
    twoPersonRule: { normal: true, high: true },
    protectedNamespaces: ["kube-system"],
    clusterName: options.clusterName,
  });
}

/**
 * Make a stored pending action one whose signed window has closed, as if the
 * MCP server had signed it `agoMs` before its window: a new document and MAC
 * under the test key (expiry is the signed `expiresAt`, never `expiresAtMs`).
 */
export async function signAsExpired(redis: Redis, prefix: string, id: string, agoMs = 40_000): Promise<void> {
  const key = `${prefix}action:${id}`;
  const doc = JSON.parse((await redis.hget(key, "doc")) ?? "{}") as Record<string, unknown>;
  const expired: Record<string, unknown> = {
    ...doc,
    createdAt: new Date(Date.now() - 900_000 - agoMs).toISOString(),
    expiresAt: new Date(Date.now() - agoMs).toISOString(),
  };
  expired.digest = actionDigest(expired as never);
  await redis.hset(key, { doc: JSON.stringify(expired), mac: testSigner().mac(expired as never) });
}
