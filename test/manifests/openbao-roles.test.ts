import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import {
  OPENBAO_ROLES_FILE,
  actionClusterRoles,
  credsRequestParams,
  renderActionRolesManifest,
  secretsMounts,
  loadOpenBaoRoles,
  parseOpenBaoRoles,
  renderPolicyHcl,
  roleForAction,
  secretsRoleParams,
} from "../../core/identity/openbao-roles.ts";
import { isDeputyError } from "../../core/errors.ts";
import { APPLY_KINDS } from "../../core/actions/apply-kinds.ts";
import { actionTypes, applyManifest } from "../../core/actions/types/index.ts";
import { MANIFESTS_DIR } from "./kustomize.ts";

const WRITE_TOOLS = [
  "restart_deployment",
  "scale_deployment",
  "rollback_deployment",
  "set_deployment_image",
  "set_deployment_resources",
  "set_deployment_env",
  "delete_pod",
  "cordon_node",
  "uncordon_node",
  "drain_node",
];

function rawDocument(): Record<string, unknown> {
  return parse(readFileSync(OPENBAO_ROLES_FILE, "utf8")) as Record<string, unknown>;
}

/** A deep copy of the file with one change applied, for negative cases. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- negative cases edit arbitrary fields of the raw YAML
function mutated(change: (doc: any) => void): unknown {
  const doc = structuredClone(rawDocument());
  change(doc);
  return doc;
}

function expectInvalid(document: unknown, pattern: RegExp, options = {}): void {
  try {
    parseOpenBaoRoles(document, options);
  } catch (error) {
    expect(isDeputyError(error, "CONFIG_INVALID")).toBe(true);
    expect((error as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected the roles document to be refused (${pattern})`);
}

describe("manifests/openbao/roles.yaml", () => {
  const roles = loadOpenBaoRoles();

  it("has a role for every write tool and for the apply kinds", () => {
    for (const tool of WRITE_TOOLS) expect(roleForAction(roles, tool).name).toMatch(/^deputy-/);
    for (const kind of ["ConfigMap", "Deployment", "Ingress"]) {
      expect(roleForAction(roles, "apply_manifest", kind).name).toBe(`deputy-apply-${kind.toLowerCase()}`);
    }
    expect(() => roleForAction(roles, "apply_manifest", "Secret")).toThrow(
      /no OpenBao role allows apply_manifest of kind Secret/,
    );
    expect(() => roleForAction(roles, "apply_manifest", "ClusterRoleBinding")).toThrow(/no OpenBao role/);
    expect(() => roleForAction(roles, "apply_manifest")).toThrow(/no OpenBao role/);
  });

  it("never allows every namespace and never a protected one", () => {
    for (const role of roles.secretsEngine.roles) {
      expect(role.allowedNamespaces.length).toBeGreaterThan(0);
      for (const namespace of role.allowedNamespaces) {
        expect(namespace).not.toContain("*");
        expect(["kube-system", "kube-public", "kube-node-lease"]).not.toContain(namespace);
      }
      const params = secretsRoleParams(roles, role);
      expect(params.allowed_kubernetes_namespaces).toEqual(role.allowedNamespaces);
      // Existing-role mode: the engine binds the pre-created ClusterRole and never creates one.
      expect(params).toMatchObject({
        kubernetes_role_type: "ClusterRole",
        kubernetes_role_name: role.clusterRoleName,
      });
      expect(params).toMatchObject({ generated_role_rules: "", service_account_name: "" });
    }
  });

  it("keeps node roles cluster-scoped but limited to nodes (and drain's evictions)", () => {
    for (const tool of ["cordon_node", "uncordon_node"]) {
      const role = roleForAction(roles, tool);
      expect(role.clusterRoleBinding).toBe(true);
      expect(role.rules).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] }]);
      expect(credsRequestParams(role, "shop")).toEqual({
        kubernetes_namespace: roles.jitNamespace,
        cluster_role_binding: true,
      });
    }
    const drain = roleForAction(roles, "drain_node");
    expect(drain.rules.flatMap((rule) => rule.resources).sort()).toEqual([
      "nodes",
      "poddisruptionbudgets",
      "pods",
      "pods/eviction",
    ]);
  });

  it("evicts, never deletes, pods", () => {
    const evict = roleForAction(roles, "delete_pod");
    const verbsOnPods = evict.rules
      .filter((rule) => rule.resources.includes("pods"))
      .flatMap((rule) => rule.verbs);
    expect(verbsOnPods).not.toContain("delete");
    expect(
      evict.rules.some((rule) => rule.resources.includes("pods/eviction") && rule.verbs.includes("create")),
    ).toBe(true);
  });

  it("binds auth roles to exact service accounts with the openbao audience and a 60 s token", () => {
    const executor = roles.auth.roles.find((role) => role.name === "deputy-executor")!;
    expect(executor).toMatchObject({
      bound_service_account_names: ["deputy-executor"],
      bound_service_account_namespaces: ["deputy-system"],
      audience: "openbao",
      token_ttl: 60,
      // Renewable only while an action runs, up to the longest action (its leases die with it).
      token_max_ttl: 3600,
    });
    expect(roles.policies["deputy-executor"]!.paths["auth/token/renew-self"]).toEqual(["update"]);
    for (const other of roles.auth.roles.filter((role) => role.name !== "deputy-executor")) {
      expect(other.token_max_ttl, other.name).toBe(60);
    }
    const bot = roles.auth.roles.find((role) => role.name === "deputy-bot")!;
    expect(bot).toMatchObject({
      bound_service_account_names: ["deputy-bot"],
      bound_service_account_namespaces: ["deputy-agent"],
      audience: "openbao",
      token_ttl: 60,
    });
    expect(renderPolicyHcl(roles.policies["deputy-bot"]!)).not.toMatch(/creds|redis/);
    for (const role of roles.auth.roles) expect(role.token_no_default_policy, role.name).toBe(true);
    const kvPaths = Object.keys(roles.kv.paths).map((path) => `${roles.kv.mount}/data/${path}`);
    const readable = Object.values(roles.policies).flatMap((policy) =>
      Object.keys(policy.paths).filter((path) => path.startsWith(`${roles.kv.mount}/`)),
    );
    for (const path of readable) expect(kvPaths).toContain(path);
    const hcl = renderPolicyHcl(roles.policies["deputy-executor"]!);
    expect(hcl).toContain('path "kubernetes/creds/deputy-*" {\n  capabilities = ["update"]\n}');
    expect(hcl).toContain('path "sys/leases/revoke/kubernetes/creds/deputy-*" {');
    // Of the KV store the executor reads its two keys and nothing else; the MCP server likewise.
    expect(hcl.match(/path "secret\/[^"]+"/g)).toEqual([
      'path "secret/data/deputy/keys/action"',
      'path "secret/data/deputy/keys/executor-caller"',
    ]);
    expect(renderPolicyHcl(roles.policies["deputy-mcp"]!).match(/path "[^"]+"/g)).toEqual([
      'path "secret/data/deputy/keys/action"',
      'path "secret/data/deputy/keys/mcp-caller"',
      'path "auth/token/revoke-self"',
    ]);
  });

  it("refuses a credential outside the writable namespaces", () => {
    const restart = roleForAction(roles, "restart_deployment");
    expect(credsRequestParams(restart, "shop")).toEqual({
      kubernetes_namespace: "shop",
      cluster_role_binding: false,
    });
    expect(() => credsRequestParams(restart, "kube-system")).toThrow(/not writable by deputy-restart/);
    expect(() => credsRequestParams(restart, undefined)).toThrow(/not writable/);
  });

  it("has a role for every declared action type, and a declared action type for every role", () => {
    const roleTools = new Set(roles.secretsEngine.roles.flatMap((role) => role.tools));
    expect([...roleTools].sort()).toEqual(actionTypes.map((type) => type.name).sort());
  });

  it("covers exactly the kinds apply_manifest accepts", () => {
    expect(Object.keys(APPLY_KINDS).sort()).toEqual(
      roles.secretsEngine.roles.flatMap((role) => role.kinds ?? []).sort(),
    );
    for (const kind of Object.keys(APPLY_KINDS)) {
      const role = roleForAction(roles, applyManifest.name, applyManifest.roleKind?.({ kind } as never));
      expect(role.name).toBe(`deputy-apply-${kind.toLowerCase()}`);
    }
  });

  it("takes the writable namespaces per environment", () => {
    const custom = loadOpenBaoRoles({ writableNamespaces: ["team-a", "team-b"] });
    expect(roleForAction(custom, "scale_deployment").allowedNamespaces).toEqual(["team-a", "team-b"]);
    expect(roleForAction(custom, "cordon_node").allowedNamespaces).toEqual(["deputy-jit"]);
  });
});

describe("roles validation refuses unsafe roles with a clear reason", () => {
  it("refuses wildcard and protected namespaces", () => {
    expectInvalid(rawDocument(), /exact namespace names/, { writableNamespaces: ["*"] });
    expectInvalid(rawDocument(), /"kube-system" is protected/, {
      writableNamespaces: ["shop", "kube-system"],
    });
    expectInvalid(rawDocument(), /"payments" is protected/, {
      writableNamespaces: ["payments"],
      protectedNamespaces: ["payments"],
    });
    expectInvalid(rawDocument(), /jit namespace "shop" must not also be writable/, { jitNamespace: "shop" });
  });

  it("refuses wildcard verbs, resources and groups, Secrets and RBAC", () => {
    expectInvalid(
      mutated((d) => (d.secretsEngine.roles[0].rules[0].verbs = ["*"])),
      /secretsEngine\.roles\.0\.rules\.0\.verbs/,
    );
    expectInvalid(
      mutated((d) => (d.secretsEngine.roles[0].rules[0].verbs = ["escalate"])),
      /verbs/,
    );
    expectInvalid(
      mutated((d) => (d.secretsEngine.roles[0].rules[0].resources = ["*"])),
      /resource "\*" may not be granted/,
    );
    expectInvalid(
      mutated((d) => (d.secretsEngine.roles[0].rules[0].resources = ["secrets"])),
      /resource "secrets" may not be granted/,
    );
    expectInvalid(
      mutated((d) => (d.secretsEngine.roles[0].rules[0].apiGroups = ["rbac.authorization.k8s.io"])),
      /API group "rbac.authorization.k8s.io" may not be granted/,
    );
  });

  it("spreads the secrets engine over parallel mounts, each in the executor's policy", () => {
    const roles = loadOpenBaoRoles();
    const mounts = secretsMounts(roles.secretsEngine.mount, roles.secretsEngine.parallelMounts);
    expect(mounts).toHaveLength(roles.secretsEngine.parallelMounts);
    expect(mounts.slice(0, 2)).toEqual(["kubernetes", "kubernetes-2"]);
    const paths = roles.policies["deputy-executor"]!.paths;
    for (const mount of mounts) {
      expect(paths[`${mount}/creds/deputy-*`], mount).toEqual(["update"]);
      expect(paths[`sys/leases/revoke/${mount}/creds/deputy-*`], mount).toEqual(["update"]);
    }
    // Nothing else is widened: the keys and the token paths are as written.
    expect(
      Object.keys(paths)
        .filter((path) => !/creds\/deputy-\*$/.test(path))
        .sort(),
    ).toEqual([
      "auth/token/renew-self",
      "auth/token/revoke-self",
      "secret/data/deputy/keys/action",
      "secret/data/deputy/keys/executor-caller",
    ]);
  });

  it("renders one pre-created ClusterRole per action type, exactly as the shipped manifest", () => {
    const shipped = readFileSync(join(MANIFESTS_DIR, "base", "rbac", "deputy-action-roles.yaml"), "utf8");
    const roles = loadOpenBaoRoles();
    expect(shipped, "regenerate with: deputy executor action-roles").toBe(renderActionRolesManifest(roles));
    const rendered = actionClusterRoles(roles);
    expect(rendered.map((role) => role.metadata.name)).toEqual(
      roles.secretsEngine.roles.map((role) => `deputy-action-${role.name.slice("deputy-".length)}`),
    );
    for (const [index, role] of rendered.entries()) {
      expect(role.rules).toEqual(roles.secretsEngine.roles[index]!.rules);
    }
  });

  it("refuses nodes in a namespaced Role, duplicates, unknown keys and unknown policies", () => {
    expectInvalid(
      mutated(
        (d) =>
          (d.secretsEngine.roles[0].rules[0] = { apiGroups: [""], resources: ["nodes"], verbs: ["patch"] }),
      ),
      /grants nodes, which are cluster-scoped/,
    );
    expectInvalid(
      mutated((d) => d.secretsEngine.roles.push(d.secretsEngine.roles[0])),
      /"deputy-restart-deployment" is defined twice/,
    );
    expectInvalid(
      mutated((d) => (d.secretsEngine.roles[0].allowed_kubernetes_namespaces = ["*"])),
      /Unrecognized key/,
    );
    expectInvalid(
      mutated((d) => (d.auth.roles[0].token_policies = ["root"])),
      /unknown policy "root"/,
    );
  });

  it("refuses auth roles that are not exact, audience-bound and short-lived", () => {
    expectInvalid(
      mutated((d) => (d.auth.roles[0].bound_service_account_names = ["*"])),
      /exact name/,
    );
    expectInvalid(
      mutated((d) => (d.auth.roles[0].bound_service_account_namespaces = ["*"])),
      /namespace name/,
    );
    expectInvalid(
      mutated((d) => delete d.auth.roles[0].audience),
      /auth\.roles\.0\.audience/,
    );
    expectInvalid(
      mutated((d) => (d.auth.roles[0].token_ttl = 3600)),
      /auth\.roles\.0\.token_ttl/,
    );
    expectInvalid(
      mutated((d) => (d.auth.roles[0].token_max_ttl = 7200)),
      /auth\.roles\.0\.token_max_ttl/,
    );
  });

  it("names the file when it cannot be read", () => {
    expect(() => loadOpenBaoRoles({ file: "/nonexistent/roles.yaml" })).toThrow(
      /cannot read \/nonexistent\/roles.yaml/,
    );
  });
});
