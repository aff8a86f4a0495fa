import { AuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Config } from "../core/config/config.ts";
import {
  createRedisClient,
  describeRedisLocation,
  isTlsDistrust,
  replicationStatus,
  tlsTrustProblem,
} from "../core/state/redis.ts";
import { describeError } from "../core/errors.ts";
import type { KeyPurpose } from "../core/identity/keys.ts";
import { loadKubeConfig } from "../core/kube/config.ts";
import { createPreviewClient } from "../core/kube/preview.ts";
import type { Logger } from "../core/observability/logger.ts";
import { createCredentialBroker } from "../executor/credential-broker.ts";
import { createOpenBaoClient } from "../executor/openbao-client.ts";
import { clusterEndpointOf, loadKeysFromConfig, loadRolesFromConfig } from "../executor/wiring.ts";

/**
 * `deputy doctor`'s checks. A zero-trust deployment fails closed, so a
 * misconfiguration looks like silence; each check turns one connection or
 * permission into a sentence saying what works or what is wrong and where to
 * look. Checks never change the cluster, except the executor's, which mints
 * one credential and revokes it at once (the MCP server's preview check sends
 * one real write that admission must refuse, and that would change nothing).
 */
export type Component = "mcp" | "executor" | "bot";

export interface CheckResult {
  ok: boolean;
  sentence: string;
}

export interface Check {
  name: string;
  run(): Promise<CheckResult>;
}

const ok = (sentence: string): CheckResult => ({ ok: true, sentence });
const wrong = (sentence: string): CheckResult => ({ ok: false, sentence });

/** Bot scopes the Slack app manifest (bot/slack-app-manifest.yaml) asks for. */
export const REQUIRED_SLACK_SCOPES = [
  "app_mentions:read",
  "channels:read",
  "groups:read",
  "channels:history",
  "groups:history",
  "im:history",
  "im:read",
  "im:write",
  "chat:write",
  "commands",
  "files:write",
  "usergroups:read",
  "users:read",
] as const;

function keysCheck(
  config: Config,
  logger: Logger,
  role: string,
  purposes: KeyPurpose[],
  component: string,
  clusters?: string[],
): Check {
  return {
    name: "keys",
    async run() {
      try {
        const keys = await loadKeysFromConfig({ config, role, purposes, clusters, component, logger });
        if (clusters) {
          return ok(
            `Deputy's keys load from OpenBao for each cluster (${clusters.join(", ")}: ${purposes.join(", ")}).`,
          );
        }
        const loaded = purposes.filter((purpose) => keys[purpose]);
        return ok(`Deputy's keys load from OpenBao (${loaded.join(", ")}).`);
      } catch (error) {
        return wrong(`Deputy's keys do not load: ${describeError(error)}`);
      }
    },
  };
}

/** Redis as this component reaches it: the user's rights, the primary reached and its replicas. */
export function redisCheck(config: Config): Check {
  return {
    name: "redis",
    async run() {
      let redis: ReturnType<typeof createRedisClient>;
      try {
        redis = createRedisClient(config.redis, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          connectTimeout: 5_000,
          retryStrategy: () => null,
          // Sentinel: one round of asking the sentinels, not retries forever.
          sentinelRetryStrategy: () => null,
        });
      } catch (error) {
        return wrong(`Redis cannot be configured: ${describeError(error)}`);
      }
      // An authentication refusal or an untrusted certificate arrives as an "error" event; the
      // command itself only sees a closed connection.
      let refused: string | undefined;
      let untrusted: string | undefined;
      redis.on("error", (error: Error) => {
        if (/NOPERM|WRONGPASS|NOAUTH/.test(error.message)) refused = error.message;
        if (isTlsDistrust(error)) untrusted = error.message;
      });
      const key = `${config.redis.prefix}doctor:${process.pid}`;
      try {
        await redis.connect();
        // What Deputy does: plain keys, Lua scripts (the action store), lists (queues).
        await redis.set(key, "1", "EX", 30);
        await redis.eval("return redis.call('GET', KEYS[1])", 1, key);
        await redis.del(key);
        const status = await replicationStatus(redis);
        const { replicas, timeoutMs } = config.redis.durability;
        const reached =
          config.redis.connection.kind === "sentinel"
            ? `the sentinels name ${status.address} as primary of ${config.redis.connection.masterName}`
            : `reached ${status.address}`;
        const attached = `${status.connectedReplicas} replica${status.connectedReplicas === 1 ? "" : "s"} attached (${status.onlineReplicas} online)`;
        const durability =
          replicas > 0
            ? `writes wait for ${replicas} replica${replicas === 1 ? "" : "s"} (up to ${timeoutMs} ms)`
            : "writes do not wait for replicas (DEPUTY_REDIS_WAIT_REPLICAS=0)";
        if (status.role !== "master") {
          return wrong(
            `Redis at ${status.address} is a ${status.role}, not a primary: Deputy writes there would be refused; point REDIS_URL or the sentinels at the primary.`,
          );
        }
        if (status.onlineReplicas < replicas) {
          return wrong(
            `Redis accepts Deputy's user, but ${reached} with ${attached}, fewer than DEPUTY_REDIS_WAIT_REPLICAS=${replicas}: every proposal and approval would be refused as unconfirmed.`,
          );
        }
        return ok(
          `Redis accepts Deputy's user: read, write and scripts under "${config.redis.prefix}"; ${reached}, ${attached}; ${durability}.`,
        );
      } catch (error) {
        const text = describeError(error);
        const refusal = /NOPERM|WRONGPASS|NOAUTH/.test(text) ? text : refused;
        if (refusal) {
          return wrong(
            `Redis refuses Deputy's user (check the password in REDIS_URL and the ACL): ${refusal}`,
          );
        }
        // Through sentinels a refused certificate arrives as a closed connection: ask the first endpoint.
        untrusted ??= await tlsTrustProblem(config.redis);
        if (untrusted) {
          return wrong(
            `Redis's TLS certificate at ${describeRedisLocation(config.redis)} is not trusted (${untrusted}); set DEPUTY_REDIS_TLS_CA_FILE to the CA that signed it.`,
          );
        }
        return wrong(`Redis at ${describeRedisLocation(config.redis)} does not answer: ${text}`);
      } finally {
        redis.disconnect();
      }
    },
  };
}

async function canI(
  kubeConfig: KubeConfig,
  attributes: { verb: string; resource: string; group?: string; namespace?: string },
): Promise<boolean> {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  const review = await api.createSelfSubjectAccessReview({
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: {
        resourceAttributes: {
          verb: attributes.verb,
          resource: attributes.resource,
          group: attributes.group ?? "",
          ...(attributes.namespace ? { namespace: attributes.namespace } : {}),
        },
      },
    },
  });
  return review.status?.allowed === true;
}

/** The read identity reads, and can neither read Secrets nor change anything. */
function readIdentityCheck(config: Config): Check {
  return {
    name: "read identity",
    async run() {
      let kubeConfig: KubeConfig;
      try {
        kubeConfig = loadKubeConfig({ kubeconfig: config.kube.kubeconfig });
      } catch (error) {
        return wrong(`No Kubernetes identity: ${describeError(error)}`);
      }
      try {
        const problems: string[] = [];
        if (!(await canI(kubeConfig, { verb: "list", resource: "pods" })))
          problems.push("it cannot list pods (bind the deputy-reader ClusterRole)");
        if (await canI(kubeConfig, { verb: "get", resource: "secrets" }))
          problems.push("it can read Secrets (it must not: remove that binding)");
        const namespaces =
          config.approvals.writableNamespaces.length > 0 ? config.approvals.writableNamespaces : ["default"];
        for (const namespace of namespaces) {
          if (await canI(kubeConfig, { verb: "patch", resource: "deployments", group: "apps", namespace }))
            problems.push(`it can patch Deployments in ${namespace} (writes must go through OpenBao only)`);
        }
        if (problems.length > 0) return wrong(`The read identity is wrong: ${problems.join("; ")}.`);
        return ok("The read identity lists pods and can neither read Secrets nor patch.");
      } catch (error) {
        return wrong(`The API server did not answer an access review: ${describeError(error)}`);
      }
    },
  };
}

/**
 * The preview identity's self-check, exactly as the MCP server runs it: one
 * real write as the preview account must be refused by the dry-run-only
 * admission policy, and its dry run answered. It can change nothing: the
 * write is the eviction of a pod that does not exist.
 */
function previewCheck(config: Config, logger: Logger): Check {
  return {
    name: "preview",
    async run() {
      let kubeConfig: KubeConfig;
      try {
        kubeConfig = loadKubeConfig({ kubeconfig: config.kube.kubeconfig });
      } catch (error) {
        return wrong(`Proposals cannot be previewed: no Kubernetes identity: ${describeError(error)}`);
      }
      const preview = createPreviewClient({
        kubeConfig,
        identity: config.kube.previewIdentity,
        probeNamespace: config.kube.previewProbeNamespace,
        logger,
        timeoutMs: config.kube.callTimeoutMs,
      });
      try {
        const health = await preview.check();
        return health.usable ? ok(health.sentence) : wrong(health.sentence);
      } finally {
        preview.close();
      }
    },
  };
}

/** The executor's projected token logs in, and one credential is minted and revoked. */
function credentialCheck(config: Config, logger: Logger): Check {
  return {
    name: "credentials",
    async run() {
      let roles;
      try {
        roles = loadRolesFromConfig(config);
      } catch (error) {
        return wrong(`The OpenBao roles do not load: ${describeError(error)}`);
      }
      const namespace = roles.writableNamespaces[0]!;
      const role = roles.secretsEngine.roles.find(
        (r) => !r.clusterRoleBinding && r.allowedNamespaces.includes(namespace),
      );
      if (!role) return wrong(`No OpenBao role may write in ${namespace}.`);
      const broker = createCredentialBroker({
        openbao: createOpenBaoClient({ addr: config.openbao.addr }),
        logger,
        authMount: config.openbao.authMount,
        authRole: config.openbao.authRole,
        secretsMount: config.openbao.secretsMount,
        jwtPath: config.openbao.jwtPath,
        retry: { attempts: 1 },
      });
      try {
        const used = await broker.withCredential(
          { role, namespace },
          async (credential) => credential.namespace,
        );
        if (!used.revoked) {
          return wrong(
            `OpenBao minted a credential for ${role.name} in ${namespace} but did not revoke lease ${used.leaseId}: check the sys/leases/revoke policy.`,
          );
        }
        return ok(
          `The executor logs in to OpenBao as ${config.openbao.authRole} and mints and revokes a credential for ${role.name} in ${namespace}.`,
        );
      } catch (error) {
        return wrong(`The executor cannot get a credential from OpenBao: ${describeError(error)}`);
      }
    },
  };
}

function clusterCaCheck(config: Config): Check {
  return {
    name: "cluster",
    async run() {
      try {
        const endpoint = clusterEndpointOf(loadKubeConfig({ kubeconfig: config.kube.kubeconfig }));
        if (!endpoint.caPem) return wrong(`The API server's CA is unknown (${endpoint.server}).`);
        return ok(`The executor writes to ${endpoint.server} and knows its CA.`);
      } catch (error) {
        return wrong(`The executor does not know the API server: ${describeError(error)}`);
      }
    },
  };
}

function slackCheck(config: Config, fetchImpl: typeof fetch): Check {
  return {
    name: "slack",
    async run() {
      const token = config.slack.botToken;
      if (!token) return wrong("No Slack bot token (SLACK_BOT_TOKEN or DEPUTY_SECRETS_FROM_OPENBAO).");
      const base = (config.slack.apiUrl ?? "https://slack.com/api/").replace(/\/?$/, "/");
      try {
        const response = await fetchImpl(`${base}auth.test`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await response.json()) as {
          ok?: boolean;
          error?: string;
          team?: string;
          user?: string;
        };
        if (!body.ok)
          return wrong(`Slack refuses the bot token: ${body.error ?? `HTTP ${response.status}`}.`);
        const granted = response.headers.get("x-oauth-scopes");
        if (granted !== null) {
          const scopes = new Set(granted.split(",").map((s) => s.trim()));
          const missing = REQUIRED_SLACK_SCOPES.filter((scope) => !scopes.has(scope));
          if (missing.length > 0) {
            return wrong(
              `The Slack app lacks scopes ${missing.join(", ")}: reinstall it from bot/slack-app-manifest.yaml.`,
            );
          }
        }
        const scopesNote =
          granted === null ? " (Slack did not list its scopes)" : " with every scope it needs";
        return ok(
          `Slack accepts the bot token as ${body.user ?? "the bot"} in ${body.team ?? "its workspace"}${scopesNote}.`,
        );
      } catch (error) {
        return wrong(`Slack at ${base} does not answer: ${describeError(error)}`);
      }
    },
  };
}

function modelCheck(config: Config, fetchImpl: typeof fetch): Check {
  return {
    name: "model",
    async run() {
      const key = config.anthropic.apiKey;
      if (!key)
        return wrong(
          "No model key (ANTHROPIC_API_KEY or DEPUTY_SECRETS_FROM_OPENBAO): Deputy answers direct commands only.",
        );
      const base = (config.anthropic.baseUrl ?? "https://api.anthropic.com").replace(/\/$/, "");
      try {
        // Counting tokens costs nothing and proves the address, the key and the model name.
        const response = await fetchImpl(`${base}/v1/messages/count_tokens`, {
          method: "POST",
          headers: {
            "x-api-key": key,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
          },
          body: JSON.stringify({
            model: config.anthropic.model,
            messages: [{ role: "user", content: "ping" }],
          }),
          signal: AbortSignal.timeout(15_000),
        });
        if (response.ok) return ok(`The model endpoint ${base} answers for ${config.anthropic.model}.`);
        const text = (await response.text()).slice(0, 200);
        if (response.status === 401 || response.status === 403)
          return wrong(`The model endpoint ${base} refuses the key (HTTP ${response.status}).`);
        return wrong(`The model endpoint ${base} answered HTTP ${response.status}: ${text}`);
      } catch (error) {
        return wrong(
          `The model endpoint ${base} does not answer (in a mesh, an ANTHROPIC_BASE_URL gateway needs its own ServiceEntry): ${describeError(error)}`,
        );
      }
    },
  };
}

/** The checks for one component, in the order a reader would fix them. */
export function doctorChecks(
  component: Component,
  config: Config,
  logger: Logger,
  options: {
    fetch?: typeof fetch;
    botKeyPurposes?: KeyPurpose[];
    botKeyClusters?: string[] | undefined;
  } = {},
): Check[] {
  const fetchImpl = options.fetch ?? fetch;
  switch (component) {
    case "mcp":
      return [
        keysCheck(config, logger, config.keys.mcpAuthRole, ["action", "mcpCaller"], "deputy mcp --http"),
        redisCheck(config),
        readIdentityCheck(config),
        previewCheck(config, logger),
      ];
    case "executor":
      return [
        keysCheck(config, logger, config.openbao.authRole, ["action", "executorCaller"], "deputy executor"),
        redisCheck(config),
        clusterCaCheck(config),
        credentialCheck(config, logger),
      ];
    case "bot":
      return [
        keysCheck(
          config,
          logger,
          config.slack.openbaoRole,
          options.botKeyPurposes ?? ["action"],
          "deputy bot",
          options.botKeyClusters,
        ),
        redisCheck(config),
        slackCheck(config, fetchImpl),
        modelCheck(config, fetchImpl),
      ];
  }
}

/** Run every check; a check that throws is a problem, not a crash. */
export async function runChecks(checks: Check[]): Promise<Array<CheckResult & { name: string }>> {
  const results: Array<CheckResult & { name: string }> = [];
  for (const check of checks) {
    try {
      results.push({ name: check.name, ...(await check.run()) });
    } catch (error) {
      results.push({ name: check.name, ok: false, sentence: `The check failed: ${describeError(error)}` });
    }
  }
  return results;
}
