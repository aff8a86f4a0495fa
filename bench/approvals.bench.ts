import { dirname, join } from "node:path";
import { AppsV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { createAuditLog } from "../core/audit/log.ts";
import { createLogger } from "../core/observability/logger.ts";
import type { PendingAction } from "../core/actions/schema.ts";
import { PATCH_CONTENT_TYPES } from "../core/actions/action-type.ts";
import { normaliseObject, resultDigest } from "../core/actions/effect.ts";
import { scaleDeployment } from "../core/actions/types/index.ts";
import { DEFAULT_PREVIEW_IDENTITY } from "../core/config/config.ts";
import { createKubeClients } from "../core/kube/client.ts";
import { createPreviewClient } from "../core/kube/preview.ts";
import { readerKubeConfig } from "../test/mcp/harness.ts";
import { createActionStore } from "../core/actions/store.ts";
import { createApprovalExecutor } from "../executor/approval-executor.ts";
import { evaluatePolicy, parseApprovalPolicy, type ApprovalPolicy } from "../core/actions/approval-policy.ts";
import { createCredentialBroker, type CredentialBroker } from "../executor/credential-broker.ts";
import { ignoredSchema } from "../executor/openbao-client.ts";
import { renderPolicyHcl, roleForAction } from "../core/identity/openbao-roles.ts";
import { upTestEnv } from "../devenv/testenv.ts";
import { loadTestEnv, mintServiceAccountToken } from "../test/helpers/testenv.ts";
import { alice, bob, connectRedis, dropPrefix, testPrefix, testSigner } from "../test/executor/support.ts";
import {
  EXECUTOR_NAMESPACE,
  EXECUTOR_SA,
  OPENBAO_ACCOUNT,
  prepareWriteEnv,
  type WriteEnv,
} from "../test/executor/write-env.ts";
import { startCountingProxy, type CountingProxy } from "./counting-proxy.ts";
import { interleaved, spreadNote } from "./compare.ts";
import type { BenchReport } from "./run.ts";

/**
 * 50 approvals at once, each with its own just-in-time credential: the talk's
 * thundering herd against the secret store. Goal: one OpenBao login while its
 * token is valid, 50 credentials minted and revoked, no failure, p95
 * approval→done ≤ 5 s. Two modes, in the same run, repeated and interleaved
 * so that a busy moment on the machine hits both:
 *  - pre-created: what ships — the engine binds the pre-created action
 *    ClusterRole, over roles.yaml's parallel mounts;
 *  - generated: the engine generates a Role per lease (generated_role_rules)
 *    on one mount, as Deputy did before; its OpenBao account needs escalate
 *    and bind, so it is a separate, bench-only account and mount.
 *  - one login per approval: pre-created roles, but every approval's broker
 *    logs in on its own, as an executor without the shared login would (the
 *    thundering herd against OpenBao's login endpoint).
 *  - 50-rule policy: pre-created roles, and an approval policy file of 50
 *    rules whose last one applies, evaluated at every decision, beside the
 *    built-in policy of the pre-created mode. Policy evaluation alone is
 *    timed per decision too.
 * Every herd starts with fresh brokers (no login cached), so the login count
 * of the shared login is what a cold herd costs, beside one per approval.
 * The API calls per credential are counted exactly: for the run, every
 * engine mount talks to the API server through a counting HTTPS proxy
 * (bench/counting-proxy.ts), and is pointed back at the API server after.
 */
const NS = "deputy-w-bench";
const APPROVALS = 50;
const DEPLOYMENTS = APPROVALS;
const REPEATS = 3;
const GENERATED_MOUNT = "k8s-deputy-bench-generated";
const GENERATED_POLICY = "deputy-bench-generated";
const GENERATED_AUTH_ROLE = "deputy-executor-bench-generated";
const GENERATED_ACCOUNT = "openbao-generated-roles";

const MODES = ["pre-created", "generated", "per-approval", "policy"] as const;
const POLICY_RULES = 50;

/** 50 rules, each over the cluster, namespace, tool, risk and time; only the last applies to the herd. */
function fiftyRulePolicy(): ApprovalPolicy {
  const rules = Array.from({ length: POLICY_RULES - 1 }, (_, i) =>
    [
      `  - name: rule ${i}`,
      `    when: action.cluster == "cluster-${i}" && action.namespace.startsWith("team-${i}") && action.tool in ["drain_node", "delete_pod"] && action.risk == "high" && time.hour >= ${i % 24}`,
      `    approve: { users: [U0OTHER${i}], count: ${1 + (i % 3)} }`,
    ].join("\n"),
  );
  const text = [
    "version: 1",
    "timeZone: Europe/Berlin",
    "rules:",
    ...rules,
    "  - name: bench",
    '    when: action.cluster == "bench" && !("statefulset-pod" in action.flags)',
    `    approve: { users: [${bob.id}] }`,
  ].join("\n");
  return parseApprovalPolicy(text, "bench-policy.yaml");
}
type Mode = (typeof MODES)[number];

interface ModeResult {
  p50: number;
  p95: number;
  wall: number;
  failures: number;
  conflicts: number;
  minted: number;
  logins: number;
  apiCalls: number;
}

/** The generated-role mode, bench-only: its own OpenBao account (escalate + bind), mount, policy and login role. */
async function setUpGeneratedMode(env: WriteEnv, admin: KubeConfig): Promise<string> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const core = admin.makeApiClient(CoreV1Api);
  const ignore409 = (error: { code?: number }) => {
    if (error.code !== 409) throw error;
  };
  await core
    .createNamespacedServiceAccount({
      namespace: OPENBAO_ACCOUNT.namespace,
      body: { metadata: { name: GENERATED_ACCOUNT } },
    })
    .catch(ignore409);
  await rbac
    .createNamespacedRole({
      namespace: NS,
      body: {
        metadata: { name: GENERATED_ACCOUNT },
        rules: [
          { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "create", "delete"] },
          { apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"] },
          {
            apiGroups: ["rbac.authorization.k8s.io"],
            resources: ["roles"],
            verbs: ["get", "create", "delete", "escalate", "bind"],
          },
          {
            apiGroups: ["rbac.authorization.k8s.io"],
            resources: ["rolebindings"],
            verbs: ["get", "create", "delete"],
          },
        ],
      },
    })
    .catch(ignore409);
  await rbac
    .createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: GENERATED_ACCOUNT },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: GENERATED_ACCOUNT },
        subjects: [{ kind: "ServiceAccount", name: GENERATED_ACCOUNT, namespace: OPENBAO_ACCOUNT.namespace }],
      },
    })
    .catch(ignore409);
  const jwt = await mintServiceAccountToken(OPENBAO_ACCOUNT.namespace, GENERATED_ACCOUNT, {
    expirationSeconds: 3600,
  });
  const test = loadTestEnv();
  const call = (method: "GET" | "POST" | "PUT", path: string, body?: unknown) =>
    env.openbao.request(method, path, { token: test.baoRootToken, body, schema: ignoredSchema });
  const mounts = (await call("GET", "sys/mounts")) as { data?: Record<string, unknown> } & Record<
    string,
    unknown
  >;
  if (!Object.hasOwn(mounts.data ?? mounts, `${GENERATED_MOUNT}/`)) {
    await call("POST", `sys/mounts/${GENERATED_MOUNT}`, { type: "kubernetes" });
  }
  await call("POST", `${GENERATED_MOUNT}/config`, {
    kubernetes_host: env.cluster.server,
    kubernetes_ca_cert: env.cluster.caPem,
    service_account_jwt: jwt,
    disable_local_ca_jwt: true,
  });
  const role = roleForAction(env.roles, "scale_deployment");
  await call("POST", `${GENERATED_MOUNT}/roles/${role.name}`, {
    allowed_kubernetes_namespaces: [NS],
    kubernetes_role_type: "Role",
    generated_role_rules: JSON.stringify({ rules: role.rules }),
    token_default_ttl: 600,
    token_max_ttl: 3600,
    name_template: env.roles.secretsEngine.name_template,
  });
  await call("PUT", `sys/policies/acl/${GENERATED_POLICY}`, {
    policy: renderPolicyHcl({
      paths: {
        [`${GENERATED_MOUNT}/creds/deputy-*`]: ["update"],
        [`sys/leases/revoke/${GENERATED_MOUNT}/creds/deputy-*`]: ["update"],
        "auth/token/renew-self": ["update"],
      },
    }),
  });
  await call("POST", `auth/${env.authMount}/role/${GENERATED_AUTH_ROLE}`, {
    bound_service_account_names: [EXECUTOR_SA],
    bound_service_account_namespaces: [EXECUTOR_NAMESPACE],
    audience: "openbao",
    token_ttl: 60,
    token_max_ttl: 3600,
    token_policies: [GENERATED_POLICY],
    token_no_default_policy: true,
  });
  return jwt;
}

/** Point the engine mounts at `host` (the counting proxy, or back at the API server). */
async function pointMounts(env: WriteEnv, mounts: Record<string, string>, host: string): Promise<void> {
  await Promise.all(
    Object.entries(mounts).map(([mount, jwt]) =>
      env.openbao.request("POST", `${mount}/config`, {
        token: loadTestEnv().baoRootToken,
        body: {
          kubernetes_host: host,
          kubernetes_ca_cert: env.cluster.caPem,
          service_account_jwt: jwt,
          disable_local_ca_jwt: true,
        },
        schema: ignoredSchema,
      }),
    ),
  );
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export async function run(): Promise<BenchReport> {
  await upTestEnv({ progress: (line) => process.stderr.write(`testenv: ${line}\n`) });
  const env = await prepareWriteEnv();
  const admin = new KubeConfig();
  admin.loadFromFile(loadTestEnv().kubeconfig);
  const apps = admin.makeApiClient(AppsV1Api);
  const generatedJwt = await setUpGeneratedMode(env, admin);
  const engineJwt = await mintServiceAccountToken(OPENBAO_ACCOUNT.namespace, OPENBAO_ACCOUNT.name, {
    expirationSeconds: 24 * 3600,
  });
  const mounts: Record<string, string> = {
    ...Object.fromEntries(env.secretsMounts.map((mount) => [mount, engineJwt])),
    [GENERATED_MOUNT]: generatedJwt,
  };
  const test = loadTestEnv();
  const proxy: CountingProxy = await startCountingProxy({
    target: new URL(test.server),
    caFile: test.caFile,
    caKeyFile: join(dirname(test.caFile), "ca.key"),
  });
  await pointMounts(env, mounts, proxy.url);
  try {
    return await measure(env, admin, apps, proxy);
  } finally {
    await pointMounts(env, mounts, env.cluster.server);
    await proxy.close();
  }
}

async function measure(
  env: WriteEnv,
  admin: KubeConfig,
  apps: AppsV1Api,
  proxy: CountingProxy,
): Promise<BenchReport> {
  // One deployment per approval: 50 independent writes, so any failure is the write path's own.
  const targets: PendingAction["target"][] = [];
  for (let i = 0; i < DEPLOYMENTS; i++) {
    const name = `herd-${i}`;
    await apps.deleteNamespacedDeployment({ name, namespace: NS }).catch(() => undefined);
    const created = await (async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          return await apps.createNamespacedDeployment({
            namespace: NS,
            body: {
              metadata: { name, namespace: NS },
              spec: {
                replicas: 0,
                selector: { matchLabels: { app: name } },
                template: {
                  metadata: { labels: { app: name } },
                  spec: { containers: [{ name: "c", image: "ghcr.io/example/c:1" }] },
                },
              },
            },
          });
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 200)); // the previous one is still being deleted
        }
      }
      throw new Error(`could not create ${NS}/${name}`);
    })();
    targets.push({ kind: "Deployment", namespace: NS, name, uid: created.metadata?.uid ?? "" });
  }

  const redis = connectRedis();
  const prefix = testPrefix("bench");
  const store = createActionStore(redis, { prefix, ttlSeconds: 900, signer: testSigner() });
  const logger = createLogger({ level: "silent" });
  /**
   * A new broker: nothing cached, so its first credential needs a login.
   * `start` rotates the parallel mounts so that brokers made one per approval
   * spread their credentials over the mounts as one shared broker does.
   */
  let brokersMade = 0;
  const rotated = (start: number): string[] => {
    const mounts = env.secretsMounts;
    const at = start % mounts.length;
    return [...mounts.slice(at), ...mounts.slice(0, at)];
  };
  const newBroker = (mode: Mode): CredentialBroker =>
    mode === "generated"
      ? createCredentialBroker({
          openbao: env.openbao,
          logger,
          authMount: env.authMount,
          authRole: GENERATED_AUTH_ROLE,
          secretsMount: GENERATED_MOUNT,
          jwtPath: env.jwtPath,
        })
      : createCredentialBroker({
          openbao: env.openbao,
          logger,
          authMount: env.authMount,
          authRole: env.authRole,
          secretsMount: env.secretsMount,
          secretsMounts: rotated(brokersMade++),
          jwtPath: env.jwtPath,
        });
  const policy = fiftyRulePolicy();
  const executorFor = (broker: CredentialBroker, mode: Mode) =>
    createApprovalExecutor({
      store,
      ...(mode === "policy" ? { policy } : {}),
      broker,
      roles: env.roles,
      cluster: env.cluster,
      audit: createAuditLog({ destination: { write: () => undefined } }),
      logger,
      approvers: { slackUserIds: [bob.id], localApproverIds: [] },
      twoPersonRule: { normal: true, high: true },
      protectedNamespaces: ["kube-system"],
      clusterName: "bench",
    });

  // Proposals as the MCP server stores them: the live object read with the read identity, and
  // the API server's dry-run answer to the exact request from the preview identity.
  const reader = await readerKubeConfig();
  const readKube = createKubeClients(reader);
  const preview = createPreviewClient({
    kubeConfig: reader,
    identity: DEFAULT_PREVIEW_IDENTITY,
    probeNamespace: "deputy-system",
    logger,
  });
  if (!(await preview.check()).usable) throw new Error(`no preview identity: ${preview.health().sentence}`);
  let round = 0;
  const propose = async (i: number) => {
    const target = targets[i % DEPLOYMENTS]!;
    const args = { namespace: NS, name: target.name, replicas: 1 + ((i + round) % 5) };
    const evidence = { currentReplicas: 1, pods: [] };
    const request = scaleDeployment.request!(args, evidence, target);
    const live = await readKube.get<unknown>(request.path);
    const answer = await preview.dryRun({
      method: request.method,
      path: request.path,
      body: request.body,
      contentType: PATCH_CONTENT_TYPES[request.patchType],
      query: request.query,
    });
    return store.create({
      cluster: "bench",
      tool: "scale_deployment",
      arguments: args,
      target,
      evidence,
      effect: {
        object: request.object,
        live: normaliseObject(live),
        result: normaliseObject(answer.object),
        warnings: answer.warnings,
        digest: resultDigest(answer.object, { created: false }),
      },
      risk: { level: "normal", flags: [] },
      requester: alice,
    });
  };

  // One approval alone per mode first: the uncontended latency, login included.
  const single: Record<string, number> = {};
  for (const mode of MODES) {
    const action = await propose(0);
    const t0 = performance.now();
    const result = await executorFor(newBroker(mode), mode).decide({
      actionId: action.id,
      digest: action.digest,
      approver: bob,
      decision: "approve",
    });
    single[mode] = performance.now() - t0;
    if (result.status !== "succeeded")
      throw new Error(`single approval (${mode}) ${result.status}: ${result.message}`);
  }

  async function herd(mode: Mode): Promise<ModeResult> {
    round++;
    // Shared: one broker (one login) for the herd. Per approval: a broker, and so a login, each.
    const shared = mode === "per-approval" ? undefined : newBroker(mode);
    const brokers: CredentialBroker[] = [];
    const executorOf = (): ReturnType<typeof executorFor> => {
      const broker = shared ?? newBroker(mode);
      if (!shared || brokers.length === 0) brokers.push(broker);
      return executorFor(broker, mode);
    };
    const sharedExecutor = shared ? executorOf() : undefined;
    const actions = await Promise.all(Array.from({ length: APPROVALS }, (_, i) => propose(i)));
    proxy.reset();
    const started = performance.now();
    const timings: number[] = [];
    const results = await Promise.all(
      actions.map(async (action) => {
        const executor = sharedExecutor ?? executorOf();
        const t0 = performance.now();
        const result = await executor.decide({
          actionId: action.id,
          digest: action.digest,
          approver: bob,
          decision: "approve",
        });
        timings.push(performance.now() - t0);
        return result;
      }),
    );
    const wall = performance.now() - started;
    const apiCalls = proxy.total();
    const stats = brokers.map((broker) => broker.stats());
    const failures = results.filter((result) => result.status !== "succeeded");
    for (const failure of failures.slice(0, 3))
      process.stderr.write(`approvals bench (${mode}): ${failure.status}: ${failure.message}\n`);
    timings.sort((a, b) => a - b);
    return {
      p50: percentile(timings, 50),
      p95: percentile(timings, 95),
      wall,
      failures: failures.length,
      conflicts: failures.filter((result) => result.action?.outcome?.kubeStatus === 409).length,
      minted: stats.reduce((sum, stat) => sum + stat.minted, 0),
      logins: stats.reduce((sum, stat) => sum + stat.logins, 0),
      apiCalls,
    };
  }

  // Interleaved, alternating which goes first (bench/compare.ts).
  const sample = (mode: Mode) => async () => ({ ...(await herd(mode)) });
  const runs = (await interleaved(
    {
      "pre-created": sample("pre-created"),
      generated: sample("generated"),
      "per-approval": sample("per-approval"),
      policy: sample("policy"),
    },
    REPEATS,
  )) as unknown as Record<Mode, ModeResult[]>;

  // Policy evaluation alone, per decision: the stored action of the herd against the 50 rules.
  const evaluation: number[] = [];
  const sampleAction = await propose(0);
  for (let i = 0; i < 5_000; i++) {
    const t0 = performance.now();
    const verdict = evaluatePolicy(policy, { action: sampleAction, requesterGroups: [], now: new Date() });
    evaluation.push(performance.now() - t0);
    if (verdict.rule !== "bench") throw new Error(`the bench policy chose ${verdict.rule}`);
  }
  evaluation.sort((a, b) => a - b);

  preview.close();
  readKube.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();

  const ms = (value: number) => `${Math.round(value).toLocaleString("en-US")} ms`;
  const spread = (values: number[]) =>
    `${ms(median(values))} (${values.map((value) => Math.round(value).toLocaleString("en-US")).join(" / ")})`;
  const perCredential = (results: ModeResult[]) =>
    (
      results.reduce((sum, r) => sum + r.apiCalls, 0) /
      Math.max(
        1,
        results.reduce((sum, r) => sum + r.minted, 0),
      )
    ).toFixed(1);
  const rows: [string, (results: ModeResult[], mode: Mode) => string][] = [
    ["single approval→done", (_, mode) => ms(single[mode]!)],
    ["p95 approval→done, median (each run)", (results) => spread(results.map((r) => r.p95))],
    ["median approval→done (each run)", (results) => spread(results.map((r) => r.p50))],
    ["wall time for 50 (each run)", (results) => spread(results.map((r) => r.wall))],
    ["API calls per credential", (results) => perCredential(results)],
    ["credentials minted", (results) => String(results.reduce((sum, r) => sum + r.minted, 0))],
    ["OpenBao logins per herd (each run)", (results) => results.map((r) => r.logins).join(" / ")],
    [
      "failures (write conflicts)",
      (results) =>
        `${results.reduce((sum, r) => sum + r.failures, 0)} (${results.reduce((sum, r) => sum + r.conflicts, 0)})`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const pre = runs["pre-created"];
  const shift = median(runs.policy.map((r) => r.p95)) / Math.max(1, median(pre.map((r) => r.p95))) - 1;
  const policyShift = `${shift >= 0 ? "+" : ""}${(shift * 100).toFixed(1)}%; goal within 5%`;
  const headings = ["pre-created roles", "generated roles", "one login per approval", "50-rule policy"];
  const cells = rows.map(([name, cell]) => [name, ...MODES.map((mode) => cell(runs[mode], mode))] as const);
  const colWidth = Math.max(
    ...cells.flatMap(([, ...values]) => values.map((v) => v.length)),
    ...headings.map((h) => h.length),
  );
  const text = [
    `${APPROVALS} concurrent approvals, ${REPEATS} runs per mode, interleaved; ${env.secretsMounts.length} parallel mounts for pre-created roles (both login modes and the policy), 1 for generated; every herd starts with no login cached`,
    `${"".padEnd(width)}  ${headings.map((h) => h.padEnd(colWidth)).join("  ")}`,
    ...cells.map(
      ([name, ...values]) => `${name.padEnd(width)}  ${values.map((v) => v.padEnd(colWidth)).join("  ")}`,
    ),
    "",
    `Approval policy evaluation alone (${POLICY_RULES} rules, the last applies), per decision over ${evaluation.length}: p50 ${(percentile(evaluation, 50) * 1000).toFixed(1)} µs, p95 ${(percentile(evaluation, 95) * 1000).toFixed(1)} µs.`,
    `50-approval p95, built-in policy vs ${POLICY_RULES}-rule policy (pre-created roles): ${ms(median(pre.map((r) => r.p95)))} vs ${ms(median(runs.policy.map((r) => r.p95)))} (${policyShift})`,
    "",
  ].join("\n");
  const perApproval = runs["per-approval"];
  return {
    text,
    lines: [
      {
        name: "p95 approval→done (pre-created)",
        value: Math.round(median(pre.map((r) => r.p95))),
        unit: "ms (goal ≤ 5,000)",
      },
      {
        name: "p95 approval→done (generated)",
        value: Math.round(median(runs.generated.map((r) => r.p95))),
        unit: "ms",
      },
      { name: "API calls/credential (pre-created)", value: Number(perCredential(pre)), unit: "calls" },
      {
        name: "API calls/credential (generated)",
        value: Number(perCredential(runs.generated)),
        unit: "calls",
      },
      { name: "failures (pre-created)", value: pre.reduce((sum, r) => sum + r.failures, 0), unit: "actions" },
      {
        name: "OpenBao logins per herd, shared login",
        value: median(pre.map((r) => r.logins)),
        unit: `(median; ${spreadNote(pre.map((r) => r.logins))}; goal 1)`,
      },
      {
        name: "OpenBao logins per herd, one login per approval",
        value: median(perApproval.map((r) => r.logins)),
        unit: `(median; ${spreadNote(perApproval.map((r) => r.logins))})`,
      },
      {
        name: "p95 approval→done (one login per approval)",
        value: Math.round(median(perApproval.map((r) => r.p95))),
        unit: "ms",
      },
      {
        name: `p95 approval→done (${POLICY_RULES}-rule policy)`,
        value: Math.round(median(runs.policy.map((r) => r.p95))),
        unit: `ms (${policyShift})`,
      },
      {
        name: `p95 policy evaluation per decision (${POLICY_RULES} rules)`,
        value: Number((percentile(evaluation, 95) * 1000).toFixed(1)),
        unit: "µs",
      },
      {
        name: "failures (50-rule policy)",
        value: runs.policy.reduce((sum, r) => sum + r.failures, 0),
        unit: "actions",
      },
      {
        name: "failures (one login per approval)",
        value: perApproval.reduce((sum, r) => sum + r.failures, 0),
        unit: "actions",
      },
    ],
  };
}
