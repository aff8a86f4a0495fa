import type { AnyActionType } from "../action-type.ts";
import { applyManifest } from "./apply-manifest.ts";
import { cordonNode } from "./cordon-node.ts";
import { deletePod } from "./delete-pod.ts";
import { drainNode } from "./drain-node.ts";
import { restartDeployment } from "./restart-deployment.ts";
import { rollbackDeployment } from "./rollback-deployment.ts";
import { scaleDeployment } from "./scale-deployment.ts";
import { setDeploymentEnv } from "./set-deployment-env.ts";
import { setDeploymentImage } from "./set-deployment-image.ts";
import { setDeploymentResources } from "./set-deployment-resources.ts";
import { uncordonNode } from "./uncordon-node.ts";

export {
  applyManifest,
  cordonNode,
  deletePod,
  drainNode,
  restartDeployment,
  rollbackDeployment,
  scaleDeployment,
  setDeploymentEnv,
  setDeploymentImage,
  setDeploymentResources,
  uncordonNode,
};

const declared = [
  restartDeployment,
  scaleDeployment,
  rollbackDeployment,
  setDeploymentImage,
  setDeploymentResources,
  setDeploymentEnv,
  deletePod,
  cordonNode,
  uncordonNode,
  drainNode,
  applyManifest,
] as const;

/**
 * The name of every action type, which is also its write tool's name: the
 * write tools are kept by these names (mcp/tools/write/index.ts), so a type
 * without its tool, or a tool for no type, does not compile.
 */
export type ActionTypeName = (typeof declared)[number]["name"];

/** Every write Deputy can perform: one declaration each. */
export const actionTypes: readonly AnyActionType<ActionTypeName>[] = declared;

const byName = new Map<string, AnyActionType>(actionTypes.map((type) => [type.name, type] as const));

export function actionTypeOf(name: string): AnyActionType | undefined {
  return byName.get(name);
}
