import { describe, expect, it } from "vitest";
import { loadOpenBaoRoles } from "../../core/identity/openbao-roles.ts";
import { localIdentityObjects } from "../../console/local-identities.ts";

/**
 * What local mode applies to a cluster is the platform team's own manifests
 * (manifests/base): the read identity can only read, the executor has no
 * RBAC, and OpenBao may generate accounts only in the writable namespaces and
 * deputy-jit. The live effect (a token of deputy-mcp gets 403 on writes, the
 * executor's on everything) is exercised by local-mode.test.ts.
 */
describe("local mode identities", () => {
  const roles = loadOpenBaoRoles({ writableNamespaces: ["shop", "web"] });
  const objects = localIdentityObjects(roles);
  const named = (kind: string, name: string, namespace?: string) =>
    objects.filter(
      (o) =>
        o.kind === kind &&
        o.metadata?.name === name &&
        (namespace === undefined || o.metadata?.namespace === namespace),
    );

  it("binds the MCP identity to deputy-reader, which never writes nor reads Secrets, and to impersonating the preview account only", () => {
    const reader = named("ClusterRole", "deputy-reader")[0] as {
      rules: { resources: string[]; verbs: string[] }[];
    };
    expect(reader).toBeDefined();
    for (const rule of reader.rules) {
      expect(rule.verbs.every((verb) => ["get", "list", "watch"].includes(verb))).toBe(true);
      expect(rule.resources).not.toContain("secrets");
    }
    const bindings = objects.filter(
      (o) =>
        (o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding") &&
        (o as { subjects?: { name: string }[] }).subjects?.some((s) => s.name === "deputy-mcp"),
    );
    // system:auth-delegator: its OpenBao login's TokenReview is sent with its own token.
    expect(bindings.map((b) => (b as { roleRef: { name: string } }).roleRef.name).sort()).toEqual([
      "deputy-preview-impersonator",
      "deputy-reader",
      "system:auth-delegator",
    ]);
    const impersonator = named("Role", "deputy-preview-impersonator", "deputy-system")[0] as {
      rules: unknown[];
    };
    expect(impersonator.rules).toEqual([
      {
        apiGroups: [""],
        resources: ["serviceaccounts"],
        verbs: ["impersonate"],
        resourceNames: ["deputy-preview"],
      },
    ]);
  });

  it("installs the preview account with the admission policy that refuses its real writes", () => {
    expect(named("ServiceAccount", "deputy-preview", "deputy-system")).toHaveLength(1);
    expect(named("ClusterRoleBinding", "deputy-preview")).toHaveLength(1);
    const policy = named("ValidatingAdmissionPolicy", "deputy-preview-dry-run-only")[0] as {
      spec: { failurePolicy: string; matchConditions: { expression: string }[] };
    };
    expect(policy.spec.failurePolicy).toBe("Fail");
    expect(policy.spec.matchConditions[0]!.expression).toContain(
      "'system:serviceaccount:deputy-system:deputy-preview'",
    );
    expect(named("ValidatingAdmissionPolicyBinding", "deputy-preview-dry-run-only")).toHaveLength(1);
  });

  it("gives the executor no RBAC but TokenReview for its own OpenBao login", () => {
    expect(named("ServiceAccount", "deputy-executor", "deputy-system")).toHaveLength(1);
    const executorBindings = objects.filter((o) =>
      (o as { subjects?: { name: string }[] }).subjects?.some((s) => s.name === "deputy-executor"),
    );
    expect(executorBindings.map((b) => (b as { roleRef: { name: string } }).roleRef.name)).toEqual([
      "system:auth-delegator",
    ]);
  });

  it("lets OpenBao generate accounts in exactly the writable namespaces and the jit namespace", () => {
    const namespaced = objects
      .filter(
        (o) =>
          o.kind === "RoleBinding" &&
          (o as { roleRef: { name: string } }).roleRef.name === "deputy-openbao-leases",
      )
      .map((o) => o.metadata?.namespace)
      .sort();
    expect(namespaced).toEqual(["deputy-jit", "shop", "web"]);
    expect(named("ServiceAccount", "openbao", "openbao")).toHaveLength(1);
  });
});
