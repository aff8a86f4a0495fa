/**
 * What a write tool's result says happened, read exactly: the fence the MCP
 * server wraps it in gives the tool and status, and the first line is either
 * "pending approval (id act_…, digest …)" or "Refused by rule <id>: …".
 * Anything else is returned whole, so an assertion shows the surprise.
 */
export interface ToolOutcome {
  tool: string;
  /** "pending", "refused:<rule id>", or the unexpected text itself. */
  outcome: string;
  /** The pending action's id, when one was stored. */
  actionId?: string;
  /** Risk flags listed on a pending action ("! <rule>: …" lines). */
  flags: string[];
}

const FENCE =
  /^<tool-output-[a-z2-7]+ tool="([a-z_]+)" status="(ok|error)"[^>]*>\n([\s\S]*?)\n<\/tool-output-/;
const PENDING = /^pending approval \(id (act_[\w-]+), digest [0-9a-f]+\)\n/;
const REFUSED = /^Refused by rule ([a-z-]+): /;

export function toolOutcome(result: string): ToolOutcome {
  const fence = FENCE.exec(result);
  const text = fence?.[3] ?? result;
  const tool = fence?.[1] ?? "unknown";
  const flags = [...text.matchAll(/^! ([a-z-]+): /gm)].map((m) => m[1]!);
  const pending = fence?.[2] === "ok" ? PENDING.exec(text) : null;
  if (pending) return { tool, outcome: "pending", actionId: pending[1]!, flags };
  const refused = REFUSED.exec(text);
  if (refused) return { tool, outcome: `refused:${refused[1]}`, flags };
  return { tool, outcome: text, flags };
}
