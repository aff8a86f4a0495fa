import { pino, type Logger, type DestinationStream } from "pino";
import { redactText, redactValue } from "./redact.ts";

export type { Logger };

/**
 * Paths pino blanks in every log line. Tokens and secrets must never be logged
 * in the first place; this is the second fence, proven by tests that search
 * captured log output for minted tokens.
 */
export const REDACT_PATHS: readonly string[] = [
  "token",
  "*.token",
  "*.*.token",
  "clientToken",
  "*.clientToken",
  "*.client_token",
  "*.*.client_token",
  "service_account_token",
  "*.service_account_token",
  "*.*.service_account_token",
  "jwt",
  "*.jwt",
  "password",
  "*.password",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "*.headers.authorization",
  "*.headers.cookie",
  "*.headers['x-vault-token']",
  "botToken",
  "*.botToken",
  "appToken",
  "*.appToken",
  "signingSecret",
  "*.signingSecret",
  "apiKey",
  "*.apiKey",
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
  /**
   * Run every message and logged value through the secret redactor (default
   * true). Cluster text and error messages reach logs too, and a secret in
   * them has no key name for the paths above to catch. The audit trail turns
   * it off: it redacts each event itself before hashing it.
   */
  redactValues?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      name: options.name ?? "deputy",
      redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(options.redactValues === false
        ? {}
        : {
            formatters: { log: (object: Record<string, unknown>) => redactValue(object) },
            hooks: {
              logMethod(args: Parameters<Logger["info"]>, method: (...args: unknown[]) => void): void {
                method.apply(
                  this,
                  args.map((arg) => (typeof arg === "string" ? redactText(arg) : arg)),
                );
              },
            },
          }),
    },
    options.destination,
  );
}
