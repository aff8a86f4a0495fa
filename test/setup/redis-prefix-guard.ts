import { Redis } from "ioredis";
import { afterAll } from "vitest";

/**
 * Every test file keeps its Redis keys under its own prefix, so files running
 * side by side (and a developer's `npm start`) never read or clear each
 * other's state. Loaded into every test file (vitest setupFiles): a command
 * naming a key under the shared default prefix is refused, and the file
 * fails at the end even if the code under test swallowed the error.
 */
export const SHARED_PREFIX = "deputy:";

const GUARDED = Symbol.for("deputy.test.redisPrefixGuard");

interface GuardedCommand {
  name: string;
  args: unknown[];
  reject: (error: Error) => void;
  promise: Promise<unknown>;
}

type SendCommand = (this: Redis, command: GuardedCommand, stream?: unknown) => unknown;

export const sharedPrefixViolations: string[] = [];

/** The first argument of a command that names the shared prefix, if any. */
export function sharedPrefixArgument(args: readonly unknown[]): string | undefined {
  for (const arg of args) {
    const text = typeof arg === "string" ? arg : Buffer.isBuffer(arg) ? arg.toString("latin1") : undefined;
    if (text?.startsWith(SHARED_PREFIX)) return text;
  }
  return undefined;
}

export function installRedisPrefixGuard(): void {
  const proto = Redis.prototype as unknown as Record<symbol, boolean> & { sendCommand: SendCommand };
  if (proto[GUARDED]) return;
  const original = proto.sendCommand;
  proto.sendCommand = function guardedSendCommand(command, stream) {
    const key = sharedPrefixArgument(command.args);
    if (key !== undefined) {
      const message =
        `Redis ${command.name.toUpperCase()} ${key}: tests must use their own key prefix ` +
        `(DEPUTY_REDIS_PREFIX or a prefix option), never the shared "${SHARED_PREFIX}"`;
      sharedPrefixViolations.push(message);
      command.reject(new Error(message));
      return command.promise;
    }
    return original.call(this, command, stream);
  };
  proto[GUARDED] = true;
}

installRedisPrefixGuard();

afterAll(() => {
  if (sharedPrefixViolations.length > 0) {
    const unique = [...new Set(sharedPrefixViolations)];
    sharedPrefixViolations.length = 0;
    throw new Error(`this file used the shared Redis prefix:\n${unique.join("\n")}`);
  }
});
