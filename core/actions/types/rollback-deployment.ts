import { z } from "zod";
import { isKubeApiError } from "../../kube/errors.ts";
import type { ReplicaSet } from "../../kube/types.ts";
import { ActionFailed, defineActionType } from "../action-type.ts";
import { fieldChanges } from "../diff.ts";
import { podSpecSummary } from "../pod-spec.ts";
import { deploymentPath, deploymentRef, done, objectName, podsLine } from "./support.ts";

const podTemplate = z.record(z.string(), z.unknown());

function specOf(template: Record<string, unknown>): Record<string, unknown> {
  const spec = template.spec;
  return spec !== null && typeof spec === "object" ? (spec as Record<string, unknown>) : {};
}

export const rollbackDeployment = defineActionType({
  name: "rollback_deployment",
  args: z.strictObject({
    ...deploymentRef,
    toRevision: z.number().int().min(1),
    replicaSet: objectName,
    replicaSetUid: z.string().min(1),
    /** The pod template that will be written: revision toRevision's, without pod-template-hash. */
    template: podTemplate,
  }),
  evidence: z.strictObject({
    currentRevision: z.number().int().min(0),
    currentTemplate: podTemplate,
    pods: z.array(z.string()),
  }),
  podTemplates: (args, ev) => [
    {
      workload: `Deployment ${args.namespace}/${args.name}`,
      kind: "Deployment",
      before: specOf(ev.currentTemplate),
      after: specOf(args.template),
    },
  ],
  view: (args, ev) => ({
    summary: `Roll back Deployment ${args.namespace}/${args.name} from revision ${ev.currentRevision} to revision ${args.toRevision}.`,
    security: podSpecSummary({ workload: "", kind: "Deployment", after: specOf(args.template) }),
    changes: [
      `The pod template of revision ${args.toRevision} (ReplicaSet ${args.replicaSet}) replaces the current one:`,
      ...fieldChanges(ev.currentTemplate, args.template).map((line) => `spec.template.${line}`),
    ],
    notes: [podsLine(ev.pods, "Pods replaced by a rolling update")],
  }),
  inverse: (args, ev) =>
    ev.currentRevision < 1 || ev.currentRevision === args.toRevision
      ? undefined
      : {
          tool: "rollback_deployment",
          arguments: { namespace: args.namespace, name: args.name, toRevision: ev.currentRevision },
          summary: `Undo: roll Deployment ${args.namespace}/${args.name} back to revision ${ev.currentRevision}.`,
        },
  effect: (args) => ({ kind: "rollout", namespace: args.namespace, name: args.name }),
  // Exactly the template the approver saw, not whatever the ReplicaSet holds now.
  request: (args, _evidence, target) => ({
    object: { kind: "Deployment", namespace: args.namespace, name: args.name },
    method: "PATCH",
    path: deploymentPath(args.namespace, args.name),
    patchType: "json",
    body: [
      ...(target.uid ? [{ op: "test", path: "/metadata/uid", value: target.uid }] : []),
      { op: "replace", path: "/spec/template", value: args.template },
    ],
    query: { fieldManager: "deputy" },
  }),
  async run(context) {
    const args = context.args;
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
    await context.writeApproved();
    return done(`Deployment ${args.namespace}/${args.name} rolled back to revision ${args.toRevision}.`);
  },
});
