import { request as httpsRequest, type RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { expect } from "vitest";
import { seedCluster } from "../helpers/testenv.ts";
import type { KubeObject } from "./kustomize.ts";

/** Shared by the manifest tests that talk to the real local API server. */

export const FIELD_MANAGER = "deputy-manifests-test";

/** Where each built-in kind we ship lives in the API. A kind missing here fails the test (add it). */
export const RESOURCES: Record<string, { path: string; plural: string; namespaced: boolean }> = {
  Namespace: { path: "/api/v1", plural: "namespaces", namespaced: false },
  ServiceAccount: { path: "/api/v1", plural: "serviceaccounts", namespaced: true },
  ConfigMap: { path: "/api/v1", plural: "configmaps", namespaced: true },
  Service: { path: "/api/v1", plural: "services", namespaced: true },
  Pod: { path: "/api/v1", plural: "pods", namespaced: true },
  Deployment: { path: "/apis/apps/v1", plural: "deployments", namespaced: true },
  StatefulSet: { path: "/apis/apps/v1", plural: "statefulsets", namespaced: true },
  PodDisruptionBudget: { path: "/apis/policy/v1", plural: "poddisruptionbudgets", namespaced: true },
  NetworkPolicy: { path: "/apis/networking.k8s.io/v1", plural: "networkpolicies", namespaced: true },
  ClusterRole: { path: "/apis/rbac.authorization.k8s.io/v1", plural: "clusterroles", namespaced: false },
  ValidatingAdmissionPolicy: {
    path: "/apis/admissionregistration.k8s.io/v1",
    plural: "validatingadmissionpolicies",
    namespaced: false,
  },
  ValidatingAdmissionPolicyBinding: {
    path: "/apis/admissionregistration.k8s.io/v1",
    plural: "validatingadmissionpolicybindings",
    namespaced: false,
  },
  ClusterRoleBinding: {
    path: "/apis/rbac.authorization.k8s.io/v1",
    plural: "clusterrolebindings",
    namespaced: false,
  },
  Role: { path: "/apis/rbac.authorization.k8s.io/v1", plural: "roles", namespaced: true },
  RoleBinding: { path: "/apis/rbac.authorization.k8s.io/v1", plural: "rolebindings", namespaced: true },
};

export function isBuiltIn(object: KubeObject): boolean {
  const group = object.apiVersion.includes("/") ? object.apiVersion.split("/")[0]! : "";
  return group === "" || !group.includes(".") || group.endsWith(".k8s.io");
}

export interface ApiAnswer {
  status: number;
  warnings: string[];
  body: Record<string, unknown>;
}

/** A raw API call with the admin identity, so status and Warning headers are visible. */
export async function api(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<ApiAnswer> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const options: RequestOptions = {
    method,
    hostname: server.hostname,
    port: server.port,
    path,
    headers: { "content-type": contentType, accept: "application/json" },
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const warning = res.headers.warning;
        resolve({
          status: res.statusCode ?? 0,
          warnings: warning === undefined ? [] : Array.isArray(warning) ? warning : [warning],
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(typeof body === "string" ? body : JSON.stringify(body));
    req.end();
  });
}

export function objectPath(object: KubeObject): string {
  const resource = RESOURCES[object.kind];
  if (!resource) throw new Error(`no API path known for built-in kind ${object.kind}: add it to RESOURCES`);
  const namespace = resource.namespaced ? `/namespaces/${object.metadata.namespace}` : "";
  return `${resource.path}${namespace}/${resource.plural}/${encodeURIComponent(object.metadata.name)}`;
}

/** Server-side apply, forced for our field manager; dry-run unless `persist`. */
export function apply(kc: KubeConfig, object: KubeObject, persist = false): Promise<ApiAnswer> {
  const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, force: "true" });
  if (!persist) query.set("dryRun", "All");
  return api(kc, "PATCH", `${objectPath(object)}?${query}`, object, "application/apply-patch+yaml");
}

/**
 * Namespaces and RBAC for real (idempotent, forced server-side apply):
 * namespaced objects need their namespace even for a dry-run, and access
 * reviews and logins need the accounts and bindings.
 */
export async function applyFoundation(admin: KubeConfig, objects: KubeObject[]): Promise<void> {
  await seedCluster(); // the writable namespace `shop`, where OpenBao gets its RoleBinding
  const kinds = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
  for (const kind of kinds) {
    for (const object of objects.filter((o) => o.kind === kind)) {
      const answer = await apply(admin, object, true);
      expect([200, 201], `${kind} ${object.metadata.name}: ${JSON.stringify(answer.body)}`).toContain(
        answer.status,
      );
    }
  }
}
