import { z } from "zod";
import { DeputyError } from "../../../core/errors.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { defineDeploymentWriteTool } from "./support/deployment-tool.ts";
import { writeInput } from "./support/schema.ts";
import { matchLabelsSelector, podNames, podsOfDeployment } from "./support/targets.ts";

const type = actions.rollbackDeployment;

const REVISION = "deployment.kubernetes.io/revision";

const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  toRevision: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("revision to return to (see describe_deployment); defaults to the previous one"),
});

export const rollbackDeployment = defineDeploymentWriteTool(type, {
  title: "Roll back a deployment (needs approval)",
  description:
    "Propose returning a Deployment to an earlier revision, like `kubectl rollout undo` (e.g. after a bad image); the card shows which images change.",
  inputSchema,
  annotations: { idempotentHint: false },
  async plan(args, deployment, { deps, signal }) {
    const current = Number(deployment.metadata?.annotations?.[REVISION] ?? "0");
    const replicaSets = (
      await deps.kube.apps.listReplicaSets(args.namespace, {
        labelSelector: matchLabelsSelector(deployment.spec?.selector?.matchLabels),
        maxItems: 500,
        signal,
      })
    ).items
      .filter((rs) => rs.metadata?.ownerReferences?.some((owner) => owner.uid === deployment.metadata?.uid))
      .map((rs) => ({ rs, revision: Number(rs.metadata?.annotations?.[REVISION] ?? "0") }))
      .sort((a, b) => b.revision - a.revision);
    const revisions = replicaSets.map((entry) => entry.revision).filter((r) => r !== current);
    const wanted = args.toRevision ?? revisions.find((r) => r < current);
    if (wanted === undefined) {
      throw new DeputyError(
        "INPUT_INVALID",
        `Deployment ${args.namespace}/${args.name} has no earlier revision to roll back to (current revision ${current}).`,
      );
    }
    if (wanted === current) {
      throw new DeputyError(
        "INPUT_INVALID",
        `Revision ${wanted} is already the current revision of ${args.namespace}/${args.name}.`,
      );
    }
    const target = replicaSets.find((entry) => entry.revision === wanted);
    if (!target) {
      throw new DeputyError(
        "INPUT_INVALID",
        `Deployment ${args.namespace}/${args.name} has no revision ${wanted}; available: ${revisions.join(", ") || "none"}.`,
      );
    }
    const template = structuredClone(target.rs.spec?.template ?? {});
    if (template.metadata?.labels) delete template.metadata.labels["pod-template-hash"];
    const pods = await podsOfDeployment(deps, deployment, signal);
    return {
      arguments: {
        namespace: args.namespace,
        name: args.name,
        toRevision: wanted,
        replicaSet: target.rs.metadata?.name ?? "",
        replicaSetUid: target.rs.metadata?.uid ?? "",
        template: template as Record<string, unknown>,
      },
      evidence: {
        currentRevision: current,
        currentTemplate: structuredClone(deployment.spec?.template ?? {}) as Record<string, unknown>,
        pods: podNames(pods),
      },
      pods,
    };
  },
});
