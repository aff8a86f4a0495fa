import { pino, type Logger, type DestinationStream } from "pino";

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
  // Deputy's HMAC keys (core/keys.ts) and the signed assertions made with them.
  "keys",
  "*.keys",
  "*.headers['x-deputy-assertion']",
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      name: options.name ?? "deputy",
      redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
