/**
 * Figures worth printing have an alternative beside them, measured in the
 * same run: each side runs `rounds` times (at least three), interleaved and
 * in alternating order so drift on a shared machine (other builds, thermal
 * limits, a cache warming up) hits both sides alike, and the spread is
 * printed with the median so a difference inside the noise reads as such.
 */
import type { BenchLine } from "./run.ts";

export type Sample = Record<string, number>;

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export const MIN_ROUNDS = 3;

export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) return { median: 0, min: 0, max: 0, runs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs: sorted.length };
}

/**
 * Run every side once per round, round after round; the first side leads in
 * even rounds and the order reverses in odd ones.
 */
export async function interleaved<Side extends string>(
  sides: Record<Side, () => Promise<Sample>>,
  rounds: number = MIN_ROUNDS,
): Promise<Record<Side, Sample[]>> {
  if (rounds < MIN_ROUNDS) throw new Error(`a comparison needs at least ${MIN_ROUNDS} rounds, not ${rounds}`);
  const names = Object.keys(sides) as Side[];
  const samples = Object.fromEntries(names.map((name) => [name, [] as Sample[]])) as Record<Side, Sample[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) samples[name].push(await sides[name]());
  }
  return samples;
}

function format(value: number): string {
  if (Number.isInteger(value) || Math.abs(value) >= 100) return String(Math.round(value));
  return value.toFixed(2);
}

/** "12.3–15.0 over 3 interleaved runs": the spread to print beside a median. */
export function spreadNote(values: readonly number[]): string {
  const spread = spreadOf(values);
  return `${format(spread.min)}–${format(spread.max)} over ${spread.runs} interleaved runs`;
}

/** One line per metric and side: the median, with min–max over the runs in the unit column. */
export function comparisonLines<Side extends string>(
  samples: Record<Side, Sample[]>,
  labels: Record<Side, string>,
  metrics: readonly { key: string; name: string; unit: string }[],
): BenchLine[] {
  const lines: BenchLine[] = [];
  for (const metric of metrics) {
    for (const side of Object.keys(samples) as Side[]) {
      const spread = spreadOf(samples[side].map((sample) => sample[metric.key] ?? Number.NaN));
      lines.push({
        name: `${metric.name}, ${labels[side]}`,
        value: spread.median,
        unit: `${metric.unit} (median; ${spreadNote(samples[side].map((sample) => sample[metric.key] ?? Number.NaN))})`,
      });
    }
  }
  return lines;
}
