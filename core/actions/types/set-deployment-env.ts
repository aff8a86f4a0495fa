import { z } from "zod";
import { defineActionType } from "../action-type.ts";
import {
  deploymentRef,
  deploymentRequest,
  done,
  objectName,
  podSpecEvidence,
  podsLine,
  withContainer,
} from "./support.ts";

export const envVarName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, { message: "not a valid environment variable name" });

const args = z.strictObject({
  ...deploymentRef,
  container: objectName,
  set: z.record(envVarName, z.string().max(4096)),
  remove: z.array(envVarName).max(50),
  /**
   * The container's variables in their final order (an undo puts them back
   * where they were: a later variable may refer to an earlier one with
   * `$(NAME)`). Without it, kept variables stay in place and new ones follow.
   */
  order: z.array(envVarName).max(200).optional(),
});
type Args = z.infer<typeof args>;

/** The container's env after the action, in the order the run leaves it. */
function envAfter(a: Args, env: readonly { name: string }[]): { name: string }[] {
  const kept = env.filter((entry) => !a.remove.includes(entry.name));
  const merged = [
    ...kept.map((entry) =>
      Object.hasOwn(a.set, entry.name) ? { name: entry.name, value: a.set[entry.name] } : entry,
    ),
    ...Object.entries(a.set)
      .filter(([name]) => !kept.some((entry) => entry.name === name))
      .map(([name, value]) => ({ name, value })),
  ];
  const { order } = a;
  if (!order) return merged;
  const rank = (name: string): number => (order.includes(name) ? order.indexOf(name) : order.length);
  return merged
    .map((entry, index) => ({ entry, index }))
    .sort((x, y) => rank(x.entry.name) - rank(y.entry.name) || x.index - y.index)
    .map(({ entry }) => entry);
}

function containerEnv(spec: Record<string, unknown>, container: string): { name: string }[] {
  const containers = Array.isArray(spec.containers)
    ? (spec.containers as { name?: unknown; env?: unknown }[])
    : [];
  const found = containers.find((c) => c.name === container);
  return Array.isArray(found?.env) ? (found.env as { name: string }[]) : [];
}

function after(a: Args, spec: Record<string, unknown>): Record<string, unknown> {
  return withContainer(spec, a.container, (c) => ({
    ...c,
    env: envAfter(a, Array.isArray(c.env) ? (c.env as { name: string }[]) : []),
  }));
}

export const setDeploymentEnv = defineActionType({
  name: "set_deployment_env",
  args,
  evidence: z.strictObject({
    /** Current literal values of the variables this action sets (absent: unset). */
    current: z.record(z.string(), z.string()),
    podSpec: podSpecEvidence,
    pods: z.array(z.string()),
  }),
  podTemplates: (a, ev) => [
    {
      workload: `Deployment ${a.namespace}/${a.name}`,
      kind: "Deployment",
      before: ev.podSpec,
      after: after(a, ev.podSpec),
    },
  ],
  view: (a, ev) => ({
    summary: `Change the environment of ${a.container} in Deployment ${a.namespace}/${a.name}.`,
    security: [],
    changes: [
      ...Object.entries(a.set).map(
        ([key, value]) =>
          `container ${a.container}: ${key} ${Object.hasOwn(ev.current, key) ? JSON.stringify(ev.current[key]) : "(unset)"} → ${JSON.stringify(value)}`,
      ),
      ...a.remove.map((key) => `container ${a.container}: remove ${key}`),
      ...(a.order ? [`container ${a.container}: variables in the order ${a.order.join(", ")}`] : []),
    ],
    notes: [podsLine(ev.pods, "Pods replaced by a rolling update")],
  }),
  inverse: (a, ev) => {
    // Removed variables' earlier values are in the pod spec the card showed.
    const containers = Array.isArray(ev.podSpec.containers) ? (ev.podSpec.containers as unknown[]) : [];
    const before = containers.find(
      (c): c is { env?: unknown } =>
        c !== null && typeof c === "object" && (c as { name?: unknown }).name === a.container,
    );
    const env = new Map(
      (Array.isArray(before?.env) ? (before.env as { name?: unknown; value?: unknown }[]) : []).map(
        (entry) => [String(entry.name), entry] as const,
      ),
    );
    const set: Record<string, string> = {};
    const remove: string[] = [];
    for (const key of Object.keys(a.set)) {
      if (Object.hasOwn(ev.current, key)) set[key] = ev.current[key]!;
      else remove.push(key);
    }
    for (const key of a.remove) {
      const value = env.get(key)?.value;
      // A variable that came from a reference cannot be put back as a plain value.
      if (typeof value !== "string") return undefined;
      set[key] = value;
    }
    // Back where each variable was, not appended: a later variable may refer to an earlier one.
    const order = [...env.keys()];
    return {
      tool: "set_deployment_env",
      arguments: { namespace: a.namespace, name: a.name, container: a.container, set, remove, order },
      summary: `Undo: put back the previous environment of ${a.container} in Deployment ${a.namespace}/${a.name}.`,
    };
  },
  effect: (a) => ({ kind: "rollout", namespace: a.namespace, name: a.name }),
  request: (a, ev, target) => {
    // The order the card shows (envAfter), not the one the merge would choose; the patch's own
    // entries must follow that order for the API server to accept it.
    const final = envAfter(a, containerEnv(ev.podSpec, a.container));
    const position = (key: string): number => final.findIndex((entry) => entry.name === key);
    const env = [
      ...Object.entries(a.set)
        .sort(([x], [y]) => position(x) - position(y))
        .map(([key, value]) => ({ name: key, value })),
      ...a.remove.map((key) => ({ name: key, $patch: "delete" })),
    ];
    return deploymentRequest(a, target, {
      template: {
        spec: {
          containers: [
            { name: a.container, env, "$setElementOrder/env": final.map((entry) => ({ name: entry.name })) },
          ],
        },
      },
    });
  },
  async run(context) {
    const { namespace, name, container, set, remove } = context.args;
    await context.writeApproved();
    return done(
      `Deployment ${namespace}/${name}: environment of ${container} updated (${Object.keys(set).length} set, ${remove.length} removed).`,
    );
  },
});
