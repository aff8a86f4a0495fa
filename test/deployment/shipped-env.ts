import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CoreV1Api, type KubernetesObject } from "@kubernetes/client-node";
import { parse } from "yaml";
import {
  OPENBAO_ROLES_FILE,
  parseOpenBaoRoles,
  type OpenBaoRoles,
} from "../../core/identity/openbao-roles.ts";
import { ensure, serverSideApply } from "../helpers/kube-apply.ts";
import { adminKubeConfig, loadTestEnv } from "../helpers/testenv.ts";
import { podTemplate, type KubeObject } from "../manifests/kustomize.ts";

/**
 * What a kubelet would give one of the rendered Deployments' pods, on this
 * machine: its environment (ConfigMap, env with $(VAR) expansion, secret and
 * field references), its projected volumes (service-account tokens minted
 * with TokenRequest at the manifest's audience and expiry, the cluster CA,
 * the namespace) written under a directory standing for the pod's root, and
 * its arguments.
 */

export interface PodShape {
  namespace: string;
  serviceAccount: string;
  args: string[];
  env: Record<string, string>;
  /** Where a path the manifest mounts lives on this machine. */
  root: string;
  mountPaths: string[];
}

interface Container {
  args?: string[];
  envFrom?: { configMapRef?: { name: string } }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string };
      fieldRef?: { fieldPath: string };
    };
  }[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface ProjectedSource {
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
  configMap?: { name: string; items: { key: string; path: string }[] };
  downwardAPI?: { items: { path: string; fieldRef: { fieldPath: string } }[] };
}

interface PodSpec {
  serviceAccountName: string;
  containers: Container[];
  volumes?: { name: string; projected?: { sources: ProjectedSource[] }; emptyDir?: unknown }[];
}

function find(objects: KubeObject[], kind: string, name: string, namespace: string): KubeObject {
  const found = objects.find(
    (o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace,
  );
  if (!found) throw new Error(`${kind} ${namespace}/${name} is not rendered`);
  return found;
}

/** TokenRequest as the kubelet makes it for a projected serviceAccountToken source. */
async function mintProjectedToken(
  namespace: string,
  serviceAccount: string,
  source: NonNullable<ProjectedSource["serviceAccountToken"]>,
): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const answer = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: {
      spec: {
        // No audience: the API server's own, as for kube-api-access.
        audiences: source.audience ? [source.audience] : [],
        expirationSeconds: source.expirationSeconds ?? 3600,
      },
    },
  });
  const token = answer.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  return token;
}

/** A pod of the named Deployment, its files written under `root`. */
export async function podOf(
  objects: KubeObject[],
  name: string,
  namespace: string,
  root: string,
  secrets: Record<string, Record<string, string>>,
): Promise<PodShape> {
  const deployment = find(objects, "Deployment", name, namespace);
  const spec = podTemplate(deployment)!.spec as PodSpec;
  const container = spec.containers[0]!;
  const podName = `${name}-0`;
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (!from.configMapRef) continue;
    const configMap = find(objects, "ConfigMap", from.configMapRef.name, namespace);
    Object.assign(env, (configMap as { data?: Record<string, string> }).data ?? {});
  }
  const fields: Record<string, string> = { "metadata.name": podName, "metadata.namespace": namespace };
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value.replace(/\$\(([A-Z0-9_]+)\)/g, (_, ref: string) => env[ref] ?? "");
    } else if (variable.valueFrom?.secretKeyRef) {
      const { name: secret, key } = variable.valueFrom.secretKeyRef;
      const value = secrets[secret]?.[key];
      if (value === undefined) throw new Error(`Secret ${namespace}/${secret} key ${key} is not provided`);
      env[variable.name] = value;
    } else if (variable.valueFrom?.fieldRef) {
      env[variable.name] = fields[variable.valueFrom.fieldRef.fieldPath] ?? "";
    }
  }

  const mountPaths: string[] = [];
  const caPem = await readFile(loadTestEnv().caFile, "utf8");
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes?.find((v) => v.name === mount.name);
    if (!volume) throw new Error(`${name}: volumeMount ${mount.name} has no volume`);
    const directory = join(root, mount.mountPath);
    await mkdir(directory, { recursive: true });
    mountPaths.push(mount.mountPath);
    for (const source of volume.projected?.sources ?? []) {
      const write = async (path: string, content: string): Promise<void> => {
        await mkdir(dirname(join(directory, path)), { recursive: true });
        await writeFile(join(directory, path), content, { mode: 0o444 });
      };
      if (source.serviceAccountToken) {
        const token = await mintProjectedToken(
          namespace,
          spec.serviceAccountName,
          source.serviceAccountToken,
        );
        await write(source.serviceAccountToken.path, token);
      }
      if (source.configMap) {
        if (source.configMap.name !== "kube-root-ca.crt") {
          throw new Error(`${name}: projected ConfigMap ${source.configMap.name} is not provided`);
        }
        for (const item of source.configMap.items) await write(item.path, caPem);
      }
      for (const item of source.downwardAPI?.items ?? []) {
        await write(item.path, fields[item.fieldRef.fieldPath] ?? "");
      }
    }
  }
  return {
    namespace,
    serviceAccount: spec.serviceAccountName,
    args: container.args ?? [],
    env,
    root,
    mountPaths,
  };
}

/** A path the pod sees, as this machine sees it (unchanged when nothing is mounted there). */
export function onHost(pod: PodShape, path: string): string {
  return pod.mountPaths.some((mount) => path.startsWith(`${mount}/`)) ? join(pod.root, path) : path;
}

/**
 * The in-cluster client configuration a pod gets (KUBERNETES_SERVICE_HOST and
 * the files under /var/run/secrets/kubernetes.io/serviceaccount), written as
 * the kubeconfig it is equivalent to, so the files can live under `root`.
 */
export async function inClusterKubeconfig(pod: PodShape): Promise<string> {
  const server = loadTestEnv().server;
  const base = onHost(pod, "/var/run/secrets/kubernetes.io/serviceaccount/token").replace(/\/token$/, "");
  let hasToken = true;
  try {
    await readFile(join(base, "token"));
  } catch {
    hasToken = false;
  }
  const path = join(pod.root, "in-cluster.kubeconfig");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "in-cluster", cluster: { server, "certificate-authority": join(base, "ca.crt") } }],
    users: [
      {
        name: "in-cluster",
        user: hasToken
          ? { "auth-provider": { name: "tokenFile", config: { tokenFile: join(base, "token") } } }
          : {},
      },
    ],
    contexts: [{ name: "in-cluster", context: { cluster: "in-cluster", user: "in-cluster" } }],
    "current-context": "in-cluster",
  };
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** Apply as shipped, so a changed manifest takes effect in a reused environment. */
export async function applyObject(object: KubernetesObject): Promise<void> {
  const kc = adminKubeConfig();
  // A Namespace is only created: a test never changes one, and deleting it is not a test's job.
  await (object.kind === "Namespace" ? ensure(kc, object) : serverSideApply(kc, object));
}

/**
 * roles.yaml exactly (its account names, namespaces, audiences and TTLs), on
 * a mount and under policy names of its own, so that nothing else configuring
 * the shared server's default mount changes it under the test.
 */
export function shippedRoles(mount: string, writableNamespaces: string[]): OpenBaoRoles {
  const doc = parse(readFileSync(OPENBAO_ROLES_FILE, "utf8")) as {
    auth: { mount: string; roles: { token_policies: string[] }[] };
    policies: Record<string, { paths: Record<string, string[]> }>;
    secretsEngine: { mount: string };
  };
  const rename = (path: string): string => path.replace(/(^|\/)kubernetes\//, `$1${mount}/`);
  const policyName = (name: string): string => `${name}-${mount}`;
  doc.auth.mount = mount;
  doc.secretsEngine.mount = mount;
  for (const role of doc.auth.roles) role.token_policies = role.token_policies.map(policyName);
  doc.policies = Object.fromEntries(
    Object.entries(doc.policies).map(([name, policy]) => [
      policyName(name),
      { paths: Object.fromEntries(Object.entries(policy.paths).map(([p, caps]) => [rename(p), caps])) },
    ]),
  );
  return parseOpenBaoRoles(doc, { writableNamespaces, jitNamespace: "deputy-jit" });
}
