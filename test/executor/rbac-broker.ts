import { randomBytes } from "node:crypto";
import {
  AuthorizationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from "@kubernetes/client-node";
import { credsRequestParams } from "../../core/identity/openbao-roles.ts";
import type { BrokerStats, CredentialBroker } from "../../executor/credential-broker.ts";
import { adminKubeConfig, eventually } from "../helpers/testenv.ts";

/**
 * For runner tests that must not depend on OpenBao: the same thing the
 * Kubernetes secrets engine does for one action — a generated service account
 * bound to the action's pre-created ClusterRole, a TokenRequest token, and
 * everything deleted afterwards — done by the test with the admin identity.
 * It proves each runner works with no more than its role grants, on the real
 * API server. The OpenBao path itself is tested with the real broker.
 */
export function createRbacBroker(): CredentialBroker {
  const stats: BrokerStats = {
    logins: 0,
    minted: 0,
    revoked: 0,
    revokeFailures: 0,
    renewals: 0,
    renewFailures: 0,
  };
  return {
    async withCredential(request, use, hooks) {
      const params = credsRequestParams(request.role, request.namespace);
      const namespace = String(params.kubernetes_namespace);
      const cluster = params.cluster_role_binding === true;
      const name = `deputy-jit-test-${randomBytes(5).toString("hex")}`;
      const kc = adminKubeConfig();
      const core = kc.makeApiClient(CoreV1Api);
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      const subjects = [{ kind: "ServiceAccount", name, namespace }];
      // The pre-created action role (manifests/base/rbac/deputy-action-roles.yaml), as OpenBao binds it.
      const roleRef = {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: request.role.clusterRoleName,
      };
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
      if (cluster) {
        await rbac.createClusterRoleBinding({ body: { metadata: { name }, roleRef, subjects } });
      } else {
        await rbac.createNamespacedRoleBinding({
          namespace,
          body: { metadata: { name }, roleRef, subjects },
        });
      }
      const token = (
        await core.createNamespacedServiceAccountToken({
          name,
          namespace,
          body: { spec: { expirationSeconds: 600, audiences: [] } },
        })
      ).status?.token;
      stats.minted++;
      const leaseId = `rbac-test/${name}`;
      try {
        await hooks?.onLease?.(leaseId);
        // The authorizer learns of a new binding from its own cache: wait until it grants the role.
        await untilAuthorized(kc, request.role.clusterRoleName, { name, namespace });
        const value = await use({ leaseId, serviceAccountName: name, namespace, token: token ?? "" });
        return { value, leaseId, revoked: true };
      } finally {
        await core.deleteNamespacedServiceAccount({ name, namespace }).catch(() => undefined);
        if (cluster) {
          await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
        } else {
          await rbac.deleteNamespacedRoleBinding({ name, namespace }).catch(() => undefined);
        }
        stats.revoked++;
        await hooks?.onRevoke?.(true);
      }
    },
    async revokeLease() {
      // Nothing to do: every credential is deleted when its action ends.
    },
    stats: () => ({ ...stats }),
  };
}

/** Until the API server's authorizer lets the service account do the first thing its ClusterRole allows. */
async function untilAuthorized(
  kc: KubeConfig,
  clusterRole: string,
  account: { name: string; namespace: string },
): Promise<void> {
  const role = await kc.makeApiClient(RbacAuthorizationV1Api).readClusterRole({ name: clusterRole });
  const rule = role.rules?.[0];
  if (!rule?.verbs[0] || !rule.resources?.[0]) return;
  const [resource, subresource] = rule.resources[0].split("/");
  const authorization = kc.makeApiClient(AuthorizationV1Api);
  await eventually(
    `the authorizer to grant ${clusterRole} to ${account.namespace}/${account.name}`,
    async () => {
      const review = await authorization.createSubjectAccessReview({
        body: {
          spec: {
            user: `system:serviceaccount:${account.namespace}:${account.name}`,
            groups: [
              "system:serviceaccounts",
              `system:serviceaccounts:${account.namespace}`,
              "system:authenticated",
            ],
            resourceAttributes: {
              verb: rule.verbs[0],
              group: rule.apiGroups?.[0] ?? "",
              resource,
              ...(subresource ? { subresource } : {}),
              ...(rule.resourceNames?.[0] ? { name: rule.resourceNames[0] } : {}),
              namespace: account.namespace,
            },
          },
        },
      });
      return review.status?.allowed === true;
    },
    { intervalMs: 50 },
  );
}
