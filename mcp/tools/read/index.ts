import type { ToolDefinition } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { checkLogs } from "./check-logs.ts";
import { describeDeployment } from "./describe-deployment.ts";
import { describePod } from "./describe-pod.ts";
import { getEvents } from "./get-events.ts";
import { getResource } from "./get-resource.ts";
import { kubectl } from "./kubectl/index.ts";
import { listDeployments } from "./list-deployments.ts";
import { listNamespaces } from "./list-namespaces.ts";
import { listPods } from "./list-pods.ts";
import { proposeGitChange } from "./propose-git-change.ts";
import { showUnhealthyNodes } from "./show-unhealthy-nodes.ts";
import { troubleshootNode } from "./troubleshoot-node.ts";
import { troubleshootPod } from "./troubleshoot-pod.ts";

/** The read tools: answer at once with the server's read-only identity. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each tool has its own argument shape
export const readTools: ToolDefinition<McpDeps, any>[] = [
  listNamespaces,
  listPods,
  describePod,
  troubleshootPod,
  checkLogs,
  getEvents,
  listDeployments,
  describeDeployment,
  showUnhealthyNodes,
  troubleshootNode,
  getResource,
  kubectl,
  proposeGitChange,
];
