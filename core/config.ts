import { z } from "zod";
import { CLUSTER_WIDE } from "./access.ts";
import { DEFAULT_CLUSTER_NAME, parseClusters, type ClusterConfig } from "./clusters.ts";
import { DeputyError } from "./errors.ts";
import { parseRedisConfig, type RedisConfig } from "./redis-config.ts";

/**
 * Deputy's whole configuration, parsed and validated once at start-up from the
 * environment (documented in .env.example). Nothing reads process.env after
 * this: components receive the parsed sections they need.
 */

const csv = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? "")
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const bool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .optional()
    .transform((value) => (value === undefined ? fallback : ["true", "1", "yes"].includes(value)));

const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).optional().default(fallback);

/** A service account's username: system:serviceaccount:<namespace>:<name>. */
const PREVIEW_IDENTITY =
  /^system:serviceaccount:([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?):([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;
export const DEFAULT_PREVIEW_IDENTITY = "system:serviceaccount:deputy-system:deputy-preview";

const envSchema = z.object({
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  // Kubernetes (reads use this identity; writes never do)
  KUBECONFIG: z.string().optional(),
  DEPUTY_CLUSTER_NAME: z.string().min(1).default(DEFAULT_CLUSTER_NAME),
  // JSON list (or a path to a JSON/YAML file) of {name, mcpUrl, executorUrl, channels}
  DEPUTY_CLUSTERS: z.string().optional(),
  DEPUTY_NAMESPACE_ALLOW: csv,
  DEPUTY_NAMESPACE_DENY: csv,
  DEPUTY_KUBE_MAX_CONCURRENCY: int(8, 1, 256),
  DEPUTY_KUBE_TIMEOUT_SECONDS: int(10, 1, 50),
  DEPUTY_OUTPUT_TOKEN_BUDGET: int(4000, 500, 100000),
  // The dry-run-only account the MCP server impersonates to preview a change (manifests/base/rbac/deputy-preview.yaml)
  DEPUTY_PREVIEW_IDENTITY: z
    .string()
    .regex(
      PREVIEW_IDENTITY,
      'must be "system:serviceaccount:<namespace>:<name>" (the preview service account\'s username)',
    )
    .default(DEFAULT_PREVIEW_IDENTITY),
  DEPUTY_PREVIEW_PROBE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a namespace name")
    .optional(),

  // MCP server
  DEPUTY_MCP_HOST: z.string().default("127.0.0.1"),
  DEPUTY_MCP_PORT: int(8080, 0, 65535),
  DEPUTY_MCP_URL: z.url().optional(),

  // Redis
  REDIS_URL: z.string().default("redis://127.0.0.1:6379"),
  DEPUTY_REDIS_PREFIX: z.string().default("deputy:"),
  DEPUTY_REDIS_SENTINELS: z
    .string()
    .optional()
    .meta({
      description:
        "Redis Sentinel: the sentinels to ask for the current primary, as a comma-separated host:port list (e.g. deputy-redis-node-0.deputy-redis-headless:26379,deputy-redis-node-1.deputy-redis-headless:26379). When set, REDIS_URL is not used; every component and deputy doctor connect to the primary the sentinels name and follow it across a failover.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "Redis is reached at REDIS_URL (a single server, or a redis+sentinel:// URL).",
    }),
  DEPUTY_REDIS_SENTINEL_MASTER: z
    .string()
    .optional()
    .meta({
      description:
        "The master set name the sentinels monitor (the Bitnami and Valkey charts call it mymaster unless configured otherwise). Used with DEPUTY_REDIS_SENTINELS.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "mymaster.",
    }),
  DEPUTY_REDIS_USERNAME: z
    .string()
    .optional()
    .meta({
      description:
        "The ACL user Deputy logs in to the Redis data nodes (primary and replicas) as; overrides a user in REDIS_URL.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "The user in REDIS_URL, or the default user.",
    }),
  DEPUTY_REDIS_PASSWORD: z
    .string()
    .optional()
    .meta({
      description:
        "The password of the Redis data nodes (primary and replicas); overrides a password in REDIS_URL. Can also come from OpenBao (DEPUTY_REDIS_SECRETS_FROM_OPENBAO).",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "The password in REDIS_URL, or none.",
    }),
  DEPUTY_REDIS_SENTINEL_USERNAME: z
    .string()
    .optional()
    .meta({
      description: "The ACL user Deputy logs in to the sentinels as.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "The sentinels are asked without a user name.",
    }),
  DEPUTY_REDIS_SENTINEL_PASSWORD: z
    .string()
    .optional()
    .meta({
      description:
        "The password of the sentinels (sentinels often have their own, or none). Can also come from OpenBao (DEPUTY_REDIS_SECRETS_FROM_OPENBAO).",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "The sentinels are asked without a password.",
    }),
  DEPUTY_REDIS_TLS: bool(false).meta({
    description:
      "Connect to the Redis data nodes over TLS (a rediss:// or rediss+sentinel:// URL turns it on as well).",
    readBy: ["bot", "mcp", "executor", "watcher", "cli"],
    unset: "false: plain TCP unless the URL says rediss.",
  }),
  DEPUTY_REDIS_SENTINEL_TLS: bool(false).meta({
    description: "Connect to the sentinels over TLS (a rediss+sentinel:// URL turns it on as well).",
    readBy: ["bot", "mcp", "executor", "watcher", "cli"],
    unset: "false: plain TCP to the sentinels unless the URL says rediss+sentinel.",
  }),
  DEPUTY_REDIS_TLS_CA_FILE: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        "A PEM file of the certificate authorities that sign the Redis and sentinel server certificates, for TLS connections.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "TLS connections trust Node's built-in certificate authorities.",
    }),
  DEPUTY_REDIS_SECRETS_FROM_OPENBAO: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]+\/data\/[A-Za-z0-9_/-]+$/,
      "must be a KV v2 data path like secret/data/deputy/redis",
    )
    .optional()
    .meta({
      description:
        "A KV v2 data path in OpenBao (e.g. secret/data/deputy/redis) holding the Redis credentials under the keys password and username (data nodes) and sentinel_password and sentinel_username (sentinels). Each component reads it at start-up with its own OpenBao role, as it reads its keys; a value found there wins over the environment.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "The Redis credentials come from REDIS_URL and the DEPUTY_REDIS_* variables only.",
    }),
  DEPUTY_REDIS_WAIT_REPLICAS: int(0, 0, 16).meta({
    description:
      "How many Redis replicas must confirm (Redis WAIT) a new pending action, each state transition of an action (approved, executing, succeeded, failed, interrupted) and an approval click's dedupe claim before Deputy goes on. What cannot be confirmed in time is said plainly: the proposal is answered with an error, and an approval is not run. See docs/redis-ha.md.",
    readBy: ["bot", "mcp", "executor", "cli"],
    unset: "0: no WAIT is sent, as with a single Redis; an acknowledged write can be lost in a failover.",
  }),
  DEPUTY_REDIS_WAIT_TIMEOUT_MS: int(500, 10, 60000).meta({
    description:
      "How long one WAIT may wait for the replicas (DEPUTY_REDIS_WAIT_REPLICAS) in milliseconds before the write counts as unconfirmed.",
    readBy: ["bot", "mcp", "executor", "cli"],
    unset: "500 ms.",
  }),

  // OpenBao
  BAO_ADDR: z.url().default("http://127.0.0.1:8200"),
  DEPUTY_BAO_AUTH_MOUNT: z.string().default("kubernetes"),
  DEPUTY_BAO_AUTH_ROLE: z.string().default("deputy-executor"),
  DEPUTY_BAO_SECRETS_MOUNT: z.string().default("kubernetes"),
  DEPUTY_BAO_JWT_PATH: z.string().default("/var/run/secrets/openbao/token"),

  // Approvals and guardrails
  DEPUTY_APPROVERS: csv,
  DEPUTY_APPROVER_GROUP: z.string().optional(),
  DEPUTY_APPROVAL_TTL_SECONDS: int(900, 30, 86400),
  DEPUTY_TWO_PERSON_RULE: bool(true),
  DEPUTY_TWO_PERSON_RULE_HIGH_RISK: bool(true),
  DEPUTY_WRITABLE_NAMESPACES: csv,
  DEPUTY_JIT_NAMESPACE: z.string().optional(),
  DEPUTY_PROTECTED_NAMESPACES: csv,
  DEPUTY_IMAGE_REGISTRIES: csv,
  DEPUTY_ALLOWED_CAPABILITIES: z.string().default("NET_BIND_SERVICE"),
  DEPUTY_RATE_LIMIT_USER_PER_MINUTE: int(10, 1, 10000),
  DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: int(60, 1, 100000),
  DEPUTY_EXECUTOR_URL: z.url().optional(),
  DEPUTY_EXECUTOR_PORT: int(8081, 0, 65535),

  // Slack
  SLACK_BOT_TOKEN: z.string().optional(),
  SLACK_SIGNING_SECRET: z.string().optional(),
  SLACK_APP_TOKEN: z.string().optional(),
  SLACK_SOCKET_MODE: bool(true),
  SLACK_API_URL: z.url().optional(),
  SLACK_PORT: int(3000, 0, 65535),
  SLACK_ALERT_CHANNEL: z.string().optional(),
  SLACK_TRIAGE_CHANNEL: z.string().optional(),
  DEPUTY_CONVERSATION_TTL_SECONDS: int(604800, 300, 2592000),
  DEPUTY_VERIFY_TIMEOUT_SECONDS: int(300, 10, 3600),
  // Alertmanager webhook receiver (POST /v1/alerts); off unless a token is set
  DEPUTY_ALERTS_TOKEN: z
    .string()
    .min(32, "must be at least 32 characters (e.g. openssl rand -hex 32)")
    .optional(),
  DEPUTY_ALERTS_HOST: z.string().default("127.0.0.1"),
  DEPUTY_ALERTS_PORT: int(8082, 0, 65535),
  DEPUTY_ALERT_ROUTES: csv,
  DEPUTY_ALERTS_PER_MINUTE: int(20, 1, 1000),
  // KV v2 data path prefix (e.g. secret/data/deputy): load Slack and Anthropic secrets from OpenBao
  DEPUTY_SECRETS_FROM_OPENBAO: z
    .string()
    .regex(/^[A-Za-z0-9_-]+\/data\/[A-Za-z0-9_/-]+$/, "must be a KV v2 data path like secret/data/deputy")
    .optional(),
  DEPUTY_BAO_BOT_AUTH_ROLE: z.string().default("deputy-bot"),
  // KV v2 data path prefix holding Deputy's HMAC keys, one entry per key (core/keys.ts)
  DEPUTY_KEYS_FROM_OPENBAO: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]+\/data\/[A-Za-z0-9_/-]+$/,
      "must be a KV v2 data path like secret/data/deputy/keys",
    )
    .optional(),
  DEPUTY_BAO_MCP_AUTH_ROLE: z.string().default("deputy-mcp"),

  // Who may ask, from where, and what they may see
  DEPUTY_ALLOWED_CHANNELS: csv,
  DEPUTY_REQUESTER_GROUP: z.string().optional(),
  DEPUTY_ALLOW_DIRECT_MESSAGES: bool(false),
  DEPUTY_CHANNEL_NAMESPACES: csv.describe(
    "Per-conversation scope: comma-separated CHANNEL=items entries, where CHANNEL is a Slack channel id, dm (every direct message) or * (every channel without an entry of its own) and items are |-separated namespace globs plus @cluster for node and other cluster-wide actions, e.g. C0SHOP=shop|shop-*,C0OPS=*|@cluster. Once any entry exists, a channel without one (and without *) is refused.",
  ),

  // Anthropic
  ANTHROPIC_API_KEY: z.string().optional(),
  ANTHROPIC_BASE_URL: z.url().optional(),
  DEPUTY_MODEL: z.string().default("claude-sonnet-4-6"),
  DEPUTY_AGENT_MAX_ITERATIONS: int(12, 1, 100),
  DEPUTY_AGENT_MAX_SECONDS: int(120, 5, 3600),
  DEPUTY_AGENT_MAX_TOKENS: int(200000, 1000, 10000000),
  DEPUTY_AGENT_MAX_OUTPUT_TOKENS: int(4096, 256, 64000),
  DEPUTY_MODEL_RETRY_SECONDS: int(30, 1, 600),
  DEPUTY_AGENT_TURNS_PER_HOUR: int(60, 1, 100000).describe(
    "Agent turns (questions the model answers) one person may start per cluster in any hour; more are refused with the time they can ask again.",
  ),
  DEPUTY_AGENT_TOKENS_PER_HOUR: int(3000000, 1000, 1000000000).describe(
    "Model tokens (input, output and cache) one person's agent turns may use per cluster in any hour; once reached, new turns are refused with the time they can ask again.",
  ),

  // Local mode
  DEPUTY_CONSOLE_HOST: z.string().default("127.0.0.1"),
  DEPUTY_CONSOLE_PORT: int(8090, 0, 65535),
  DEPUTY_LOCAL_USERS: z.string().default("alice:requester,bob:approver"),
  DEPUTY_LOG_FILE: z.string().optional(),
  DEPUTY_KUBE_CONTEXTS: z.string().optional(),

  // Observability
  DEPUTY_AUDIT_FILE: z.string().optional(),
  DEPUTY_METRICS_PORT: int(9090, 0, 65535),
  DEPUTY_ANOMALY_DELETES_PER_MINUTE: int(5, 1, 10000),
  DEPUTY_ANOMALY_DENIALS_PER_MINUTE: int(10, 1, 10000),
  DEPUTY_WATCH: bool(false),
  DEPUTY_WATCH_NAMESPACES: csv,
  DEPUTY_WATCH_NODES: bool(true),
  DEPUTY_WATCH_LEASE_NAMESPACE: z.string().min(1).default("deputy-system"),
  DEPUTY_WATCH_IDENTITY: z.string().min(1).optional(),
  DEPUTY_TRIAGE_PER_MINUTE: int(10, 1, 1000),
  DEPUTY_ANOMALY_PAUSE_WRITES: bool(true),
  DEPUTY_WRITE_PAUSE_TTL_SECONDS: int(900, 60, 86400),
});

export type Env = z.input<typeof envSchema>;

/** Every environment variable the configuration reads (.env.example documents each). */
export const CONFIG_ENV_KEYS: readonly string[] = Object.keys(envSchema.shape);

export type { ClusterConfig, RedisConfig };

export interface LocalUser {
  id: string;
  roles: ReadonlyArray<"requester" | "approver">;
}

export interface Config {
  logLevel: string;
  kube: {
    kubeconfig: string | undefined;
    clusterName: string;
    namespaceAllow: string[];
    namespaceDeny: string[];
    maxConcurrency: number;
    /** Longest one Kubernetes read may take, retries included. */
    callTimeoutMs: number;
    outputTokenBudget: number;
    /** The dry-run-only service account dry runs are sent as (Impersonate-User), DEPUTY_PREVIEW_IDENTITY. */
    previewIdentity: string;
    /** Where the preview self-check tries its one real write (a ConfigMap), DEPUTY_PREVIEW_PROBE_NAMESPACE. */
    previewProbeNamespace: string;
  };
  /** The clusters the bot serves (DEPUTY_CLUSTERS); one entry, kube.clusterName, without it. */
  clusters: ClusterConfig[];
  mcp: { host: string; port: number; url: string | undefined };
  redis: RedisConfig;
  openbao: {
    addr: string;
    authMount: string;
    authRole: string;
    secretsMount: string;
    jwtPath: string;
  };
  approvals: {
    approvers: string[];
    approverGroup: string | undefined;
    ttlSeconds: number;
    /** Two-person rule for normal-risk actions (DEPUTY_TWO_PERSON_RULE). */
    twoPersonRule: boolean;
    /** Two-person rule for high-risk actions. */
    twoPersonRuleHighRisk: boolean;
    /** Namespaces the executor may change (overrides manifests/openbao/roles.yaml when set). */
    writableNamespaces: string[];
    /** Namespace of generated accounts for node actions (overrides roles.yaml when set). */
    jitNamespace: string | undefined;
    executorUrl: string | undefined;
    executorPort: number;
  };
  guardrails: {
    protectedNamespaces: string[];
    /** Registry hosts (optionally with a path) a pod template may pull from without a high-risk flag; empty: no allow-list. */
    imageRegistries: string[];
    /** Capabilities a container may add without counting as host access. */
    allowedCapabilities: string[];
    rateLimitUserPerMinute: number;
    rateLimitClusterPerMinute: number;
  };
  slack: {
    botToken: string | undefined;
    signingSecret: string | undefined;
    appToken: string | undefined;
    socketMode: boolean;
    apiUrl: string | undefined;
    port: number;
    alertChannel: string | undefined;
    triageChannel: string | undefined;
    conversationTtlSeconds: number;
    /** How long an executed action's effect is watched before it is reported as not reached. */
    verifyTimeoutSeconds: number;
    /** KV v2 data path prefix holding slack/ and anthropic/ secrets, read at start-up. */
    secretsFromOpenBao: string | undefined;
    openbaoRole: string;
  };
  /** Deputy's HMAC keys (core/keys.ts). */
  keys: {
    /** KV v2 data path prefix, e.g. secret/data/deputy/keys; unset outside a cluster. */
    fromOpenBao: string | undefined;
    /** The MCP server's Kubernetes-auth role in OpenBao (it reads its keys only). */
    mcpAuthRole: string;
  };
  /** Who may ask Deputy, from which conversations, and which namespaces each channel sees. */
  access: {
    /** Slack channel ids Deputy answers in; empty: any channel it is invited to. */
    channels: string[];
    /** A Slack user group whose members may ask; unset: anyone in the channel. */
    requesterGroup: string | undefined;
    allowDirectMessages: boolean;
    /** Channel id (or "dm") → namespace globs its people may read and change. */
    channelNamespaces: Record<string, string[]>;
  };
  /** Alertmanager's webhook into Slack; `token` unset: the receiver does not start. */
  alertmanager: {
    token: string | undefined;
    host: string;
    port: number;
    /** `label=value:CHANNEL` entries, first match wins; SLACK_TRIAGE_CHANNEL catches the rest. */
    routes: string[];
    perMinute: number;
  };
  anthropic: {
    apiKey: string | undefined;
    baseUrl: string | undefined;
    model: string;
    maxIterations: number;
    maxSeconds: number;
    maxTokens: number;
    maxOutputTokens: number;
    /** How long a rate-limited or overloaded model service is retried before giving up. */
    retryWindowMs: number;
    /** Per person and cluster, over any hour: agent turns and model tokens. */
    turnsPerHour: number;
    tokensPerHour: number;
  };
  /** logFile: where local mode writes its log (the terminal shows progress only). */
  console: {
    host: string;
    port: number;
    users: LocalUser[];
    logFile: string | undefined;
    /** Local mode: kubeconfig contexts served as clusters of their own (DEPUTY_KUBE_CONTEXTS); empty: one cluster. */
    kubeContexts: string[];
  };
  observability: {
    auditFile: string | undefined;
    metricsPort: number;
    deletesPerMinute: number;
    denialsPerMinute: number;
    watchNamespaces: string[];
    /** `deputy mcp --http` runs the triage watcher with its read identity and queues what it finds for the bot. */
    watch: boolean;
    watchNodes: boolean;
    /** Namespace of the watcher's leader-election Lease. */
    watchLeaseNamespace: string;
    /** This replica's name for the Lease (the pod name); the host name when unset. */
    watchIdentity: string | undefined;
    triagePerMinute: number;
    /** Pause new write approvals when a write anomaly fires. */
    pauseWritesOnAnomaly: boolean;
    /** How long a write pause lasts unless an approver resumes writes earlier. */
    writePauseTtlSeconds: number;
  };
}

/** The namespace and name in a service account's username (validated by the schema). */
export function serviceAccountOf(username: string): { namespace: string; name: string } {
  const match = PREVIEW_IDENTITY.exec(username);
  if (!match) {
    throw new DeputyError(
      "CONFIG_INVALID",
      `"${username}" is not a service account's username (system:serviceaccount:<namespace>:<name>)`,
    );
  }
  return { namespace: match[1]!, name: match[3]! };
}

/** kube-system is always protected; configured namespaces are added to it. */
export const ALWAYS_PROTECTED_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"] as const;

function parseLocalUsers(spec: string): LocalUser[] {
  return spec
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const [id, ...roles] = entry.split(":");
      if (!id || !/^[a-z0-9][a-z0-9._-]{0,62}$/i.test(id)) {
        throw new DeputyError("CONFIG_INVALID", `DEPUTY_LOCAL_USERS: "${entry}" is not "name:role[:role]"`);
      }
      const parsed = roles.map((role) => {
        if (role !== "requester" && role !== "approver") {
          throw new DeputyError(
            "CONFIG_INVALID",
            `DEPUTY_LOCAL_USERS: role "${role}" of ${id} must be requester or approver`,
          );
        }
        return role;
      });
      return { id, roles: parsed.length > 0 ? parsed : ["requester"] };
    });
}

/**
 * "C123=shop|payments-*" entries: a channel id, `dm` (direct messages) or `*`
 * (every other channel), then `|`-separated namespace globs and optionally
 * `@cluster` (cluster-scoped actions such as node cordon and drain; see core/access.ts).
 */
function parseChannelNamespaces(entries: readonly string[]): Record<string, string[]> {
  const scopes: Record<string, string[]> = {};
  for (const entry of entries) {
    const match = /^([A-Z0-9]+|dm|\*)=([a-z0-9*|.@-]+)$/.exec(entry);
    const items = match ? match[2]!.split("|").filter((item) => item.length > 0) : [];
    if (!match || items.some((item) => item !== CLUSTER_WIDE && !/^[a-z0-9*.-]+$/.test(item))) {
      throw new DeputyError(
        "CONFIG_INVALID",
        `DEPUTY_CHANNEL_NAMESPACES: "${entry}" is not "CHANNEL_ID=namespace|namespace" (a channel id, dm or *; namespace globs with *, and ${CLUSTER_WIDE} for node and other cluster-wide actions)`,
      );
    }
    const channel = match[1]!;
    if (scopes[channel]) {
      throw new DeputyError("CONFIG_INVALID", `DEPUTY_CHANNEL_NAMESPACES names ${channel} twice`);
    }
    scopes[channel] = items;
  }
  return scopes;
}

export function parseConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
      .join("; ");
    throw new DeputyError("CONFIG_INVALID", `Invalid configuration: ${problems}`);
  }
  const e = result.data;
  return {
    logLevel: e.LOG_LEVEL,
    kube: {
      kubeconfig: e.KUBECONFIG,
      clusterName: e.DEPUTY_CLUSTER_NAME,
      namespaceAllow: e.DEPUTY_NAMESPACE_ALLOW,
      namespaceDeny: e.DEPUTY_NAMESPACE_DENY,
      maxConcurrency: e.DEPUTY_KUBE_MAX_CONCURRENCY,
      callTimeoutMs: e.DEPUTY_KUBE_TIMEOUT_SECONDS * 1000,
      outputTokenBudget: e.DEPUTY_OUTPUT_TOKEN_BUDGET,
      previewIdentity: e.DEPUTY_PREVIEW_IDENTITY,
      previewProbeNamespace:
        e.DEPUTY_PREVIEW_PROBE_NAMESPACE ?? serviceAccountOf(e.DEPUTY_PREVIEW_IDENTITY).namespace,
    },
    clusters: parseClusters(e.DEPUTY_CLUSTERS, {
      name: e.DEPUTY_CLUSTER_NAME,
      mcpUrl: e.DEPUTY_MCP_URL,
      executorUrl: e.DEPUTY_EXECUTOR_URL,
    }),
    mcp: { host: e.DEPUTY_MCP_HOST, port: e.DEPUTY_MCP_PORT, url: e.DEPUTY_MCP_URL },
    redis: parseRedisConfig({
      url: e.REDIS_URL,
      prefix: e.DEPUTY_REDIS_PREFIX,
      sentinels: e.DEPUTY_REDIS_SENTINELS,
      sentinelMaster: e.DEPUTY_REDIS_SENTINEL_MASTER,
      username: e.DEPUTY_REDIS_USERNAME,
      password: e.DEPUTY_REDIS_PASSWORD,
      sentinelUsername: e.DEPUTY_REDIS_SENTINEL_USERNAME,
      sentinelPassword: e.DEPUTY_REDIS_SENTINEL_PASSWORD,
      tls: e.DEPUTY_REDIS_TLS,
      sentinelTls: e.DEPUTY_REDIS_SENTINEL_TLS,
      caFile: e.DEPUTY_REDIS_TLS_CA_FILE,
      secretsFromOpenBao: e.DEPUTY_REDIS_SECRETS_FROM_OPENBAO,
      waitReplicas: e.DEPUTY_REDIS_WAIT_REPLICAS,
      waitTimeoutMs: e.DEPUTY_REDIS_WAIT_TIMEOUT_MS,
    }),
    openbao: {
      addr: e.BAO_ADDR,
      authMount: e.DEPUTY_BAO_AUTH_MOUNT,
      authRole: e.DEPUTY_BAO_AUTH_ROLE,
      secretsMount: e.DEPUTY_BAO_SECRETS_MOUNT,
      jwtPath: e.DEPUTY_BAO_JWT_PATH,
    },
    approvals: {
      approvers: e.DEPUTY_APPROVERS,
      approverGroup: e.DEPUTY_APPROVER_GROUP || undefined,
      ttlSeconds: e.DEPUTY_APPROVAL_TTL_SECONDS,
      twoPersonRule: e.DEPUTY_TWO_PERSON_RULE,
      twoPersonRuleHighRisk: e.DEPUTY_TWO_PERSON_RULE_HIGH_RISK,
      writableNamespaces: e.DEPUTY_WRITABLE_NAMESPACES,
      jitNamespace: e.DEPUTY_JIT_NAMESPACE,
      executorUrl: e.DEPUTY_EXECUTOR_URL,
      executorPort: e.DEPUTY_EXECUTOR_PORT,
    },
    guardrails: {
      protectedNamespaces: [...new Set([...ALWAYS_PROTECTED_NAMESPACES, ...e.DEPUTY_PROTECTED_NAMESPACES])],
      imageRegistries: e.DEPUTY_IMAGE_REGISTRIES,
      allowedCapabilities: e.DEPUTY_ALLOWED_CAPABILITIES.split(",")
        .map((cap) => cap.trim())
        .filter((cap) => cap.length > 0),
      rateLimitUserPerMinute: e.DEPUTY_RATE_LIMIT_USER_PER_MINUTE,
      rateLimitClusterPerMinute: e.DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE,
    },
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      socketMode: e.SLACK_SOCKET_MODE,
      apiUrl: e.SLACK_API_URL,
      port: e.SLACK_PORT,
      alertChannel: e.SLACK_ALERT_CHANNEL,
      triageChannel: e.SLACK_TRIAGE_CHANNEL,
      conversationTtlSeconds: e.DEPUTY_CONVERSATION_TTL_SECONDS,
      verifyTimeoutSeconds: e.DEPUTY_VERIFY_TIMEOUT_SECONDS,
      secretsFromOpenBao: e.DEPUTY_SECRETS_FROM_OPENBAO,
      openbaoRole: e.DEPUTY_BAO_BOT_AUTH_ROLE,
    },
    keys: { fromOpenBao: e.DEPUTY_KEYS_FROM_OPENBAO, mcpAuthRole: e.DEPUTY_BAO_MCP_AUTH_ROLE },
    access: {
      channels: e.DEPUTY_ALLOWED_CHANNELS,
      requesterGroup: e.DEPUTY_REQUESTER_GROUP || undefined,
      allowDirectMessages: e.DEPUTY_ALLOW_DIRECT_MESSAGES,
      channelNamespaces: parseChannelNamespaces(e.DEPUTY_CHANNEL_NAMESPACES),
    },
    alertmanager: {
      token: e.DEPUTY_ALERTS_TOKEN,
      host: e.DEPUTY_ALERTS_HOST,
      port: e.DEPUTY_ALERTS_PORT,
      routes: e.DEPUTY_ALERT_ROUTES,
      perMinute: e.DEPUTY_ALERTS_PER_MINUTE,
    },
    anthropic: {
      apiKey: e.ANTHROPIC_API_KEY,
      baseUrl: e.ANTHROPIC_BASE_URL,
      model: e.DEPUTY_MODEL,
      maxIterations: e.DEPUTY_AGENT_MAX_ITERATIONS,
      maxSeconds: e.DEPUTY_AGENT_MAX_SECONDS,
      maxTokens: e.DEPUTY_AGENT_MAX_TOKENS,
      maxOutputTokens: e.DEPUTY_AGENT_MAX_OUTPUT_TOKENS,
      retryWindowMs: e.DEPUTY_MODEL_RETRY_SECONDS * 1000,
      turnsPerHour: e.DEPUTY_AGENT_TURNS_PER_HOUR,
      tokensPerHour: e.DEPUTY_AGENT_TOKENS_PER_HOUR,
    },
    console: {
      host: e.DEPUTY_CONSOLE_HOST,
      port: e.DEPUTY_CONSOLE_PORT,
      users: parseLocalUsers(e.DEPUTY_LOCAL_USERS),
      logFile: e.DEPUTY_LOG_FILE,
      kubeContexts: (e.DEPUTY_KUBE_CONTEXTS ?? "")
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name.length > 0),
    },
    observability: {
      auditFile: e.DEPUTY_AUDIT_FILE,
      metricsPort: e.DEPUTY_METRICS_PORT,
      deletesPerMinute: e.DEPUTY_ANOMALY_DELETES_PER_MINUTE,
      denialsPerMinute: e.DEPUTY_ANOMALY_DENIALS_PER_MINUTE,
      watchNamespaces: e.DEPUTY_WATCH_NAMESPACES,
      watch: e.DEPUTY_WATCH,
      watchNodes: e.DEPUTY_WATCH_NODES,
      watchLeaseNamespace: e.DEPUTY_WATCH_LEASE_NAMESPACE,
      watchIdentity: e.DEPUTY_WATCH_IDENTITY,
      triagePerMinute: e.DEPUTY_TRIAGE_PER_MINUTE,
      pauseWritesOnAnomaly: e.DEPUTY_ANOMALY_PAUSE_WRITES,
      writePauseTtlSeconds: e.DEPUTY_WRITE_PAUSE_TTL_SECONDS,
    },
  };
}
