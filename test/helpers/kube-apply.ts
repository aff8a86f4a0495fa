import {
  ApiException,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";

/** The field manager every object a test applies is owned by. */
export const TEST_FIELD_MANAGER = "deputy-tests";

/** Create or leave as is (409), like `kubectl create`, ignoring what exists. */
export async function ensure(kc: KubeConfig, object: KubernetesObject): Promise<void> {
  try {
    await KubernetesObjectApi.makeApiClient(kc).create(object);
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 409)) throw error;
  }
}

/**
 * Make the live object this one, like `kubectl apply --server-side
 * --force-conflicts`: a changed manifest takes effect in a reused
 * environment, and test files applying the same object at the same time in
 * other workers never conflict (no resourceVersion is read and written back).
 */
export async function serverSideApply(kc: KubeConfig, object: KubernetesObject): Promise<void> {
  await KubernetesObjectApi.makeApiClient(kc).patch(
    object,
    undefined,
    undefined,
    TEST_FIELD_MANAGER,
    true,
    PatchStrategy.ServerSideApply,
  );
}
