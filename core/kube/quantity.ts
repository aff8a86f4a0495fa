import { DeputyError } from "../errors.ts";

/**
 * Kubernetes resource quantities ("250m", "128Mi", "1.5Gi", "2e3") as numbers:
 * CPU in cores, memory in bytes. Enough to compare requests with allocatable.
 */
const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

export function parseQuantity(value: string | number | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(
    value.trim(),
  );
  if (!match) throw new DeputyError("INPUT_INVALID", `"${value}" is not a Kubernetes quantity`);
  const base = Number(match[1]);
  if (match[2]) return base * 10 ** Number(match[2].slice(1));
  return base * (SUFFIX[match[3] ?? ""] ?? 1);
}

export function isQuantity(value: string): boolean {
  try {
    parseQuantity(value);
    return true;
  } catch {
    return false;
  }
}

/** Bytes as a short binary quantity, e.g. 134217728 → "128Mi". */
export function formatMemory(bytes: number): string {
  const units = ["", "Ki", "Mi", "Gi", "Ti"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const rounded = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, "");
  return `${rounded}${units[unit]}`;
}

/** Cores as kubectl shows them, e.g. 0.25 → "250m", 2 → "2". */
export function formatCpu(cores: number): string {
  if (cores >= 1 && Number.isInteger(cores)) return String(cores);
  return `${Math.round(cores * 1000)}m`;
}
