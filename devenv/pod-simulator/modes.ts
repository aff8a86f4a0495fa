import { createHash } from "node:crypto";
import { ApiException, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";

/**
 * What the simulator's parts share: the annotations that choose a pod's
 * behaviour, the fake nodes, and small helpers for the API.
 */
export const SIMULATE_ANNOTATION = "testenv.deputy.dev/simulate";
export const LOG_TEMPLATE_ANNOTATION = "testenv.deputy.dev/log-template";
export const SIMULATION_MODES = ["running", "crashloop", "oomkilled", "imagepull", "pending"] as const;
export type SimulationMode = (typeof SIMULATION_MODES)[number];

export interface FakeNodeSpec {
  name: string;
  ready: boolean;
  memoryPressure: boolean;
}

export const FAKE_NODES: readonly FakeNodeSpec[] = [
  { name: "node-a", ready: true, memoryPressure: false },
  { name: "node-b", ready: true, memoryPressure: false },
  { name: "node-c", ready: false, memoryPressure: true },
];

export const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export function modeOf(pod: V1Pod): SimulationMode {
  const raw = pod.metadata?.annotations?.[SIMULATE_ANNOTATION];
  return (SIMULATION_MODES as readonly string[]).includes(raw ?? "") ? (raw as SimulationMode) : "running";
}

export function statusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

export function shortHash(value: string, length = 64): string {
  return createHash("sha256").update(value).digest("hex").slice(0, length);
}
