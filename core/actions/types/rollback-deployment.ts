import { z } from "zod";
import { isKubeApiError } from "../../kube/errors.ts";
import type { Deployment, ReplicaSet } from "../../kube/types.ts";
import { ActionFailed, defineActionType } from "../action-type.ts";
import { fieldChanges } from "../diff.ts";
import { podSpecSummary } from "../pod-spec.ts";
import {
  deploymentPath,
  deploymentRef,
  done,
  liveDeployment,
  objectName,
  onlyStatusChanged,
  podsLine,
} from "./support.ts";

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
  async run(context) {
    const args = context.args;
    const live = await liveDeployment(context);
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
    // A failed JSON-patch test is the API's 422 (409 for a stale resourceVersion); a status-only
    // change by the controllers is tried again, anything else is a conflict.
    let current = live;
    for (let attempt = 1; ; attempt++) {
      try {
        await context.kube.patch(
          deploymentPath(args.namespace, args.name),
          [
            { op: "test", path: "/metadata/uid", value: current.metadata?.uid },
            { op: "test", path: "/metadata/resourceVersion", value: current.metadata?.resourceVersion },
            // Exactly the template the approver saw, not whatever the ReplicaSet holds now.
            { op: "replace", path: "/spec/template", value: args.template },
          ],
          "json",
          { fieldManager: "deputy" },
        );
        break;
      } catch (error) {
        if (!isKubeApiError(error, 422) && !isKubeApiError(error, 409)) throw error;
        const fresh =
          attempt < 4
            ? await context.kube
                .get<Deployment>(deploymentPath(args.namespace, args.name))
                .catch(() => undefined)
            : undefined;
        if (!fresh || !onlyStatusChanged(live, fresh)) {
          throw new ActionFailed(
            "CONFLICT",
            `Deployment ${args.namespace}/${args.name} changed while the rollback ran (409 Conflict); nothing was done.`,
            409,
          );
        }
        current = fresh;
      }
    }
    return done(`Deployment ${args.namespace}/${args.name} rolled back to revision ${args.toRevision}.`);
  },
});
