import type { Redis } from "ioredis";
import type { AuditLog } from "../../core/audit/log.ts";
import type { Logger } from "../../core/observability/logger.ts";
import { createActionStore, type ActionStore } from "../../core/actions/store.ts";
import {
  createApprovalExecutor,
  type ApprovalExecutor,
  type ApprovalExecutorDeps,
} from "../../executor/approval-executor.ts";
import {
  createCredentialBroker,
  type CredentialBroker,
  type CredentialBrokerOptions,
} from "../../executor/credential-broker.ts";
import { startHarness, type Harness } from "../mcp/harness.ts";
import { bob, connectRedis, dropPrefix, testPrefix, testSigner } from "./support.ts";
import { prepareWriteEnv, type WriteEnv } from "./write-env.ts";

/** What a write-path test works over: the prepared write environment, its Redis keys, Deputy's MCP server and the action store. */
export interface WriteFixture {
  env: WriteEnv;
  redis: Redis;
  /** The run's Redis key prefix, shared by the MCP server and the store. */
  prefix: string;
  /** Deputy's MCP server with its read identity, proposing into `store`. */
  harness: Harness;
  store: ActionStore;
  /** Stop the MCP server and drop the run's Redis keys. */
  close(): Promise<void>;
}

/**
 * The set-up of a write-path test: the write environment (namespaces, OpenBao
 * roles), Redis under a prefix of its own (named after `name`), an MCP server
 * allowed to propose writes in `writable` (with a rate limit no test reaches)
 * and the action store it writes.
 */
export async function startWriteFixture(name: string, writable: string): Promise<WriteFixture> {
  const env = await prepareWriteEnv();
  const redis = connectRedis();
  const prefix = testPrefix(name);
  let harness: Harness | undefined;
  const close = async (): Promise<void> => {
    await harness?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  };
  try {
    harness = await startHarness({
      env: {
        DEPUTY_REDIS_PREFIX: prefix,
        DEPUTY_RATE_LIMIT_USER_PER_MINUTE: "1000",
        DEPUTY_WRITABLE_NAMESPACES: writable,
      },
    });
  } catch (error) {
    await close();
    throw error;
  }
  const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
  return { env, redis, prefix, harness, store, close };
}

export type WriteExecutorOptions = Partial<ApprovalExecutorDeps> & {
  store: ActionStore;
  audit: AuditLog;
  logger: Logger;
  /** The Slack users who may approve (default: bob). */
  approverIds?: readonly string[];
  /** The broker's own logger (default: the executor's). */
  brokerLogger?: Logger;
  onCredential?: CredentialBrokerOptions["onCredential"];
};

/** The credential broker of a prepared write environment: OpenBao just-in-time credentials through its roles. */
export function writeBroker(
  env: WriteEnv,
  logger: Logger,
  onCredential?: CredentialBrokerOptions["onCredential"],
): CredentialBroker {
  return createCredentialBroker({
    openbao: env.openbao,
    logger,
    authMount: env.authMount,
    authRole: env.authRole,
    secretsMount: env.secretsMount,
    jwtPath: env.jwtPath,
    ...(onCredential ? { onCredential } : {}),
  });
}

/**
 * The real executor over a prepared write environment: OpenBao just-in-time
 * credentials through its roles, against its cluster, with both two-person
 * rules on and kube-system protected. `options` overrides any of it.
 */
export function writeExecutor(env: WriteEnv, options: WriteExecutorOptions): ApprovalExecutor {
  const { approverIds = [bob.id], brokerLogger, onCredential, ...deps } = options;
  return createApprovalExecutor({
    broker: writeBroker(env, brokerLogger ?? deps.logger, onCredential),
    roles: env.roles,
    cluster: env.cluster,
    approvers: { slackUserIds: [...approverIds], localApproverIds: [] },
    twoPersonRule: { normal: true, high: true },
    protectedNamespaces: ["kube-system"],
    clusterName: "testenv",
    ...deps,
  });
}
