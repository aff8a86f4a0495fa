import { describe, expect, it } from "vitest";
import { loadOpenBaoRoles, rolesForCluster, secretsMounts } from "../../core/identity/openbao-roles.ts";

/**
 * Several clusters set up in one OpenBao: each cluster's mounts, policies
 * and the policy paths naming its mounts are its own, so one cluster's setup
 * never repoints another's.
 */
describe("rolesForCluster", () => {
  const roles = loadOpenBaoRoles();
  const a = rolesForCluster(roles, "prod-eu");
  const b = rolesForCluster(roles, "staging");

  it("puts each cluster's auth and secrets mounts under clusters/<name>/", () => {
    expect(a.auth.mount).toBe(`clusters/prod-eu/${roles.auth.mount}`);
    expect(a.secretsEngine.mount).toBe(`clusters/prod-eu/${roles.secretsEngine.mount}`);
    const mountsA = secretsMounts(a.secretsEngine.mount, a.secretsEngine.parallelMounts);
    const mountsB = secretsMounts(b.secretsEngine.mount, b.secretsEngine.parallelMounts);
    expect(mountsA.filter((mount) => mountsB.includes(mount))).toEqual([]);
    expect(mountsA).not.toContain(roles.secretsEngine.mount);
  });

  it("names policies per cluster, and the auth roles ask for their own cluster's", () => {
    expect(Object.keys(a.policies).sort()).toEqual(
      Object.keys(roles.policies)
        .map((name) => `${name}@prod-eu`)
        .sort(),
    );
    const executor = a.auth.roles.find((role) => role.name === "deputy-executor");
    expect(executor?.token_policies).toEqual(["deputy-executor@prod-eu"]);
  });

  it("lets a cluster's executor mint and revoke on its own mounts only", () => {
    const paths = Object.keys(a.policies["deputy-executor@prod-eu"]!.paths);
    const mounts = secretsMounts(a.secretsEngine.mount, a.secretsEngine.parallelMounts);
    for (const mount of mounts) {
      expect(paths).toContain(`${mount}/creds/deputy-*`);
      expect(paths).toContain(`sys/leases/revoke/${mount}/creds/deputy-*`);
    }
    const others = paths.filter((path) => /creds/.test(path) && !path.includes("clusters/prod-eu/"));
    expect(others).toEqual([]);
    // Paths on other mounts (the shared KV, the token's own endpoints) are kept as they are.
    expect(paths).toContain("auth/token/renew-self");
    expect(paths).toContain("secret/data/deputy/keys/action");
  });

  it("leaves the roles it was given unchanged", () => {
    expect(roles.auth.mount).toBe("kubernetes");
    expect(Object.keys(roles.policies)).toContain("deputy-executor");
  });
});
