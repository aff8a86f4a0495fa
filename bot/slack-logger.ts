import { LogLevel, type Logger as BoltLogger } from "@slack/bolt";
import type { Logger } from "../core/observability/logger.ts";
import { redactValue } from "../core/untrusted/redact.ts";
import { redactSecrets } from "./sanitize.ts";

/**
 * Bolt and the Web API client log through our pino logger. Their messages are
 * free text (and can include request details), so each is redacted first.
 */
export function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: "slack-sdk" });
  let level: LogLevel = LogLevel.INFO;
  const text = (parts: unknown[]): string =>
    redactSecrets(parts.map((part) => (typeof part === "string" ? part : safeJson(part))).join(" "));
  return {
    debug: (...parts: unknown[]) => child.debug(text(parts)),
    info: (...parts: unknown[]) => child.info(text(parts)),
    warn: (...parts: unknown[]) => child.warn(text(parts)),
    error: (...parts: unknown[]) => child.error(text(parts)),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

function safeJson(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    // Values are redacted before serialising: in JSON text a tab or newline is an escape, and a
    // match could run past it.
    return JSON.stringify(redactValue(value));
  } catch {
    return String(value);
  }
}
