import { z } from "zod";
import { isKubeApiError } from "../../core/kube/errors.ts";
import type { Deployment, ReplicaSet } from "../../core/kube/types.ts";
import {
  ActionFailed,
  assertUnchanged,
  deploymentPath,
  type RunContext,
  type RunResult,
  type Runner,
} from "./types.ts";

/**
 * Deployment writes: restart, scale, rollback, image, resources, env. Each is
 * a small typed patch computed from the stored, normalised arguments — never
 * a free-form patch from the model.
 */

const name = z.string().min(1).max(253);
const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/);

export const deploymentRef = z.object({ namespace: name, name }).strict();
export const scaleArgs = deploymentRef.extend({ replicas: z.number().int().min(0).max(1000) }).strict();
export const imageArgs = deploymentRef
  .extend({ container: name, image: z.string().min(1).max(512) })
  .strict();
export const resourcesArgs = deploymentRef
  .extend({
    container: name,
    requests: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict(),
    limits: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict(),
  })
  .strict();
export const envArgs = deploymentRef
  .extend({
    container: name,
    set: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/), z.string().max(4096)),
    remove: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/)),
  })
  .strict();
export const rollbackArgs = deploymentRef
  .extend({ toRevision: z.number().int().min(1), replicaSet: name, replicaSetUid: z.string().min(1) })
  .strict();

export type ScaleArgs = z.infer<typeof scaleArgs>;
export type ImageArgs = z.infer<typeof imageArgs>;
export type ResourcesArgs = z.infer<typeof resourcesArgs>;
export type EnvArgs = z.infer<typeof envArgs>;
export type RollbackArgs = z.infer<typeof rollbackArgs>;

/** Read the deployment with the minted credential and check it is the one proposed. */
async function liveDeployment(
  context: RunContext,
  namespace: string,
  deployment: string,
): Promise<Deployment> {
  const what = `Deployment ${namespace}/${deployment}`;
  let live: Deployment;
  try {
    live = await context.kube.get<Deployment>(deploymentPath(namespace, deployment));
  } catch (error) {
    if (isKubeApiError(error, 404))
      throw new ActionFailed("NOT_FOUND", `${what} no longer exists; nothing was done.`, 404);
    throw error;
  }
  assertUnchanged(live, context.action.target, what);
  return live;
}

/** Strategic merge patch guarded by uid + resourceVersion: a concurrent change is a 409. */
async function guardedPatch(
  context: RunContext,
  live: Deployment,
  spec: Record<string, unknown>,
): Promise<void> {
  const meta = live.metadata ?? {};
  const { namespace = "", name: deployment = "" } = meta;
  try {
    await context.kube.patch(
      deploymentPath(namespace, deployment),
      { metadata: { uid: meta.uid, resourceVersion: meta.resourceVersion }, spec },
      "strategic",
      { fieldManager: "deputy" },
    );
  } catch (error) {
    if (isKubeApiError(error, 409)) {
      throw new ActionFailed(
        "CONFLICT",
        `Deployment ${namespace}/${deployment} changed while the action ran (409 Conflict); nothing was done.`,
        409,
      );
    }
    throw error;
  }
}

function containerExists(live: Deployment, container: string): void {
  const names = (live.spec?.template.spec?.containers ?? []).map((c) => c.name);
  if (!names.includes(container)) {
    throw new ActionFailed(
      "INPUT_INVALID",
      `Deployment ${live.metadata?.namespace}/${live.metadata?.name} has no container "${container}" any more (has ${names.join(", ")}); nothing was done.`,
      422,
    );
  }
}

const done = (message: string): RunResult => ({ message, kubeStatus: 200 });

export const restartDeployment: Runner = async (context) => {
  const args = deploymentRef.parse(context.action.arguments);
  const live = await liveDeployment(context, args.namespace, args.name);
  const restartedAt = new Date().toISOString();
  await guardedPatch(context, live, {
    template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": restartedAt } } },
  });
  return done(`Deployment ${args.namespace}/${args.name} is restarting (rollout at ${restartedAt}).`);
};

export const scaleDeployment: Runner = async (context) => {
  const args = scaleArgs.parse(context.action.arguments);
  const live = await liveDeployment(context, args.namespace, args.name);
  await guardedPatch(context, live, { replicas: args.replicas });
  return done(
    `Deployment ${args.namespace}/${args.name} scaled from ${live.spec?.replicas ?? 1} to ${args.replicas} replicas.`,
  );
};

export const setDeploymentImage: Runner = async (context) => {
  const args = imageArgs.parse(context.action.arguments);
  const live = await liveDeployment(context, args.namespace, args.name);
  containerExists(live, args.container);
  await guardedPatch(context, live, {
    template: { spec: { containers: [{ name: args.container, image: args.image }] } },
  });
  return done(
    `Deployment ${args.namespace}/${args.name}: container ${args.container} now runs ${args.image}.`,
  );
};

export const setDeploymentResources: Runner = async (context) => {
  const args = resourcesArgs.parse(context.action.arguments);
  const live = await liveDeployment(context, args.namespace, args.name);
  containerExists(live, args.container);
  const resources: Record<string, Record<string, string>> = {};
  if (Object.keys(args.requests).length > 0) resources.requests = args.requests as Record<string, string>;
  if (Object.keys(args.limits).length > 0) resources.limits = args.limits as Record<string, string>;
  await guardedPatch(context, live, {
    template: { spec: { containers: [{ name: args.container, resources }] } },
  });
  return done(`Deployment ${args.namespace}/${args.name}: resources of ${args.container} updated.`);
};

export const setDeploymentEnv: Runner = async (context) => {
  const args = envArgs.parse(context.action.arguments);
  const live = await liveDeployment(context, args.namespace, args.name);
  containerExists(live, args.container);
  const env = [
    ...Object.entries(args.set).map(([key, value]) => ({ name: key, value })),
    ...args.remove.map((key) => ({ name: key, $patch: "delete" })),
  ];
  await guardedPatch(context, live, { template: { spec: { containers: [{ name: args.container, env }] } } });
  return done(
    `Deployment ${args.namespace}/${args.name}: environment of ${args.container} updated (${Object.keys(args.set).length} set, ${args.remove.length} removed).`,
  );
};

export const rollbackDeployment: Runner = async (context) => {
  const args = rollbackArgs.parse(context.action.arguments);
  const live = await liveDeployment(context, args.namespace, args.name);
  const rsPath = `/apis/apps/v1/namespaces/${encodeURIComponent(args.namespace)}/replicasets/${encodeURIComponent(args.replicaSet)}`;
  let replicaSet: ReplicaSet;
  try {
    replicaSet = await context.kube.get<ReplicaSet>(rsPath);
  } catch (error) {
    if (isKubeApiError(error, 404)) {
      throw new ActionFailed(
        "NOT_FOUND",
        `Revision ${args.toRevision} (ReplicaSet ${args.replicaSet}) no longer exists; nothing was done.`,
        404,
      );
    }
    throw error;
  }
  const revision = replicaSet.metadata?.annotations?.["deployment.kubernetes.io/revision"];
  if (replicaSet.metadata?.uid !== args.replicaSetUid || revision !== String(args.toRevision)) {
    throw new ActionFailed(
      "CONFLICT",
      `ReplicaSet ${args.replicaSet} is no longer revision ${args.toRevision} of ${args.namespace}/${args.name}; nothing was done.`,
      409,
    );
  }
  const template = structuredClone(replicaSet.spec?.template ?? {});
  if (template.metadata?.labels) delete template.metadata.labels["pod-template-hash"];
  try {
    await context.kube.patch(
      deploymentPath(args.namespace, args.name),
      [
        { op: "test", path: "/metadata/uid", value: live.metadata?.uid },
        { op: "test", path: "/metadata/resourceVersion", value: live.metadata?.resourceVersion },
        { op: "replace", path: "/spec/template", value: template },
      ],
      "json",
      { fieldManager: "deputy" },
    );
  } catch (error) {
    // A failed JSON-patch test is the API's 422; to people it is a conflict.
    if (isKubeApiError(error, 422) || isKubeApiError(error, 409)) {
      throw new ActionFailed(
        "CONFLICT",
        `Deployment ${args.namespace}/${args.name} changed while the rollback ran (409 Conflict); nothing was done.`,
        409,
      );
    }
    throw error;
  }
  return done(`Deployment ${args.namespace}/${args.name} rolled back to revision ${args.toRevision}.`);
};
