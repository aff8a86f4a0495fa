import type { z } from "zod";
import type { ActionType } from "../../../../core/actions/action-type.ts";
import type { Deployment, Pod } from "../../../../core/kube/types.ts";
import type { McpDeps } from "../../../deps.ts";
import type { ToolContext, ToolDefinition } from "../../../tool.ts";
import { defineWriteTool, precheck, propose } from "./propose.ts";
import { readDeployment, targetOf } from "./targets.ts";

/** What a Deployment tool works out from the live object: the rest of a proposal is the same for all. */
export interface DeploymentPlan<Args, Evidence> {
  arguments: Args;
  evidence: Evidence;
  /** The pods the change replaces or removes, for the guardrails and the card. */
  pods?: readonly Pod[];
}

type DeploymentShape = z.ZodRawShape & { namespace: z.ZodType<string>; name: z.ZodType<string> };

/**
 * A write tool on one Deployment: the precheck on the named target, the live
 * Deployment read through the read identity, then the tool's own plan, then
 * the one proposal path with the object and its uid as the target.
 */
export function defineDeploymentWriteTool<
  Shape extends DeploymentShape,
  Args extends Record<string, unknown>,
  Evidence extends Record<string, unknown>,
>(
  type: ActionType<Args, Evidence>,
  tool: Omit<ToolDefinition<McpDeps, Shape>, "name" | "annotations" | "handler"> & {
    annotations: { idempotentHint: boolean };
    /** Checks on the arguments alone, before anything is read (throw to refuse). */
    check?: (args: z.infer<z.ZodObject<Shape>>) => void;
    plan: (
      args: z.infer<z.ZodObject<Shape>>,
      deployment: Deployment,
      context: ToolContext<McpDeps>,
    ) => Promise<DeploymentPlan<Args, Evidence>>;
  },
): ToolDefinition<McpDeps, Shape> {
  const { plan, check, ...definition } = tool;
  return defineWriteTool<Shape>(type, {
    ...definition,
    async handler(args, context) {
      const { namespace, name } = args as { namespace: string; name: string };
      const refused = precheck(context, type, args, { kind: "Deployment", namespace, name });
      if (refused) return refused;
      check?.(args);
      const deployment = await readDeployment(context.deps, namespace, name, context.signal);
      const planned = await plan(args, deployment, context);
      return propose(context, type, {
        rawArguments: args,
        arguments: planned.arguments,
        evidence: planned.evidence,
        target: targetOf("Deployment", deployment),
        object: deployment,
        ...(planned.pods ? { pods: planned.pods } : {}),
      });
    },
  });
}
