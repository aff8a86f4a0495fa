import { pino, type Logger, type DestinationStream } from "pino";
import { isSensitiveKey, REDACTED, redactArgs, redactCommandLine, redactText } from "../untrusted/redact.ts";
import { currentTraceId } from "./tracing.ts";

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
  // Deputy's HMAC keys (core/identity/keys.ts) and the signed assertions made with them.
  "keys",
  "*.keys",
  "*.headers['x-deputy-assertion']",
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

/**
 * A logged value with secrets redacted: strings scanned, values under secret
 * keys blanked, errors kept as errors (message and stack redacted) so pino's
 * error serializer still shows them; other objects (dates, buffers) pass.
 */
function redactLogValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return redactText(value);
  if (depth > 16 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    // An argv (`["-password", "X"]`): the element after a secret-named flag goes whole.
    if (value.every((item) => typeof item === "string")) return redactArgs(value as string[]);
    return value.map((item) => redactLogValue(item, depth + 1));
  }
  if (value instanceof Error) {
    // Same prototype, so the serializer still reports TypeError, KubeApiError…
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error;
    copy.message = redactText(value.message);
    if (value.stack !== undefined) copy.stack = redactText(value.stack);
    for (const [key, item] of Object.entries(value)) {
      (copy as unknown as Record<string, unknown>)[key] = redactLogValue(item, depth + 1);
    }
    if (value.cause !== undefined) copy.cause = redactLogValue(value.cause, depth + 1);
    return copy;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      typeof item === "string" && item.length > 0 && isSensitiveKey(key)
        ? REDACTED
        : redactLogValue(item, depth + 1);
  }
  return redactCommandLine(value as Record<string, unknown>, out);
}

// pino merges the line's fields into what this returns: a fresh object each time.
function traceMixin(): Record<string, string> {
  const traceId = currentTraceId();
  return traceId === undefined ? {} : { traceId };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      name: options.name ?? "deputy",
      redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Every line written inside a traced request names its trace (nothing while tracing is off).
      mixin: traceMixin,
      ...(options.redactValues === false
        ? {}
        : {
            formatters: {
              log: (object: Record<string, unknown>) => redactLogValue(object, 0) as Record<string, unknown>,
            },
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
