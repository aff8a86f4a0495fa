import { z } from "zod";
import { CLUSTER_WIDE } from "../identity/access.ts";
import { DEFAULT_CLUSTER_NAME, parseClusters, type ClusterConfig } from "./clusters.ts";
import { DeputyError } from "../errors.ts";
import { parseRedisConfig, type RedisConfig } from "../state/redis-config.ts";

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

/** The parts of Deputy that read a setting: each one's own process reads it from its environment. */
export type ConfigReader = "bot" | "mcp" | "executor" | "watcher" | "cli";

declare module "zod/v4/core" {
  interface GlobalMeta {
    /** Which components read this setting (docs/configuration.md). */
    readBy?: readonly ConfigReader[];
    /** What happens when the setting is not set, in a sentence. */
    unset?: string;
  }
}

/**
 * Every setting carries, as its outermost call, `.meta({ description, readBy,
 * unset })`; `deputy config reference` writes docs/configuration.md from them
 * and from the schema itself (type, default, range), grouped by the comment
 * headings below.
 */
export const envSchema = z.object({
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .meta({
      description: "How much each process logs (pino levels); `silent` logs nothing.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset: "`info`: start-up, decisions, refusals and failures, not each request.",
    }),

  // Kubernetes (reads use this identity; writes never do)
  KUBECONFIG: z
    .string()
    .optional()
    .meta({
      description:
        "The kubeconfig of the MCP server's read identity. The executor takes only the API server's address and CA from it, never its credentials; local mode and `deputy doctor` read it too.",
      readBy: ["mcp", "executor", "cli"],
      unset: "The in-cluster service account, then `~/.kube/config`.",
    }),
  DEPUTY_CLUSTER_NAME: z
    .string()
    .min(1)
    .default(DEFAULT_CLUSTER_NAME)
    .meta({
      description:
        "The name of this cluster on approval cards, in results, audit records, traces and per-cluster Redis keys. Each cluster's MCP server and executor run with their own cluster's name.",
      readBy: ["bot", "mcp", "executor", "watcher"],
      unset: "The cluster is called `local` (the base ConfigMaps say `production`).",
    }),
  DEPUTY_CLUSTERS: z
    .string()
    .optional()
    .meta({
      description:
        'The clusters one bot serves: a JSON list, or a path to a JSON or YAML file, of `{"name", "mcpUrl", "executorUrl", "channels"}`, where `channels` are the Slack channel ids whose new threads default to that cluster. Start-up refuses a cluster named twice, a channel that defaults to two clusters, a URL that is not http(s) and a name that is not a DNS label.',
      readBy: ["bot"],
      unset:
        "The bot serves exactly one cluster, `DEPUTY_CLUSTER_NAME`, at `DEPUTY_MCP_URL` and `DEPUTY_EXECUTOR_URL`.",
    }),
  DEPUTY_NAMESPACE_ALLOW: csv.meta({
    description: "Comma-separated namespaces the read tools may see.",
    readBy: ["mcp"],
    unset: "Every namespace but those in `DEPUTY_NAMESPACE_DENY`.",
  }),
  DEPUTY_NAMESPACE_DENY: csv.meta({
    description: "Comma-separated namespaces the read tools and the policy refuse.",
    readBy: ["mcp"],
    unset: "No namespace is refused by name (the allow list and channel scopes still apply).",
  }),
  DEPUTY_KUBE_MAX_CONCURRENCY: int(8, 1, 256).meta({
    description:
      "How many Kubernetes API calls one MCP server process makes at once; the rest wait, so a burst of questions is not a thundering herd against the API server.",
    readBy: ["mcp"],
    unset: "8 at a time.",
  }),
  DEPUTY_KUBE_TIMEOUT_SECONDS: int(10, 1, 50).meta({
    description:
      'The longest one Kubernetes read may take, waiting and retries included, in seconds. A frozen API server is then reported as "the Kubernetes API server at https://… did not answer within 10 s", well before the 60 s MCP request timeout.',
    readBy: ["mcp", "cli"],
    unset: "10 seconds.",
  }),
  DEPUTY_OUTPUT_TOKEN_BUDGET: int(4000, 500, 100000).meta({
    description:
      "The approximate number of model tokens one tool result may take; longer results are cut and say so.",
    readBy: ["mcp"],
    unset: "About 4,000 tokens per tool result.",
  }),
  DEPUTY_PREVIEW_IDENTITY: z
    .string()
    .regex(
      PREVIEW_IDENTITY,
      'must be "system:serviceaccount:<namespace>:<name>" (the preview service account\'s username)',
    )
    .default(DEFAULT_PREVIEW_IDENTITY)
    .meta({
      description:
        "The dry-run-only service account the MCP server impersonates (Impersonate-User) to have the API server answer a proposed change as a server-side dry run (manifests/base/rbac/deputy-preview.yaml). An admission policy (deputy-preview-guard.yaml) refuses its every real write; the MCP server checks that at start-up and every 5 minutes, and previews nothing until it holds. Rename the policy's `matchConditions` username with it.",
      readBy: ["mcp", "cli"],
      unset: "`system:serviceaccount:deputy-system:deputy-preview`, the account the base manifests create.",
    }),
  DEPUTY_PREVIEW_PROBE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a namespace name")
    .optional()
    .meta({
      description:
        "Where the preview self-check sends its one real write as the preview account: the eviction of a pod `deputy-preview-probe`, which need not exist, since admission must refuse it before the pod is looked up.",
      readBy: ["mcp", "cli"],
      unset: "The preview account's own namespace.",
    }),

  // MCP server
  DEPUTY_MCP_HOST: z
    .string()
    .default("127.0.0.1")
    .meta({
      description: "The address `deputy mcp --http` listens on (`--host` overrides it).",
      readBy: ["mcp", "cli"],
      unset: "`127.0.0.1`: only this machine; the base ConfigMap sets `0.0.0.0` behind the mesh.",
    }),
  DEPUTY_MCP_PORT: int(8080, 0, 65535).meta({
    description:
      "The port of the MCP server's Streamable HTTP endpoint (`/mcp`); in local mode, the port of the first cluster's MCP listener (the next clusters take the ports after it).",
    readBy: ["mcp", "cli"],
    unset: "8080.",
  }),
  DEPUTY_MCP_URL: z
    .url()
    .optional()
    .meta({
      description:
        "Where the bot reaches the MCP server over Streamable HTTP, e.g. `http://deputy-mcp:8080/mcp`. With several clusters, each entry of `DEPUTY_CLUSTERS` names its own.",
      readBy: ["bot"],
      unset: "The bot runs the MCP server in its own process, with the read identity of `KUBECONFIG`.",
    }),

  // Redis
  REDIS_URL: z
    .string()
    .default("redis://127.0.0.1:6379")
    .meta({
      description:
        "The Redis (or Valkey) that holds pending actions, conversations, dedupe records, rate limits, queues and nonces; the bot, the MCP server and the executor of one deployment share it. Deployments build it from the Secret `deputy-redis-auth`.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset: "`redis://127.0.0.1:6379`.",
    }),
  DEPUTY_REDIS_PREFIX: z
    .string()
    .default("deputy:")
    .meta({
      description:
        "The prefix of every Redis key Deputy writes; per-cluster state lives under `<prefix>cluster:<name>:`. Components that work together must use the same one.",
      readBy: ["bot", "mcp", "executor", "watcher", "cli"],
      unset: "`deputy:`.",
    }),
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
  BAO_ADDR: z
    .url()
    .default("http://127.0.0.1:8200")
    .meta({
      description:
        "OpenBao's address: the executor's logins and just-in-time credentials, and every component's keys and the bot's secrets from KV.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset: "`http://127.0.0.1:8200`.",
    }),
  DEPUTY_BAO_AUTH_MOUNT: z
    .string()
    .default("kubernetes")
    .meta({
      description: "The mount of OpenBao's Kubernetes auth method, through which every component logs in.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset: "`kubernetes`.",
    }),
  DEPUTY_BAO_AUTH_ROLE: z
    .string()
    .default("deputy-executor")
    .meta({
      description:
        "The executor's Kubernetes-auth role: its login buys a 60 s OpenBao token that can mint one per-action credential.",
      readBy: ["executor", "cli"],
      unset: "`deputy-executor`, as manifests/openbao/roles.yaml names it.",
    }),
  DEPUTY_BAO_SECRETS_MOUNT: z
    .string()
    .default("kubernetes")
    .meta({
      description:
        "The first mount of OpenBao's Kubernetes secrets engine, which mints the just-in-time credentials; with `parallelMounts` in roles.yaml the executor also uses `<mount>-2`, `<mount>-3`, … in turn.",
      readBy: ["executor", "cli"],
      unset: "`kubernetes`.",
    }),
  DEPUTY_BAO_JWT_PATH: z
    .string()
    .default("/var/run/secrets/openbao/token")
    .meta({
      description:
        "The projected service-account token (audience `openbao`) a component presents to log in to OpenBao.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset: "`/var/run/secrets/openbao/token`, where the base Deployments mount it.",
    }),

  // Approvals and guardrails
  DEPUTY_APPROVERS: csv.meta({
    description:
      "Comma-separated Slack user ids (U…) who may approve. A person is their user id, unique in an Enterprise Grid org: a `T…:U…` entry counts as its U… part, from any team. Set the same value for the bot and the executor.",
    readBy: ["bot", "executor"],
    unset:
      "Only members of `DEPUTY_APPROVER_GROUP` may approve; with neither set, nobody can approve and every click is refused.",
  }),
  DEPUTY_APPROVER_GROUP: z
    .string()
    .optional()
    .meta({
      description:
        "A Slack user group id (S…) whose members may approve; the group is mentioned on every card. A separate executor has no Slack client: the bot checks membership and vouches for it in its signed request.",
      readBy: ["bot", "executor"],
      unset: "Only `DEPUTY_APPROVERS` may approve; with neither set, nobody can approve.",
    }),
  DEPUTY_APPROVAL_TTL_SECONDS: int(900, 30, 86400).meta({
    description:
      "How long an approval card stays valid, in seconds; the expiry is signed with the action and shown on the card.",
    readBy: ["bot", "mcp"],
    unset: "900 seconds (15 minutes).",
  }),
  DEPUTY_TWO_PERSON_RULE: bool(true).meta({
    description: "Whether the requester is refused as the approver of their own normal-risk action.",
    readBy: ["executor"],
    unset: "On: someone else must approve.",
  }),
  DEPUTY_TWO_PERSON_RULE_HIGH_RISK: bool(true).meta({
    description: "Whether the requester is refused as the approver of their own high-risk action.",
    readBy: ["executor"],
    unset: "On: someone else must approve.",
  }),
  DEPUTY_APPROVAL_POLICY: z
    .string()
    .optional()
    .meta({
      description:
        "Path of the approval policy file (YAML): ordered rules, each a CEL condition over the action, the requester, the channel and the time, saying who may approve, how many distinct approvers are needed, or that the action is refused (see docs/approval-policy.md). The bot and the executor must read the same file. A policy that does not parse or type-check stops the component at start-up, naming the file, the line and the reason.",
      readBy: ["bot", "executor", "cli"],
      unset:
        "A built-in policy states DEPUTY_APPROVERS, DEPUTY_APPROVER_GROUP and the two-person rules as rules: one approval by anyone listed, never the requester's own unless the two-person rule is off for that risk level. Local mode uses its sample policy.",
    }),
  DEPUTY_WRITABLE_NAMESPACES: csv.meta({
    description:
      "Comma-separated namespaces the executor's OpenBao roles may write in (never `*`, never kube-system); each needs the RoleBinding `deputy-openbao-leases`. A drain leaves pods outside them in place.",
    readBy: ["executor", "mcp", "cli"],
    unset: "The list in manifests/openbao/roles.yaml.",
  }),
  DEPUTY_JIT_NAMESPACE: z
    .string()
    .optional()
    .meta({
      description:
        "The namespace where OpenBao creates the service accounts of cluster-scoped (node) actions; it is always protected from writes.",
      readBy: ["executor", "cli"],
      unset: "The namespace in manifests/openbao/roles.yaml (`deputy-jit`).",
    }),
  DEPUTY_PROTECTED_NAMESPACES: csv.meta({
    description:
      "Comma-separated namespaces no write may touch, besides kube-system, kube-public and kube-node-lease, which always are; a write proposed there is refused and raises an alert.",
    readBy: ["mcp", "executor", "bot", "cli"],
    unset: "Only kube-system, kube-public and kube-node-lease are protected.",
  }),
  DEPUTY_IMAGE_REGISTRIES: csv.meta({
    description:
      "Comma-separated registry hosts, optionally with a path (`registry.example.com/team`), that a pod template may pull from without a high-risk flag; matched by host and whole path segments, with images resolved as the runtime resolves them (`nginx` is `docker.io/library/nginx`).",
    readBy: ["mcp"],
    unset: "No allow-list: images are shown on the card but not flagged.",
  }),
  DEPUTY_ALLOWED_CAPABILITIES: z
    .string()
    .default("NET_BIND_SERVICE")
    .meta({
      description:
        "Comma-separated Linux capabilities a container may add; any other added capability is host access, and the change is refused.",
      readBy: ["mcp"],
      unset: "`NET_BIND_SERVICE` only.",
    }),
  DEPUTY_RATE_LIMIT_USER_PER_MINUTE: int(10, 1, 10000).meta({
    description: "Write proposals one person may make per minute; more are refused, naming the rule.",
    readBy: ["mcp"],
    unset: "10 per person per minute.",
  }),
  DEPUTY_RATE_LIMIT_CLUSTER_PER_MINUTE: int(60, 1, 100000).meta({
    description: "Write proposals the whole cluster accepts per minute, from everyone together.",
    readBy: ["mcp"],
    unset: "60 per cluster per minute.",
  }),
  DEPUTY_EXECUTOR_URL: z
    .url()
    .optional()
    .meta({
      description:
        "Where the bot reaches the executor's decision endpoint, e.g. `http://deputy-executor:8081`. With several clusters, each entry of `DEPUTY_CLUSTERS` names its own.",
      readBy: ["bot"],
      unset: "The bot runs the executor in its own process.",
    }),
  DEPUTY_EXECUTOR_PORT: int(8081, 0, 65535).meta({
    description: "The port of `deputy executor`'s decision endpoint (`POST /v1/decisions`).",
    readBy: ["executor"],
    unset: "8081.",
  }),

  // Slack
  SLACK_BOT_TOKEN: z
    .string()
    .optional()
    .meta({
      description:
        "The Slack bot token (xoxb-…). A secret: in a cluster the bot reads it from OpenBao (`DEPUTY_SECRETS_FROM_OPENBAO`), never from a ConfigMap.",
      readBy: ["bot", "cli"],
      unset: "`deputy bot` refuses to start, unless OpenBao supplies it.",
    }),
  SLACK_SIGNING_SECRET: z
    .string()
    .optional()
    .meta({
      description: "The Slack app's signing secret, which verifies requests in HTTP mode. A secret.",
      readBy: ["bot"],
      unset:
        "HTTP mode (`SLACK_SOCKET_MODE=false`) refuses to start, unless OpenBao supplies it; Socket Mode does not need it.",
    }),
  SLACK_APP_TOKEN: z
    .string()
    .optional()
    .meta({
      description: "The app-level token (xapp-…, scope `connections:write`) for Socket Mode. A secret.",
      readBy: ["bot"],
      unset: "Socket Mode refuses to start, unless OpenBao supplies it; HTTP mode does not need it.",
    }),
  SLACK_SOCKET_MODE: bool(true).meta({
    description:
      "Whether the bot connects to Slack over Socket Mode (no inbound traffic) or serves HTTP on `SLACK_PORT` at `/slack/events`.",
    readBy: ["bot"],
    unset: "Socket Mode.",
  }),
  SLACK_API_URL: z
    .url()
    .optional()
    .meta({
      description: "The Slack Web API's base URL, e.g. a proxy or a test fake.",
      readBy: ["bot", "cli"],
      unset: "`https://slack.com/api/`.",
    }),
  SLACK_PORT: int(3000, 0, 65535).meta({
    description: "The port of the bot's HTTP endpoint in HTTP mode.",
    readBy: ["bot"],
    unset: "3000.",
  }),
  SLACK_ALERT_CHANNEL: z
    .string()
    .optional()
    .meta({
      description:
        "The channel id (C…) where the bot posts anomaly alerts, its own and those the MCP servers and executors queue in Redis.",
      readBy: ["bot"],
      unset:
        "No alert is posted; alerts queued by other processes wait in Redis (the newest 1,000 kept), and a burst of deletes still pauses writes.",
    }),
  SLACK_TRIAGE_CHANNEL: z
    .string()
    .optional()
    .meta({
      description:
        "The channel id (C…) where the bot posts proactive triage, and Alertmanager alerts no route claims; only what that channel's scope allows.",
      readBy: ["bot"],
      unset:
        "No triage is posted; the watcher still queues it in Redis (the newest 1,000 kept), and unrouted alerts are counted and dropped.",
    }),
  DEPUTY_CONVERSATION_TTL_SECONDS: int(604800, 300, 2592000).meta({
    description: "How long a thread's conversation history is kept in Redis, in seconds.",
    readBy: ["bot"],
    unset: "604,800 seconds (7 days).",
  }),
  DEPUTY_VERIFY_TIMEOUT_SECONDS: int(300, 10, 3600).meta({
    description:
      "After an approved action runs, how long the bot watches its effect through the MCP read tools (rollout complete, replicas reached, pod replaced, node cordoned or drained) before it updates the card and resumes the agent with the verdict, in seconds.",
    readBy: ["bot"],
    unset: "300 seconds.",
  }),
  DEPUTY_MEMORY_RETENTION_DAYS: int(90, 0, 3650).meta({
    description:
      "How many days Deputy remembers a verified fix (the cluster, workload, diagnosed cause, approved change, people and verified result of an executed action) and each Slack thread's record for its timeline, in Redis under keys of each cluster. A diagnosis that matches a remembered fix names it in the answer. 0 turns the memory off.",
    readBy: ["bot"],
    unset: "Fixes and thread records are kept for 90 days.",
  }),
  DEPUTY_ALERTS_TOKEN: z
    .string()
    .min(32, "must be at least 32 characters (e.g. openssl rand -hex 32)")
    .optional()
    .meta({
      description:
        "The bearer token Alertmanager sends (`Authorization: Bearer <token>`) to the bot's webhook receiver, `POST /v1/alerts`; compared in constant time before the body is read. A secret: in a cluster the bot reads it from OpenBao (`secret/deputy/alerts`, key `token`).",
      readBy: ["bot"],
      unset: "No receiver starts and alerts are not read.",
    }),
  DEPUTY_ALERTS_HOST: z
    .string()
    .default("127.0.0.1")
    .meta({
      description: "The address the Alertmanager webhook receiver listens on.",
      readBy: ["bot"],
      unset: "`127.0.0.1`; the base ConfigMap sets `0.0.0.0` behind the mesh.",
    }),
  DEPUTY_ALERTS_PORT: int(8082, 0, 65535).meta({
    description: "The port of the Alertmanager webhook receiver.",
    readBy: ["bot"],
    unset: "8082.",
  }),
  DEPUTY_ALERT_ROUTES: csv.meta({
    description:
      "Where alerts go: comma-separated `label=value:CHANNEL_ID` entries, first match wins, e.g. `namespace=shop:C0123ABCD,team=payments:C0456EFGH`.",
    readBy: ["bot"],
    unset:
      "Every alert goes to `SLACK_TRIAGE_CHANNEL`, or is counted as unrouted and dropped when that is unset too.",
  }),
  DEPUTY_ALERTS_PER_MINUTE: int(20, 1, 1000).meta({
    description:
      "New alert messages per channel in any 60 s; the rest are posted on Alertmanager's next repeat.",
    readBy: ["bot"],
    unset: "20 per channel per minute.",
  }),
  DEPUTY_SECRETS_FROM_OPENBAO: z
    .string()
    .regex(/^[A-Za-z0-9_-]+\/data\/[A-Za-z0-9_/-]+$/, "must be a KV v2 data path like secret/data/deputy")
    .optional()
    .meta({
      description:
        "A KV v2 data path prefix (e.g. `secret/data/deputy`): at start-up the bot logs in with Kubernetes auth and reads `<path>/slack` (`bot_token`, `signing_secret`, `app_token`), `<path>/anthropic` (`api_key`) and `<path>/alerts` (`token`).",
      readBy: ["bot", "cli"],
      unset: "The Slack tokens, the model key and the alerts token come from the environment only.",
    }),
  DEPUTY_BAO_BOT_AUTH_ROLE: z
    .string()
    .default("deputy-bot")
    .meta({
      description: "The bot's Kubernetes-auth role in OpenBao, for reading its secrets and keys.",
      readBy: ["bot", "cli"],
      unset: "`deputy-bot`.",
    }),
  DEPUTY_KEYS_FROM_OPENBAO: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]+\/data\/[A-Za-z0-9_/-]+$/,
      "must be a KV v2 data path like secret/data/deputy/keys",
    )
    .optional()
    .meta({
      description:
        "A KV v2 data path prefix (e.g. `secret/data/deputy/keys`) of Deputy's HMAC keys, one entry per key, field `key`, 32 random bytes in base64: `<path>/action`, `<path>/mcp-caller`, `<path>/executor-caller`. Each component reads only its own, once at start-up, with its own role.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset:
        "Local mode and `deputy mcp --stdio` generate keys in memory; `deputy executor`, `deputy mcp --http` and a bot that reaches them over HTTP refuse to start, naming the missing setting.",
    }),
  DEPUTY_BAO_MCP_AUTH_ROLE: z
    .string()
    .default("deputy-mcp")
    .meta({
      description: "The MCP server's Kubernetes-auth role in OpenBao, for reading its keys.",
      readBy: ["mcp", "cli"],
      unset: "`deputy-mcp`.",
    }),

  // Who may ask, from where, and what they may see
  DEPUTY_ALLOWED_CHANNELS: csv.meta({
    description:
      "Comma-separated Slack channel ids Deputy answers in; elsewhere it answers with a refusal (audited) and runs nothing.",
    readBy: ["bot"],
    unset: "Any channel Deputy is invited to.",
  }),
  DEPUTY_REQUESTER_GROUP: z
    .string()
    .optional()
    .meta({
      description:
        "A Slack user group id (S…) whose members may ask Deputy, use its Home tab and `/deputy pending`, and click Undo.",
      readBy: ["bot"],
      unset: "Anyone in an allowed channel may ask.",
    }),
  DEPUTY_ALLOW_DIRECT_MESSAGES: bool(false).meta({
    description: "Whether Deputy answers direct messages (a DM is not a team channel anyone can see).",
    readBy: ["bot"],
    unset: "Off: direct messages get a refusal.",
  }),
  DEPUTY_CHANNEL_NAMESPACES: csv.meta({
    description:
      "Per-conversation scope: comma-separated `CHANNEL=items` entries, where CHANNEL is a Slack channel id, `dm` (every direct message) or `*` (every channel without an entry of its own), and items are `|`-separated namespace globs plus `@cluster` for node and other cluster-wide actions, e.g. `C0SHOP=shop|shop-*,C0OPS=*|@cluster`. Every MCP request of that channel's conversations (tool calls, log files), read or write, is limited to these namespaces on top of `DEPUTY_NAMESPACE_ALLOW`/`DENY`, and alerts routed there are only diagnosed inside them. Set the same value for the bot and the MCP server.",
    readBy: ["bot", "mcp"],
    unset:
      "Every channel sees what the namespace lists allow, nodes included. Once any entry is set, a channel without one (and without `*`) is refused.",
  }),

  // Anthropic
  ANTHROPIC_API_KEY: z
    .string()
    .optional()
    .meta({
      description:
        "The Anthropic API key of the agent. A secret: in a cluster the bot reads it from OpenBao (`DEPUTY_SECRETS_FROM_OPENBAO`).",
      readBy: ["bot", "cli"],
      unset:
        "No agent: direct commands (`troubleshoot`, `logs`, `restart`, …) still work, and so does proactive triage.",
    }),
  ANTHROPIC_BASE_URL: z
    .url()
    .optional()
    .meta({
      description:
        "The Messages API's base URL, e.g. a company gateway (the SDK reads it too). In a cluster the bot's sidecar reaches only hosts with a ServiceEntry: add one for the gateway.",
      readBy: ["bot", "cli"],
      unset: "`https://api.anthropic.com`.",
    }),
  DEPUTY_MODEL: z
    .string()
    .default("claude-sonnet-4-6")
    .meta({
      description: "The model the agent uses.",
      readBy: ["bot", "cli"],
      unset: "`claude-sonnet-4-6`.",
    }),
  DEPUTY_AGENT_MAX_ITERATIONS: int(12, 1, 100).meta({
    description: "The most model calls one agent turn may make.",
    readBy: ["bot"],
    unset: "12 model calls.",
  }),
  DEPUTY_AGENT_MAX_SECONDS: int(120, 5, 3600).meta({
    description: "The longest one agent turn may take, in seconds.",
    readBy: ["bot"],
    unset: "120 seconds.",
  }),
  DEPUTY_AGENT_MAX_TOKENS: int(200000, 1000, 10000000).meta({
    description: "The most input and output tokens one agent turn may use.",
    readBy: ["bot"],
    unset: "200,000 tokens.",
  }),
  DEPUTY_AGENT_MAX_OUTPUT_TOKENS: int(4096, 256, 64000).meta({
    description: "The most output tokens one model call may produce.",
    readBy: ["bot"],
    unset: "4,096 tokens.",
  }),
  DEPUTY_MODEL_RETRY_SECONDS: int(30, 1, 600).meta({
    description:
      "How long an overloaded or rate-limited model service (HTTP 429, 529, 5xx) is retried, with backoff, before the thread is told to ask again later, in seconds.",
    readBy: ["bot"],
    unset: "30 seconds.",
  }),
  DEPUTY_AGENT_TURNS_PER_HOUR: int(60, 1, 100000).meta({
    description:
      "Agent turns (questions the model answers) one person may start per cluster in any hour, counted in Redis across replicas; more are refused with the time they can ask again. Direct commands still work.",
    readBy: ["bot"],
    unset: "60 turns per person per cluster per hour.",
  }),
  DEPUTY_AGENT_TOKENS_PER_HOUR: int(3000000, 1000, 1000000000).meta({
    description:
      "Model tokens (input, output and cache) one person's agent turns may use per cluster in any hour; once reached, new turns are refused with the time they can ask again.",
    readBy: ["bot"],
    unset: "3,000,000 tokens per person per cluster per hour.",
  }),

  // Local mode
  DEPUTY_CONSOLE_HOST: z
    .string()
    .default("127.0.0.1")
    .meta({
      description: "The address local mode's web console listens on.",
      readBy: ["cli"],
      unset: "`127.0.0.1`.",
    }),
  DEPUTY_CONSOLE_PORT: int(8090, 0, 65535).meta({
    description: "The port of local mode's web console (`deputy start --port` overrides it).",
    readBy: ["cli"],
    unset: "8090.",
  }),
  DEPUTY_LOCAL_USERS: z
    .string()
    .default("alice:requester,bob:approver")
    .meta({
      description:
        "Local mode's people: `name:role[:role],…` with roles `requester` and `approver`. Local mode only: every other process refuses local identities.",
      readBy: ["cli"],
      unset: "`alice:requester,bob:approver`.",
    }),
  DEPUTY_LOG_FILE: z
    .string()
    .optional()
    .meta({
      description: "Where local mode writes its log; the terminal shows progress only.",
      readBy: ["cli"],
      unset: "`.deputy/deputy.log`.",
    }),
  DEPUTY_KUBE_CONTEXTS: z
    .string()
    .optional()
    .meta({
      description:
        "Comma-separated kubeconfig contexts local mode serves as clusters of their own, each named after its context (a DNS label: rename others with `kubectl config rename-context`), all set up in the one OpenBao of `BAO_ADDR` and `BAO_TOKEN`.",
      readBy: ["cli"],
      unset: "Local mode serves the current context only.",
    }),

  // Observability
  DEPUTY_AUDIT_FILE: z
    .string()
    .optional()
    .meta({
      description: "A file the hash-chained audit trail is appended to, besides stdout.",
      readBy: ["bot", "mcp", "executor", "cli"],
      unset: "The audit trail goes to stdout only (local mode: `.deputy/audit.jsonl`).",
    }),
  DEPUTY_METRICS_PORT: int(9090, 0, 65535).meta({
    description: "The port of each component's Prometheus `/metrics` endpoint.",
    readBy: ["bot", "mcp", "executor"],
    unset: "9090.",
  }),
  DEPUTY_ANOMALY_DELETES_PER_MINUTE: int(5, 1, 10000).meta({
    description:
      "Executed deletes and evictions per cluster per minute above which an anomaly alert fires (and, with `DEPUTY_ANOMALY_PAUSE_WRITES`, new write approvals pause).",
    readBy: ["bot", "mcp", "executor"],
    unset: "More than 5 in a minute.",
  }),
  DEPUTY_ANOMALY_DENIALS_PER_MINUTE: int(10, 1, 10000).meta({
    description:
      "Policy denials per cluster per minute above which an anomaly alert fires; denials never pause writes.",
    readBy: ["bot", "mcp", "executor"],
    unset: "More than 10 in a minute.",
  }),
  DEPUTY_WATCH: bool(false).meta({
    description:
      "Whether `deputy mcp --http` runs the proactive triage watcher with its read identity (it needs get/create/update on the Lease `deputy-watcher`) and queues what it finds in Redis for the bot to post in `SLACK_TRIAGE_CHANNEL`.",
    readBy: ["mcp"],
    unset:
      "Off in the MCP server; a bot without `DEPUTY_MCP_URL` runs the watcher in its own process instead.",
  }),
  DEPUTY_WATCH_NAMESPACES: csv.meta({
    description: "Comma-separated namespaces the triage watcher watches.",
    readBy: ["watcher"],
    unset: "Every namespace: one cluster-wide watch.",
  }),
  DEPUTY_WATCH_NODES: bool(true).meta({
    description: "Whether the triage watcher watches nodes as well as pods.",
    readBy: ["watcher"],
    unset: "On.",
  }),
  DEPUTY_WATCH_LEASE_NAMESPACE: z
    .string()
    .min(1)
    .default("deputy-system")
    .meta({
      description:
        "The namespace of the Lease `deputy-watcher` through which the watcher's replicas elect one leader.",
      readBy: ["watcher"],
      unset: "`deputy-system`.",
    }),
  DEPUTY_WATCH_IDENTITY: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        "This replica's name in the watcher's leader election (the base Deployment sets the pod name).",
      readBy: ["watcher"],
      unset: "The host name.",
    }),
  DEPUTY_TRIAGE_PER_MINUTE: int(10, 1, 1000).meta({
    description:
      "Proactive triage messages the watcher may queue per minute, across replicas; the rest wait and are tried again when the window allows.",
    readBy: ["watcher"],
    unset: "10 per minute.",
  }),
  DEPUTY_ANOMALY_PAUSE_WRITES: bool(true).meta({
    description:
      "Whether a burst of executed deletes or evictions pauses new write approvals in that cluster; refused proposals and policy denials alert but never pause.",
    readBy: ["bot", "mcp", "executor"],
    unset: "On: such a burst pauses writes.",
  }),
  DEPUTY_WRITE_PAUSE_TTL_SECONDS: int(900, 60, 86400).meta({
    description:
      "How long a write pause lasts unless an approver lifts it earlier (`/deputy resume-writes`, or the button on the alert), in seconds.",
    readBy: ["bot", "mcp", "executor"],
    unset: "900 seconds (15 minutes).",
  }),
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
    /** The approval policy file (DEPUTY_APPROVAL_POLICY); unset: the built-in policy from the settings above. */
    policyFile: string | undefined;
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
    /** How long verified fixes and thread records are remembered (0: not at all). */
    memoryRetentionDays: number;
    /** KV v2 data path prefix holding slack/ and anthropic/ secrets, read at start-up. */
    secretsFromOpenBao: string | undefined;
    openbaoRole: string;
  };
  /** Deputy's HMAC keys (core/identity/keys.ts). */
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
 * `@cluster` (cluster-scoped actions such as node cordon and drain; see core/identity/access.ts).
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
      policyFile: e.DEPUTY_APPROVAL_POLICY || undefined,
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
      memoryRetentionDays: e.DEPUTY_MEMORY_RETENTION_DAYS,
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
