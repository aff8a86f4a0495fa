import { DeputyError } from "../../../core/errors.ts";
import { imageReference } from "../../../core/actions/types/set-deployment-image.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { containerName } from "../../../core/kube/names.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import { defineDeploymentWriteTool } from "./support/deployment-tool.ts";
import { writeInput } from "./support/schema.ts";
import { containerOf, podNames, podSpecOf, podsOfDeployment } from "./support/targets.ts";

const type = actions.setDeploymentImage;
const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  container: containerName.describe("container whose image changes"),
  image: imageReference.describe("new image reference, e.g. ghcr.io/acme/checkout:1.4.2"),
});

export const setDeploymentImage = defineDeploymentWriteTool(type, {
  title: "Change a deployment's image (needs approval)",
  description: "Propose changing one container's image in a Deployment (a rolling update follows).",
  inputSchema,
  annotations: { idempotentHint: true },
  async plan(args, deployment, { deps, signal }) {
    const container = containerOf(deployment, args.container);
    if (container.image === args.image) {
      throw new DeputyError(
        "INPUT_INVALID",
        `Container ${args.container} already runs ${args.image}; nothing to change.`,
      );
    }
    const pods = await podsOfDeployment(deps, deployment, signal);
    return {
      arguments: { namespace: args.namespace, name: args.name, container: args.container, image: args.image },
      evidence: {
        currentImage: container.image ?? "?",
        podSpec: podSpecOf(deployment),
        pods: podNames(pods),
      },
      pods,
    };
  },
});
