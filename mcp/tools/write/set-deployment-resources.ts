import { z } from "zod";
import { DeputyError } from "../../../core/errors.ts";
import { containerName } from "../../../core/kube/names.ts";
import { deploymentArg, namespaceArg } from "../read/support/args.ts";
import * as actions from "../../../core/actions/types/index.ts";
import { defineDeploymentWriteTool } from "./support/deployment-tool.ts";
import { writeInput } from "./support/schema.ts";
import { containerOf, podNames, podsOfDeployment } from "./support/targets.ts";

const type = actions.setDeploymentResources;

const cpu = z
  .string()
  .regex(/^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$/, { message: 'cpu must look like "250m" or "1.5"' })
  .describe('CPU quantity, e.g. "250m" or "2"');
const memory = z
  .string()
  .regex(/^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$/, { message: 'memory must look like "512Mi" or "2Gi"' })
  .describe('memory quantity, e.g. "512Mi"');
const amounts = z.strictObject({ cpu: cpu.optional(), memory: memory.optional() });

const inputSchema = writeInput({
  namespace: namespaceArg,
  name: deploymentArg,
  container: containerName.describe("container whose resources change"),
  requests: amounts.optional().describe("new requests (only the given ones change)"),
  limits: amounts.optional().describe("new limits (only the given ones change)"),
});

export const setDeploymentResources = defineDeploymentWriteTool(type, {
  title: "Change a deployment's CPU/memory (needs approval)",
  description:
    "Propose new CPU/memory requests or limits for one container of a Deployment, e.g. a higher memory limit after OOMKilled; only the values given change.",
  inputSchema,
  annotations: { idempotentHint: true },
  check(args) {
    if (Object.keys(args.requests ?? {}).length + Object.keys(args.limits ?? {}).length === 0) {
      throw new DeputyError(
        "INPUT_INVALID",
        "Give at least one of requests.cpu, requests.memory, limits.cpu or limits.memory.",
      );
    }
  },
  async plan(args, deployment, { deps, signal }) {
    const requests = args.requests ?? {};
    const limits = args.limits ?? {};
    const container = containerOf(deployment, args.container);
    const pods = await podsOfDeployment(deps, deployment, signal);
    const current = {
      requests: { ...(container.resources?.requests ?? {}) } as Record<string, string>,
      limits: { ...(container.resources?.limits ?? {}) } as Record<string, string>,
    };
    return {
      arguments: { namespace: args.namespace, name: args.name, container: args.container, requests, limits },
      evidence: { current, pods: podNames(pods) },
      pods,
    };
  },
});
