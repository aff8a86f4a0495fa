import { z } from "zod";
import { DeputyError } from "../../../core/errors.ts";
import { containerName } from "../../../core/kube/names.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { envVarName } from "../../../core/actions/types/set-deployment-env.ts";
import { defineDeploymentWriteTool } from "./support/deployment-tool.ts";
import { writeInput } from "./support/schema.ts";
import { containerOf, podNames, podSpecOf, podsOfDeployment } from "./support/targets.ts";

const type = actions.setDeploymentEnv;

const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  container: containerName.describe("container whose environment changes"),
  set: z.record(envVarName, z.string().max(4096)).optional().describe("variables to set to plain values"),
  remove: z.array(envVarName).max(50).optional().describe("variables to remove"),
  order: z
    .array(envVarName)
    .max(200)
    .optional()
    .describe(
      "the container's variables in their final order (an undo puts them back in place); usually omitted",
    ),
});

export const setDeploymentEnv = defineDeploymentWriteTool(type, {
  title: "Change a deployment's environment (needs approval)",
  description:
    "Propose setting or removing plain env vars of one container in a Deployment. Values show on the approval card: never put secrets here. Secret/ConfigMap references are not replaced.",
  inputSchema,
  annotations: { idempotentHint: true },
  check(args) {
    const set = args.set ?? {};
    const remove = args.remove ?? [];
    if (Object.keys(set).length + remove.length === 0) {
      throw new DeputyError("INPUT_INVALID", "Give variables to set or to remove.");
    }
    const both = [...new Set(remove)].sort().filter((key) => Object.hasOwn(set, key));
    if (both.length > 0)
      throw new DeputyError("INPUT_INVALID", `${both.join(", ")} cannot be both set and removed.`);
  },
  async plan(args, deployment, { deps, signal }) {
    const set = args.set ?? {};
    const remove = [...new Set(args.remove ?? [])].sort();
    const container = containerOf(deployment, args.container);
    const current = new Map((container.env ?? []).map((entry) => [entry.name, entry] as const));
    const referenced = Object.keys(set).filter((key) => current.get(key)?.valueFrom);
    if (referenced.length > 0) {
      throw new DeputyError(
        "INPUT_INVALID",
        `${referenced.join(", ")} come(s) from a Secret/ConfigMap reference; Deputy does not replace references with plain values.`,
      );
    }
    const missing = remove.filter((key) => !current.has(key));
    if (missing.length > 0) {
      throw new DeputyError(
        "INPUT_INVALID",
        `${missing.join(", ")} is not set on container ${args.container}; nothing to remove.`,
      );
    }
    const sortedSet = Object.fromEntries(Object.entries(set).sort(([a], [b]) => (a < b ? -1 : 1)));
    const currentValues = Object.fromEntries(
      Object.keys(sortedSet)
        .filter((key) => current.has(key))
        .map((key) => [key, current.get(key)?.value ?? ""] as const),
    );
    if (args.order) {
      // Exactly the variables the container will have, each once.
      const final = [
        ...[...current.keys()].filter((key) => !remove.includes(key)),
        ...Object.keys(set).filter((key) => !current.has(key)),
      ].sort();
      const given = [...args.order].sort();
      if (given.length !== final.length || given.some((key, index) => key !== final[index])) {
        throw new DeputyError(
          "INPUT_INVALID",
          `order must name each of the container's variables after the change once: ${final.join(", ")}.`,
        );
      }
    }
    const pods = await podsOfDeployment(deps, deployment, signal);
    return {
      arguments: {
        namespace: args.namespace,
        name: args.name,
        container: args.container,
        set: sortedSet,
        remove,
        ...(args.order ? { order: args.order } : {}),
      },
      evidence: { current: currentValues, podSpec: podSpecOf(deployment), pods: podNames(pods) },
      pods,
    };
  },
});
