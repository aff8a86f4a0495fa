import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { ALWAYS_PROTECTED_NAMESPACES } from "../config/config.ts";
import { DeputyError } from "../errors.ts";

/**
 * OpenBao configuration as code: manifests/openbao/roles.yaml is the one
 * description of Deputy's auth roles, secrets-engine roles, policies and KV
 * paths. The setup (executor/openbao-setup.ts), local mode, the tests and the
 * production docs all read it through this module, so the roles the tests
 * prove are the roles that are deployed.
 *
 * Loading validates the security rules, not just the shape: no wildcard
 * namespaces, verbs or resources; no Secrets, RBAC or impersonation in any
 * generated rule; protected namespaces are never writable; every auth role is
 * bound to exact service-account names and namespaces with an audience.
 */

export const OPENBAO_ROLES_FILE = fileURLToPath(
  new URL("../../manifests/openbao/roles.yaml", import.meta.url),
);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const namespaceName = z.string().regex(DNS_LABEL, "must be a Kubernetes namespace name (no wildcards)");
const exactName = z.string().regex(DNS_LABEL, "must be an exact name (no wildcards)");

/** Verbs a generated role may grant: never escalate, bind, impersonate or "*". */
const GRANTABLE_VERBS = ["get", "list", "watch", "create", "update", "patch"] as const;
/** Resources no generated role may touch, whatever the action. */
const FORBIDDEN_RESOURCES = new Set([
  "secrets",
  "serviceaccounts",
  "serviceaccounts/token",
  "pods/exec",
  "pods/attach",
  "pods/portforward",
  "nodes/proxy",
]);
const FORBIDDEN_GROUPS = new Set([
  "rbac.authorization.k8s.io",
  "admissionregistration.k8s.io",
  "apiextensions.k8s.io",
  "certificates.k8s.io",
  "authentication.k8s.io",
  "authorization.k8s.io",
]);

const policyRuleSchema = z
  .object({
    apiGroups: z.array(z.string()).min(1),
    resources: z.array(z.string().min(1)).min(1),
    verbs: z.array(z.enum(GRANTABLE_VERBS)).min(1),
  })
  .strict()
  .superRefine((rule, ctx) => {
    for (const group of rule.apiGroups) {
      if (group === "*" || FORBIDDEN_GROUPS.has(group)) {
        ctx.addIssue({ code: "custom", message: `API group "${group}" may not be granted` });
      }
    }
    for (const resource of rule.resources) {
      if (resource.includes("*") || FORBIDDEN_RESOURCES.has(resource)) {
        ctx.addIssue({ code: "custom", message: `resource "${resource}" may not be granted` });
      }
    }
  });
export type PolicyRule = z.infer<typeof policyRuleSchema>;

const authRoleSchema = z
  .object({
    name: exactName,
    bound_service_account_names: z.array(exactName).min(1),
    bound_service_account_namespaces: z.array(namespaceName).min(1),
    audience: z.string().min(1),
    // A token lives 60 s unless renewed; renewal (only while an action runs) is bounded by the max.
    token_ttl: z.number().int().min(1).max(60),
    token_max_ttl: z.number().int().min(1).max(3600),
    token_policies: z.array(exactName).min(1),
    token_no_default_policy: z.boolean().default(true),
    token_type: z.enum(["service", "batch"]).default("service"),
  })
  .strict()
  .refine((role) => role.token_max_ttl >= role.token_ttl, { message: "token_max_ttl is below token_ttl" });
export type AuthRole = z.infer<typeof authRoleSchema>;

const secretsRoleSchema = z
  .object({
    name: z.string().regex(/^deputy-[a-z0-9-]+$/, 'must start with "deputy-"'),
    tools: z.array(z.string().regex(/^[a-z][a-z_]*$/)).min(1),
    kinds: z.array(z.string().regex(/^[A-Z][A-Za-z]*$/)).optional(),
    clusterRoleBinding: z.boolean().default(false),
    namespaces: z.enum(["writable", "jit"]),
    rules: z.array(policyRuleSchema).min(1),
  })
  .strict()
  .refine((role) => role.clusterRoleBinding === (role.namespaces === "jit"), {
    message:
      "a role bound cluster-wide (clusterRoleBinding) mints in the jit namespace, and only such a role does",
  });
type SecretsRoleSpec = z.infer<typeof secretsRoleSchema>;

const capability = z.enum(["create", "read", "update", "patch", "delete", "list"]);
const policySchema = z.object({ paths: z.record(z.string().min(1), z.array(capability).min(1)) }).strict();

const rolesFileSchema = z
  .object({
    version: z.literal(1),
    writableNamespaces: z.array(namespaceName).min(1),
    jitNamespace: namespaceName,
    auth: z.object({ mount: exactName, roles: z.array(authRoleSchema).min(1) }).strict(),
    kv: z
      .object({
        mount: exactName,
        // A "+" segment stands for one name (a served cluster's), as in the policies that read it.
        paths: z.record(z.string().regex(/^deputy(\/([a-z0-9-]+|\+))+$/), z.array(z.string()).min(1)),
      })
      .strict(),
    policies: z.record(exactName, policySchema),
    secretsEngine: z
      .object({
        mount: exactName,
        token_default_ttl: z.number().int().min(600),
        // The longest action's lease; the executor sizes each lease within it.
        token_max_ttl: z.number().int().min(600).max(3600),
        parallelMounts: z.number().int().min(1).max(32).default(1),
        name_template: z.string().min(1),
        roles: z.array(secretsRoleSchema).min(1),
      })
      .strict(),
  })
  .strict();

export interface SecretsRole extends SecretsRoleSpec {
  /** The expanded namespace list: never "*", never a protected namespace. */
  allowedNamespaces: string[];
  /** The pre-created ClusterRole the secrets engine binds (actionClusterRoles renders it). */
  clusterRoleName: string;
}

/** Every pre-created action role is named with this prefix, so OpenBao's `bind` can name them. */
export const ACTION_ROLE_PREFIX = "deputy-action-";

function clusterRoleNameFor(roleName: string): string {
  return `${ACTION_ROLE_PREFIX}${roleName.slice("deputy-".length)}`;
}

export interface OpenBaoRoles {
  writableNamespaces: string[];
  jitNamespace: string;
  auth: { mount: string; roles: AuthRole[] };
  kv: { mount: string; paths: Record<string, string[]> };
  policies: Record<string, { paths: Record<string, string[]> }>;
  secretsEngine: {
    mount: string;
    token_default_ttl: number;
    token_max_ttl: number;
    /** Identically configured engine mounts credentials are spread over (secretsMounts). */
    parallelMounts: number;
    name_template: string;
    roles: SecretsRole[];
  };
}

export interface LoadOpenBaoRolesOptions {
  /** Defaults to manifests/openbao/roles.yaml. */
  file?: string;
  /** Replaces the file's writableNamespaces (per environment or test). */
  writableNamespaces?: string[];
  /** Replaces the file's jitNamespace. */
  jitNamespace?: string;
  /** Extra protected namespaces (config's guardrails.protectedNamespaces). */
  protectedNamespaces?: readonly string[];
}

function invalid(file: string, problem: string): DeputyError {
  return new DeputyError("CONFIG_INVALID", `OpenBao roles in ${file}: ${problem}`);
}

/** Validate and expand a roles document (already parsed from YAML). */
export function parseOpenBaoRoles(document: unknown, options: LoadOpenBaoRolesOptions = {}): OpenBaoRoles {
  const file = options.file ?? OPENBAO_ROLES_FILE;
  const result = rolesFileSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw invalid(file, problems.join("; "));
  }
  const data = result.data;
  const protectedNamespaces = new Set([
    ...ALWAYS_PROTECTED_NAMESPACES,
    ...(options.protectedNamespaces ?? []),
  ]);

  const writable = z
    .array(namespaceName)
    .min(1)
    .safeParse(options.writableNamespaces ?? data.writableNamespaces);
  if (!writable.success) {
    throw invalid(
      file,
      `writable namespaces must be exact namespace names: ${writable.error.issues[0]?.message}`,
    );
  }
  const jit = namespaceName.safeParse(options.jitNamespace ?? data.jitNamespace);
  if (!jit.success) throw invalid(file, `jit namespace: ${jit.error.issues[0]?.message}`);
  for (const namespace of writable.data) {
    if (protectedNamespaces.has(namespace)) {
      throw invalid(file, `namespace "${namespace}" is protected and can never be given to a write role`);
    }
  }
  // The jit namespace holds only the accounts OpenBao generates, so it is rightly protected from
  // every write tool (DEPUTY_PROTECTED_NAMESPACES lists it); only the cluster's own stay refused.
  if ((ALWAYS_PROTECTED_NAMESPACES as readonly string[]).includes(jit.data)) {
    throw invalid(file, `namespace "${jit.data}" is protected and can never hold generated accounts`);
  }
  if (writable.data.includes(jit.data)) {
    throw invalid(file, `the jit namespace "${jit.data}" must not also be writable`);
  }

  const names = new Set<string>();
  const roles = data.secretsEngine.roles.map((role): SecretsRole => {
    if (names.has(role.name)) throw invalid(file, `secrets-engine role "${role.name}" is defined twice`);
    names.add(role.name);
    if (!role.clusterRoleBinding && role.rules.some((rule) => rule.resources.includes("nodes"))) {
      throw invalid(
        file,
        `role "${role.name}" grants nodes, which are cluster-scoped and never granted by a namespaced binding: set clusterRoleBinding: true`,
      );
    }
    return {
      ...role,
      allowedNamespaces: role.namespaces === "writable" ? [...writable.data] : [jit.data],
      clusterRoleName: clusterRoleNameFor(role.name),
    };
  });

  for (const role of data.auth.roles) {
    for (const policy of role.token_policies) {
      if (!(policy in data.policies))
        throw invalid(file, `auth role "${role.name}" names unknown policy "${policy}"`);
    }
  }

  // A policy path on the secrets engine's mount holds on each of its parallel mounts.
  const mounts = secretsMounts(data.secretsEngine.mount, data.secretsEngine.parallelMounts);
  const policies = Object.fromEntries(
    Object.entries(data.policies).map(([name, policy]) => [
      name,
      {
        paths: Object.fromEntries(
          Object.entries(policy.paths).flatMap(([path, caps]) => {
            const match = /^(sys\/leases\/revoke\/)?([^/]+)(\/.*)$/.exec(path);
            if (!match || match[2] !== data.secretsEngine.mount) return [[path, caps]];
            return mounts.map((mount) => [`${match[1] ?? ""}${mount}${match[3]}`, caps]);
          }),
        ),
      },
    ]),
  );

  return {
    writableNamespaces: writable.data,
    jitNamespace: jit.data,
    auth: data.auth,
    kv: data.kv,
    policies,
    secretsEngine: { ...data.secretsEngine, roles },
  };
}

/**
 * The secrets engine's mounts: `mount`, then `mount-2` … `mount-<n>`. The
 * engine talks to Kubernetes through a client limited to 5 requests/s (with
 * bursts of 10) per mount, and each lease costs 5 requests (account, token and
 * binding; two deletions at revocation). Identical mounts, each with its own
 * client, let concurrent approvals mint in parallel.
 */
export function secretsMounts(mount: string, parallelMounts: number): string[] {
  return [mount, ...Array.from({ length: parallelMounts - 1 }, (_, i) => `${mount}-${i + 2}`)];
}

/** Read, validate and expand manifests/openbao/roles.yaml (or another file). */
export function loadOpenBaoRoles(options: LoadOpenBaoRolesOptions = {}): OpenBaoRoles {
  const file = options.file ?? OPENBAO_ROLES_FILE;
  let document: unknown;
  try {
    document = parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new DeputyError("CONFIG_INVALID", `OpenBao roles: cannot read ${file}`, { cause: error });
  }
  return parseOpenBaoRoles(document, { ...options, file });
}

/** The body for `POST auth/<mount>/role/<name>`. */
export function authRoleParams(role: AuthRole): Record<string, unknown> {
  const { name: _name, ...params } = role;
  return params;
}

/**
 * The body for `POST <secrets mount>/roles/<name>`: the engine's existing-role
 * mode. It binds the pre-created ClusterRole and never creates or edits a role,
 * so OpenBao needs `bind` on Deputy's roles only, and no `escalate`. Per lease
 * it creates a service account, a token for it and one binding (a RoleBinding
 * in the action's namespace, or a ClusterRoleBinding for node roles), and
 * deletes the account and binding at revocation.
 */
export function secretsRoleParams(roles: OpenBaoRoles, role: SecretsRole): Record<string, unknown> {
  return {
    allowed_kubernetes_namespaces: role.allowedNamespaces,
    kubernetes_role_type: "ClusterRole",
    kubernetes_role_name: role.clusterRoleName,
    // The engine allows one of the three modes; empty clears what an earlier setup set.
    generated_role_rules: "",
    service_account_name: "",
    token_default_ttl: roles.secretsEngine.token_default_ttl,
    token_max_ttl: roles.secretsEngine.token_max_ttl,
    name_template: roles.secretsEngine.name_template,
    extra_labels: { "app.kubernetes.io/managed-by": "openbao", "deputy.dev/role": role.name },
  };
}

export interface ActionClusterRole {
  apiVersion: "rbac.authorization.k8s.io/v1";
  kind: "ClusterRole";
  metadata: { name: string; labels: Record<string, string> };
  rules: PolicyRule[];
}

/**
 * The pre-created ClusterRoles, one per secrets-engine role, exactly as
 * manifests/base/rbac/deputy-action-roles.yaml ships them. Binding one with a
 * RoleBinding grants its rules in that namespace only.
 */
export function actionClusterRoles(roles: OpenBaoRoles): ActionClusterRole[] {
  return roles.secretsEngine.roles.map((role) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: {
      name: role.clusterRoleName,
      labels: { "app.kubernetes.io/part-of": "deputy", "deputy.dev/role": role.name },
    },
    rules: role.rules,
  }));
}

/** manifests/base/rbac/deputy-action-roles.yaml, rendered from roles.yaml. */
export function renderActionRolesManifest(roles: OpenBaoRoles): string {
  const header = [
    "# Generated from manifests/openbao/roles.yaml by `deputy executor action-roles`; do not edit.",
    "# One ClusterRole per write action type. Nothing binds them standing: OpenBao's",
    "# secrets engine binds one to a fresh service account per approved action (a",
    "# RoleBinding in the action's namespace; node actions a ClusterRoleBinding) and",
    "# deletes the binding when the lease is revoked.",
  ].join("\n");
  const docs = actionClusterRoles(roles).map((role) => stringify(role, { lineWidth: 0 }).trimEnd());
  return `${header}\n${docs.map((doc) => `---\n${doc}`).join("\n")}\n`;
}

/**
 * The body for `POST <secrets mount>/creds/<role>` for one action. Namespaced
 * roles mint in the action's namespace with a RoleBinding to the action's
 * ClusterRole; node roles mint in the jit namespace with a ClusterRoleBinding.
 * `ttlSeconds` sizes the lease to the action (within the engine's token_max_ttl).
 */
export function credsRequestParams(
  role: SecretsRole,
  targetNamespace: string | undefined,
  ttlSeconds?: number,
): Record<string, unknown> {
  // Unset, the engine's token_default_ttl applies.
  const lease = ttlSeconds === undefined ? {} : { ttl: `${Math.ceil(ttlSeconds)}s` };
  if (role.clusterRoleBinding) {
    return { kubernetes_namespace: role.allowedNamespaces[0], cluster_role_binding: true, ...lease };
  }
  if (!targetNamespace || !role.allowedNamespaces.includes(targetNamespace)) {
    throw new DeputyError(
      "POLICY_DENIED",
      `namespace "${targetNamespace ?? "(none)"}" is not writable by ${role.name} (allowed: ${role.allowedNamespaces.join(", ")})`,
    );
  }
  return { kubernetes_namespace: targetNamespace, cluster_role_binding: false, ...lease };
}

/** The secrets-engine role a write tool (and, for apply_manifest, a kind) uses. */
export function roleForAction(roles: OpenBaoRoles, tool: string, kind?: string): SecretsRole {
  const role = roles.secretsEngine.roles.find(
    (candidate) =>
      candidate.tools.includes(tool) &&
      (candidate.kinds === undefined || (kind !== undefined && candidate.kinds.includes(kind))),
  );
  if (!role) {
    const what = kind ? `${tool} of kind ${kind}` : tool;
    throw new DeputyError("POLICY_DENIED", `no OpenBao role allows ${what}`);
  }
  return role;
}

/** A policy rendered as OpenBao HCL, for `PUT sys/policies/acl/<name>`. */
export function renderPolicyHcl(policy: { paths: Record<string, string[]> }): string {
  return Object.entries(policy.paths)
    .map(
      ([path, capabilities]) =>
        `path ${JSON.stringify(path)} {\n  capabilities = ${JSON.stringify(capabilities)}\n}\n`,
    )
    .join("\n");
}

/** Where one cluster's mounts live when one OpenBao serves several: `clusters/<cluster>/<mount>`. */
export function clusterMountPath(cluster: string, mount: string): string {
  return `clusters/${cluster}/${mount}`;
}

/**
 * The roles of one of several clusters set up in the same OpenBao: its
 * Kubernetes auth and secrets-engine mounts under `clusters/<cluster>/`, and
 * policies named `<policy>@<cluster>` whose paths name those mounts. Mount
 * paths and policy names are global in OpenBao, so without this the second
 * cluster's setup would repoint the first one's mounts at its own API server.
 * Auth roles keep their names: they live inside their cluster's auth mount.
 */
export function rolesForCluster(roles: OpenBaoRoles, cluster: string): OpenBaoRoles {
  const { mount, parallelMounts } = roles.secretsEngine;
  const renamedMounts = new Map(
    secretsMounts(mount, parallelMounts).map((from) => [from, clusterMountPath(cluster, from)]),
  );
  const renamePath = (path: string): string => {
    const match = /^(sys\/leases\/revoke\/)?([^/]+)(\/.*)$/.exec(path);
    const renamed = match ? renamedMounts.get(match[2]!) : undefined;
    return match && renamed ? `${match[1] ?? ""}${renamed}${match[3]}` : path;
  };
  const policyName = (name: string): string => `${name}@${cluster}`;
  return {
    ...roles,
    auth: {
      mount: clusterMountPath(cluster, roles.auth.mount),
      roles: roles.auth.roles.map((role) => ({
        ...role,
        token_policies: role.token_policies.map(policyName),
      })),
    },
    policies: Object.fromEntries(
      Object.entries(roles.policies).map(([name, policy]) => [
        policyName(name),
        {
          paths: Object.fromEntries(
            Object.entries(policy.paths).map(([path, caps]) => [renamePath(path), caps]),
          ),
        },
      ]),
    ),
    secretsEngine: { ...roles.secretsEngine, mount: clusterMountPath(cluster, mount) },
  };
}
