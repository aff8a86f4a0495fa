import { AppsV1Api, type KubeConfig, type V1Container } from "@kubernetes/client-node";
import { adminKubeConfig, eventually } from "./testenv.ts";

/**
 * A new Deployment `name` in `namespace` (labels app=name, one "web"
 * container), after the old one of that name is gone, so a test starts from
 * generation 1 and pods of its own.
 */
export async function freshDeployment(
  namespace: string,
  name: string,
  options: {
    replicas?: number;
    annotations?: Record<string, string>;
    progressDeadlineSeconds?: number;
    /** More of the "web" container (env, resources). */
    container?: Omit<V1Container, "name">;
    /** Another cluster's admin (a second test environment); default the shared one. */
    admin?: KubeConfig;
  } = {},
): Promise<void> {
  const apps = (options.admin ?? adminKubeConfig()).makeApiClient(AppsV1Api);
  await apps.deleteNamespacedDeployment({ name, namespace }).catch(() => undefined);
  await eventually(`old ${name} gone`, () =>
    apps.readNamespacedDeployment({ name, namespace }).then(
      () => false,
      () => true,
    ),
  );
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, namespace, labels: { app: name } },
      spec: {
        replicas: options.replicas ?? 1,
        ...(options.progressDeadlineSeconds
          ? { progressDeadlineSeconds: options.progressDeadlineSeconds }
          : {}),
        selector: { matchLabels: { app: name } },
        template: {
          metadata: {
            labels: { app: name },
            ...(options.annotations ? { annotations: options.annotations } : {}),
          },
          spec: {
            containers: [{ image: "ghcr.io/example/web:1.0.0", ...options.container, name: "web" }],
          },
        },
      },
    },
  });
}
