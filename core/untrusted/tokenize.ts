import { DeputyError } from "../errors.ts";

/**
 * Shell-like splitting of one command line into words, the one tokenizer for
 * `/deputy` direct commands and the kubectl tool. Quotes group (and may join
 * within a word: `a'b c'` is `ab c`), a backslash escapes inside double
 * quotes, and an unterminated quote is an error rather than a guess. Nothing
 * is ever interpreted; with `refuseOperators`, shell operators are refused
 * outright so no one can believe a pipe or a `$()` did something.
 */
export interface TokenizeOptions {
  /** Refuse ; | & > < ` $ outside quotes (the kubectl tool: one command, not a shell). */
  refuseOperators?: { message: (operator: string) => string };
  /** The sentence for an unterminated quote. */
  unterminated: (quote: string) => string;
}

const OPERATORS = ";|&><`$";

export function tokenize(line: string, options: TokenizeOptions): string[] {
  const refuse = (message: string): never => {
    throw new DeputyError("INPUT_INVALID", message);
  };
  const tokens: string[] = [];
  let current = "";
  let quote: '"' | "'" | undefined;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < line.length) current += line[++i];
      else current += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (started) tokens.push(current);
      current = "";
      started = false;
      continue;
    }
    if (options.refuseOperators && OPERATORS.includes(ch)) refuse(options.refuseOperators.message(ch));
    current += ch;
    started = true;
  }
  if (quote) refuse(options.unterminated(quote));
  if (started) tokens.push(current);
  return tokens;
}
