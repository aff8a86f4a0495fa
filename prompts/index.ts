import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";

/**
 * Deputy's system prompt, versioned. The prompt is advice to the model; every
 * rule it states is enforced by a code guardrail named in brackets in the
 * prompt and listed here, so a test can check the two stay in step.
 */
export const SYSTEM_PROMPT: string = readFileSync(new URL("./system-prompt.md", import.meta.url), "utf8");

/** Bump on a deliberate change; the digest catches an undeliberate one in audit. */
export const SYSTEM_PROMPT_VERSION = "2026-12-07.1";

export const SYSTEM_PROMPT_DIGEST: string = createHash("sha256")
  .update(SYSTEM_PROMPT)
  .digest("hex")
  .slice(0, 12);

export interface PromptRule {
  /** Guardrail id as written in the prompt's brackets. */
  guardrail: string;
  /** Where the code that enforces it lives. */
  enforcedBy: string;
}

export const PROMPT_GUARDRAILS: readonly PromptRule[] = [
  {
    guardrail: "argocd-managed",
    enforcedBy: "MCP write tools' policy check; propose_git_change offers the diff",
  },
  {
    guardrail: "statefulset-pod",
    enforcedBy: "pending action risk flag, shown on the approval card (bot/blocks/approval-card.ts)",
  },
  {
    guardrail: "no-force",
    enforcedBy: "write tool schemas have no force field; bot/direct-commands.ts refuses --force",
  },
  { guardrail: "pdb", enforcedBy: "executor evicts through the Eviction API and reports HTTP 429" },
  {
    guardrail: "protected-namespace",
    enforcedBy:
      "MCP write tools' policy check (core/config/config.ts ALWAYS_PROTECTED_NAMESPACES + DEPUTY_PROTECTED_NAMESPACES)",
  },
  {
    guardrail: "host-access",
    enforcedBy:
      "MCP write tools' policy check (mcp/policy/host-access.ts, core/actions/pod-spec.ts); pod-spec-risk flags the rest",
  },
  {
    guardrail: "fenced-tool-output",
    enforcedBy: "bot/agent/fence.ts wraps every tool result; MCP server fences cluster text",
  },
  {
    guardrail: "two-person-approval",
    enforcedBy: "executor decide(); the MCP client exposes no approve tool",
  },
  {
    guardrail: "read-identity-rbac",
    enforcedBy: "ClusterRole deputy-reader (manifests/) has no Secrets and no write verbs",
  },
];
