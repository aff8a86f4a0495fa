import { countTokens as claudeTokens } from "@anthropic-ai/tokenizer";

/**
 * Real token counts for benchmarks and size guards, with Anthropic's published
 * Claude tokenizer, instead of the four-characters-per-token estimate the
 * output budget uses: the estimate is fine for cutting, not for comparing
 * answers whose shape differs (tables, JSON, stack traces).
 */
export function countTokens(text: string): number {
  return claudeTokens(text);
}
