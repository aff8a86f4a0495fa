import { DeputyError } from "../core/errors.ts";

/** The value after `--name`, if the flag is given; a flag with no value is a usage error. */
export function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index < 0) return undefined;
  const value = args[index + 1];
  if (value === undefined || value.startsWith("--"))
    throw new DeputyError("INPUT_INVALID", `${name} needs a value`);
  return value;
}

/** `--port N` when given (0 to 65535), otherwise the configured port. */
export function portOption(args: string[], configured: number): number {
  const portText = option(args, "--port");
  const port = portText === undefined ? configured : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new DeputyError("INPUT_INVALID", `--port "${portText}" is not a port number`);
  }
  return port;
}
