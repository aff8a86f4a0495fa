import {
  restartDeployment,
  rollbackDeployment,
  scaleDeployment,
  setDeploymentEnv,
  setDeploymentImage,
  setDeploymentResources,
} from "./deployment.ts";
import { applyManifest } from "./manifest.ts";
import { cordonNode, drainNode, uncordonNode } from "./node.ts";
import { deletePod } from "./pod.ts";
import type { Runner } from "./types.ts";

/** What runs for each write tool once its action is approved. */
export const runners: Readonly<Record<string, Runner>> = {
  restart_deployment: restartDeployment,
  scale_deployment: scaleDeployment,
  rollback_deployment: rollbackDeployment,
  set_deployment_image: setDeploymentImage,
  set_deployment_resources: setDeploymentResources,
  set_deployment_env: setDeploymentEnv,
  delete_pod: deletePod,
  cordon_node: cordonNode,
  uncordon_node: uncordonNode,
  drain_node: drainNode,
  apply_manifest: applyManifest,
};
