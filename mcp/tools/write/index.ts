import type { ToolDefinition } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
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

/** The write tools: each validates, runs the guardrails and stores a pending action. None writes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool has its own argument shape
export const writeTools: ToolDefinition<McpDeps, any>[] = [
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
];
