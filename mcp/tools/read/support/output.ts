import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import {
  renderWithinBudget,
  tokensToChars,
  type OutputBlock,
} from "../../../../core/untrusted/output-budget.ts";
import { redactValue } from "../../../../core/untrusted/redact.ts";
import type { Diagnosis } from "../../../diagnose/types.ts";

/**
 * Builds a read tool's result: Deputy's own lines plus fenced cluster data,
 * redacted and held to the output budget, with bounded structuredContent.
 * structuredContent carries facts only (names, counts, reasons), never free
 * cluster text, so everything a model reads from the cluster is fenced.
 */
export interface Output {
  line(text: string): Output;
  data(source: string, text: string, keep?: "head" | "tail"): Output;
  /** Findings, worst first; `heading` (the subject) opens the first line, so line one names the cause. */
  diagnosis(diagnosis: Diagnosis, heading?: string): Output;
  result(structured?: Record<string, unknown>): CallToolResult;
}

export function createOutput(budgetTokens: number): Output {
  const blocks: OutputBlock[] = [];
  const output: Output = {
    line(text) {
      const last = blocks.at(-1);
      if (last?.kind === "text") last.text += `\n${text}`;
      else blocks.push({ kind: "text", text });
      return output;
    },
    data(source, text, keep) {
      blocks.push({ kind: "data", source, text, ...(keep ? { keep } : {}) });
      return output;
    },
    diagnosis(diagnosis, heading) {
      diagnosis.findings.forEach((finding, index) => {
        const line = `[${finding.severity}] ${finding.rule}: ${finding.summary}`;
        output.line(index === 0 && heading ? `${heading} ${line}` : line);
        for (const evidence of finding.evidence)
          output.data(evidence.source, evidence.lines.join("\n"), "tail");
        for (const next of finding.next ?? []) output.line(`Next: ${next}`);
      });
      return output;
    },
    result(structured) {
      const rendered = renderWithinBudget(blocks, budgetTokens);
      const bounded = structured
        ? boundStructured(redactValue(structured), tokensToChars(budgetTokens))
        : undefined;
      return {
        content: [{ type: "text", text: rendered.text }],
        ...(bounded
          ? { structuredContent: { ...bounded, ...(rendered.truncated ? { outputTruncated: true } : {}) } }
          : {}),
      };
    },
  };
  return output;
}

/** Shrink the largest arrays until the JSON fits, and say so. */
export function boundStructured(value: Record<string, unknown>, maxChars: number): Record<string, unknown> {
  let current = structuredClone(value);
  for (let round = 0; round < 40 && JSON.stringify(current).length > maxChars; round++) {
    const largest = findLargestArray(current);
    if (!largest || largest.array.length <= 1) {
      return { truncated: true, note: "structured content exceeded the output budget and was dropped" };
    }
    largest.array.splice(Math.ceil(largest.array.length / 2));
    current = { ...current, truncated: true };
  }
  return current;
}

function findLargestArray(value: unknown): { array: unknown[]; size: number } | undefined {
  let best: { array: unknown[]; size: number } | undefined;
  const visit = (node: unknown, depth: number): void => {
    if (depth > 8 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      const size = JSON.stringify(node).length;
      if (!best || size > best.size) best = { array: node, size };
      node.forEach((child) => visit(child, depth + 1));
      return;
    }
    for (const child of Object.values(node)) visit(child, depth + 1);
  };
  visit(value, 0);
  return best;
}
