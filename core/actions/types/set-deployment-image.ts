import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import { podSpecSummary } from "../pod-spec.ts";
import {
  deploymentRef,
  deploymentRequest,
  done,
  objectName,
  podSpecEvidence,
  podsLine,
  withContainer,
} from "./support.ts";

// registry/path:tag or @sha256:digest, no whitespace or shell characters.
export const imageReference = z
  .string()
  .max(512)
  .regex(/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64})?$/i, {
    message: "image must be a reference like registry.example.com/team/app:1.2.3 or …@sha256:<digest>",
  });

const evidence = z.strictObject({
  currentImage: z.string(),
  podSpec: podSpecEvidence,
  pods: z.array(z.string()),
});

function after(
  args: { container: string; image: string },
  spec: Record<string, unknown>,
): Record<string, unknown> {
  return withContainer(spec, args.container, (c) => ({ ...c, image: args.image }));
}

export const setDeploymentImage = defineActionType({
  name: "set_deployment_image",
  args: z.strictObject({ ...deploymentRef, container: objectName, image: imageReference }),
  evidence,
  podTemplates: (args, ev) => [
    {
      workload: `Deployment ${args.namespace}/${args.name}`,
      kind: "Deployment",
      before: ev.podSpec,
      after: after(args, ev.podSpec),
    },
  ],
  view: (args, ev) => ({
    summary: `Set the image of ${args.container} in Deployment ${args.namespace}/${args.name} to ${args.image}.`,
    security: podSpecSummary({ workload: "", kind: "Deployment", after: after(args, ev.podSpec) }),
    changes: [`container ${args.container}: image ${ev.currentImage} → ${args.image}`],
    notes: [podsLine(ev.pods, "Pods replaced by a rolling update")],
  }),
  inverse: (args, ev) =>
    ev.currentImage === "?" || ev.currentImage === args.image
      ? undefined
      : {
          tool: "set_deployment_image",
          arguments: {
            namespace: args.namespace,
            name: args.name,
            container: args.container,
            image: ev.currentImage,
          },
          summary: `Undo: set ${args.container} in Deployment ${args.namespace}/${args.name} back to ${ev.currentImage}.`,
        },
  effect: (args) => ({ kind: "rollout", namespace: args.namespace, name: args.name }),
  request: (args, _evidence, target) =>
    deploymentRequest(args, target, {
      template: { spec: { containers: [{ name: args.container, image: args.image }] } },
    }),
  async run(context) {
    const { namespace, name, container, image } = context.args;
    await context.writeApproved();
    return done(`Deployment ${namespace}/${name}: container ${container} now runs ${image}.`);
  },
});
