import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import {
  adoptLegacyWritePause,
  clusterStatePrefix,
  writePauseStatus,
} from "../core/observability/anomaly.ts";
import type { AuditLog } from "../core/audit/log.ts";
import type { Config } from "../core/config/config.ts";
import { DeputyError, describeError } from "../core/errors.ts";
import {
  loadDeputyKeys,
  requireKey,
  type DeputyKeys,
  type KeyPurpose,
  type KeySource,
} from "../core/identity/keys.ts";
import type { Identity } from "../core/identity/identity.ts";
import type { Logger } from "../core/observability/logger.ts";
import { loadOpenBaoRoles, secretsMounts, type OpenBaoRoles } from "../core/identity/openbao-roles.ts";
import { queueActionNotice } from "../core/actions/notices.ts";
import { applyRedisSecrets, loadRedisSecretsFromOpenBao } from "../core/state/redis-secrets.ts";
import { createActionStoreFromConfig, type ActionStore } from "../core/actions/store.ts";
import type { Closer } from "../core/closer.ts";
import { loadKubeConfig } from "../core/kube/config.ts";
import {
  createApprovalExecutor,
  type ApprovalDecider,
  type ApprovalExecutor,
  type ApprovalExecutorDeps,
} from "./approval-executor.ts";
import { createExecutorClient } from "./client.ts";
import { createCredentialBroker, type CredentialBroker, type JitCredential } from "./credential-broker.ts";
import type { ClusterEndpoint } from "./kube-writer.ts";
import { createOpenBaoClient, readOpenBaoJwt } from "./openbao-client.ts";
import { startExecutorUpkeep } from "./upkeep.ts";
import { fanOutAlertSink, loggerAlertSink, redisAlertSink } from "../core/observability/alerts.ts";
import { approvalPolicyFromConfig, type ApprovalPolicy } from "../core/actions/approval-policy.ts";
import type { Metrics } from "../core/observability/metrics.ts";

/**
 * Building the write path from parsed configuration, for `deputy executor`,
 * local mode and the bot's in-process executor (or its client of a remote one). Nothing here
 * reads the environment: it all comes from Config.
 */

/** roles.yaml with this deployment's writable and jit namespaces. */
export function loadRolesFromConfig(config: Config): OpenBaoRoles {
  return loadOpenBaoRoles({
    protectedNamespaces: config.guardrails.protectedNamespaces,
    ...(config.approvals.writableNamespaces.length > 0
      ? { writableNamespaces: config.approvals.writableNamespaces }
      : {}),
    ...(config.approvals.jitNamespace ? { jitNamespace: config.approvals.jitNamespace } : {}),
  });
}

/** API server address and CA from a kubeconfig — never its credentials. */
export function clusterEndpointOf(kubeConfig: KubeConfig): ClusterEndpoint {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster)
    throw new DeputyError("CONFIG_INVALID", "The Kubernetes configuration has no current cluster");
  let caPem: string | undefined;
  if (cluster.caData) caPem = Buffer.from(cluster.caData, "base64").toString("utf8");
  else if (cluster.caFile) caPem = readFileSync(cluster.caFile, "utf8");
  return { server: cluster.server, caPem };
}

export interface ExecutorFromConfig {
  executor: ApprovalExecutor;
  broker: CredentialBroker;
  store: ActionStore;
}

export function createExecutorFromConfig(options: {
  config: Config;
  redis: Redis;
  audit: AuditLog;
  logger: Logger;
  cluster: ClusterEndpoint;
  /** The key that verifies stored actions. */
  actionKey: Buffer;
  /** Slack user-group membership; unset when no group is configured. */
  isInGroup?: (identity: Identity) => Promise<boolean>;
  /** Only `deputy start` sets this: local-mode identities are accepted, from DEPUTY_LOCAL_USERS. */
  localMode?: boolean;
  /** The approval policy, loaded at start-up; unset: loaded here from DEPUTY_APPROVAL_POLICY. */
  policy?: ApprovalPolicy;
  /** Membership of any user group the policy names (an executor with a Slack client). */
  isMemberOf?: (identity: Identity, group: string) => Promise<boolean>;
  /** Defaults to the anomaly detector's Redis pause key (core/observability/anomaly.ts). */
  writePause?: ApprovalExecutorDeps["writePause"];
  /** Test hook only. */
  onCredential?: (credential: Readonly<JitCredential>) => void;
  metrics?: Metrics;
}): ExecutorFromConfig {
  const { config } = options;
  const roles = loadRolesFromConfig(config);
  const store = createActionStoreFromConfig(config, options.redis, options.actionKey);
  if (!options.writePause) {
    // The pause this executor enforces may still be under the key an earlier version used.
    adoptLegacyWritePause(options.redis, config).then(
      (moved) => {
        if (moved) options.logger.warn("a write pause stored by an earlier version now pauses this cluster");
      },
      (error: unknown) =>
        options.logger.warn(
          { err: describeError(error) },
          "could not look for an earlier version's write pause",
        ),
    );
  }
  options.metrics?.setPendingActionsSource(() => store.countByState());
  const broker = createCredentialBroker({
    openbao: createOpenBaoClient({ addr: config.openbao.addr }),
    logger: options.logger,
    authMount: config.openbao.authMount,
    authRole: config.openbao.authRole,
    secretsMount: config.openbao.secretsMount,
    secretsMounts: secretsMounts(config.openbao.secretsMount, roles.secretsEngine.parallelMounts),
    jwtPath: config.openbao.jwtPath,
    // Renewals keep a running action's lease alive up to the auth role's max TTL (roles.yaml).
    tokenMaxTtlSeconds:
      roles.auth.roles.find((role) => role.name === config.openbao.authRole)?.token_max_ttl ?? 60,
    ...(options.onCredential ? { onCredential: options.onCredential } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const localApproverIds = options.localMode
    ? config.console.users.filter((user) => user.roles.includes("approver")).map((user) => user.id)
    : [];
  const policy =
    options.policy ?? approvalPolicyFromConfig(config, { localApproverIds, logger: options.logger });
  const executor = createApprovalExecutor({
    store,
    policy,
    // A break-glass approval is announced in the alert channel by whichever bot replica pops it.
    alerts: fanOutAlertSink(
      loggerAlertSink(options.logger),
      redisAlertSink(options.redis, config.redis.prefix),
    ),
    broker,
    roles,
    cluster: options.cluster,
    audit: options.audit,
    logger: options.logger,
    approvers: {
      slackUserIds: config.approvals.approvers,
      group: config.approvals.approverGroup,
      isInGroup: config.approvals.approverGroup ? options.isInGroup : undefined,
      ...(options.isMemberOf ? { isMemberOf: options.isMemberOf } : {}),
      // DEPUTY_LOCAL_USERS has a default; outside local mode it must not name anyone.
      localIdentities: options.localMode === true,
      localApproverIds,
    },
    twoPersonRule: { normal: config.approvals.twoPersonRule, high: config.approvals.twoPersonRuleHighRisk },
    protectedNamespaces: config.guardrails.protectedNamespaces,
    clusterName: config.kube.clusterName,
    writePause: options.writePause ?? (() => writePauseStatus(options.redis, clusterStatePrefix(config))),
    // Interrupted runs are told in their thread by whichever bot replica pops the notice.
    notify: queueActionNotice(options.redis, config.redis.prefix),
  });
  return { executor, broker, store };
}

type ExecutorOptions = Parameters<typeof createExecutorFromConfig>[0];

/**
 * The executor with its background duties (heartbeats, finding interrupted
 * actions, expiring undecided ones), stopped by `closer`.
 */
export function startExecutorFromConfig(options: ExecutorOptions & { closer: Closer }): ExecutorFromConfig {
  const built = createExecutorFromConfig(options);
  const upkeep = startExecutorUpkeep(built.executor, options.logger);
  options.closer.add("the executor's upkeep", () => upkeep.stop());
  return built;
}

/**
 * What approves and rejects for the bot: the executor's HTTP API when
 * DEPUTY_EXECUTOR_URL is set (signed with the executorCaller key), otherwise
 * an executor in this process, writing with the cluster in the kubeconfig.
 */
export function deciderFromConfig(
  config: Config,
  deps: {
    redis: Redis;
    audit: AuditLog;
    logger: Logger;
    keys: DeputyKeys;
    closer: Closer;
    component: string;
    isInGroup?: ((identity: Identity) => Promise<boolean>) | undefined;
    /** The approval policy's groups, vouched for by the bot at each click (a remote executor). */
    policyGroups?: Parameters<typeof createExecutorClient>[0]["policyGroups"];
    metrics?: Metrics | undefined;
  },
): ApprovalDecider {
  if (config.approvals.executorUrl) {
    const group = config.approvals.approverGroup;
    const isMember = deps.isInGroup;
    return createExecutorClient({
      url: config.approvals.executorUrl,
      key: requireKey(deps.keys, "executorCaller", deps.component),
      ...(group && isMember ? { approverGroup: { id: group, isMember } } : {}),
      ...(deps.policyGroups ? { policyGroups: deps.policyGroups } : {}),
    });
  }
  return startExecutorFromConfig({
    config,
    redis: deps.redis,
    audit: deps.audit,
    logger: deps.logger.child({ component: "executor" }),
    cluster: clusterEndpointOf(loadKubeConfig({ kubeconfig: config.kube.kubeconfig })),
    actionKey: requireKey(deps.keys, "action", deps.component),
    closer: deps.closer,
    ...(deps.isInGroup ? { isInGroup: deps.isInGroup } : {}),
    ...(deps.policyGroups ? { isMemberOf: deps.policyGroups.isMember } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  }).executor;
}

/**
 * Where a production process reads Deputy's keys: OpenBao KV when
 * DEPUTY_KEYS_FROM_OPENBAO is set (logging in with its own role and its
 * projected token), otherwise nowhere, and loadDeputyKeys refuses to start.
 */
export async function keySourceFromConfig(config: Config, role: string): Promise<KeySource | undefined> {
  const path = config.keys.fromOpenBao;
  if (!path) return undefined;
  const jwt = await readOpenBaoJwt(config, "DEPUTY_KEYS_FROM_OPENBAO");
  return {
    kind: "openbao",
    openbao: createOpenBaoClient({ addr: config.openbao.addr }),
    authMount: config.openbao.authMount,
    role,
    jwt,
    path,
  };
}

/**
 * The configuration with the Redis credentials from OpenBao filled in when
 * DEPUTY_REDIS_SECRETS_FROM_OPENBAO is set (read with the component's own
 * role, as its keys are); otherwise the configuration as it is.
 */
export async function withRedisSecrets(config: Config, role: string, logger: Logger): Promise<Config> {
  const path = config.redis.secretsFromOpenBao;
  if (!path) return config;
  const secrets = await loadRedisSecretsFromOpenBao({
    openbao: createOpenBaoClient({ addr: config.openbao.addr }),
    authMount: config.openbao.authMount,
    role,
    jwt: await readOpenBaoJwt(config, "DEPUTY_REDIS_SECRETS_FROM_OPENBAO"),
    path,
  });
  // Names only, never a value.
  logger.info({ path, loaded: Object.keys(secrets) }, "Redis credentials loaded from OpenBao");
  return { ...config, redis: applyRedisSecrets(config.redis, secrets) };
}

/** Load the keys a production component needs, or refuse to start with a sentence saying how to fix it. */
export async function loadKeysFromConfig(options: {
  config: Config;
  role: string;
  purposes: readonly KeyPurpose[];
  /** A bot serving several clusters: each one's own keys. */
  clusters?: readonly string[] | undefined;
  component: string;
  logger: Logger;
}): Promise<DeputyKeys> {
  return loadDeputyKeys({
    purposes: options.purposes,
    clusters: options.clusters,
    source: await keySourceFromConfig(options.config, options.role),
    component: options.component,
    logger: options.logger,
  });
}
