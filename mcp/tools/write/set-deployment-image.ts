import { z } from "zod";
import { DeputyError } from "../../../core/errors.ts";
import { containerName } from "../../../core/kube/names.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { precheck, propose } from "./support/propose.ts";
import { writeInput } from "./support/schema.ts";
import { containerOf, podsOfDeployment, readDeployment, targetOf } from "./support/targets.ts";

// registry/path:tag or @sha256:digest, no whitespace or shell characters.
const imageRef = z
  .string()
  .max(512)
  .regex(/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64})?$/i, {
    message: "image must be a reference like registry.example.com/team/app:1.2.3 or …@sha256:<digest>",
  });

const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  container: containerName.describe("container whose image changes"),
  image: imageRef.describe("new image reference, e.g. ghcr.io/acme/checkout:1.4.2"),
});

export const setDeploymentImage = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "set_deployment_image",
  title: "Change a deployment's image (needs approval)",
  description:
    "Propose changing one container's image in a Deployment (a rolling update follows). Returns at once with 'pending approval (id act_…)'; a human approver (not the requester) must approve.",
  inputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler(args, context) {
    const refused = precheck(context, "set_deployment_image", args, {
      kind: "Deployment",
      namespace: args.namespace,
      name: args.name,
    });
    if (refused) return refused;
    const { deps, signal } = context;
    const deployment = await readDeployment(deps, args.namespace, args.name, signal);
    const container = containerOf(deployment, args.container);
    if (container.image === args.image) {
      throw new DeputyError(
        "INPUT_INVALID",
        `Container ${args.container} already runs ${args.image}; nothing to change.`,
      );
    }
    const pods = await podsOfDeployment(deps, deployment, signal);
    return propose(context, {
      tool: "set_deployment_image",
      rawArguments: args,
      arguments: { namespace: args.namespace, name: args.name, container: args.container, image: args.image },
      target: targetOf("Deployment", deployment),
      object: deployment,
      pods,
      summary: `Set the image of ${args.container} in Deployment ${args.namespace}/${args.name} to ${args.image}.`,
      preview: [
        `container ${args.container}: image ${container.image ?? "?"} → ${args.image}`,
        `Pods replaced by a rolling update: ${pods.length}.`,
      ],
    });
  },
});
