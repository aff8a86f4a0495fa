import type { ToolDefinition } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { actionTypes, type ActionTypeName } from "../../../core/actions/types/index.ts";
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool has its own argument shape
type WriteTool = ToolDefinition<McpDeps, any>;

/** Each action type's tool, by the type's name: every type has exactly one. */
const toolOf: Record<ActionTypeName, WriteTool> = {
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

/**
 * The write tools, in the order of the action types they propose: each
 * validates, runs the guardrails and stores a pending action. None writes.
 */
export const writeTools: WriteTool[] = actionTypes.map((type) => toolOf[type.name]);
