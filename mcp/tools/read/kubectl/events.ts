import { delegate, type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import { getEvents } from "../get-events.ts";
import { type KubectlCommand } from "./parse.ts";

export async function events(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  let kind: string | undefined;
  let name: string | undefined;
  if (command.forObject) {
    const [type, objectName] = command.forObject.split("/");
    if (!type || !objectName)
      throw new DeputyError("INPUT_INVALID", `--for "${command.forObject}" must be TYPE/NAME`);
    kind = (await context.deps.kube.discovery.resolve(type, context.signal)).kind;
    name = objectName;
  }
  const type =
    command.types === undefined
      ? "all"
      : command.types === "Warning" || command.types === "Normal"
        ? command.types
        : undefined;
  if (type === undefined)
    throw new DeputyError("INPUT_INVALID", `--types "${command.types}" must be Warning or Normal`);
  return delegate(
    getEvents,
    {
      namespace: command.allNamespaces ? undefined : (command.namespace ?? "default"),
      kind,
      name,
      type,
      limit: Math.min(command.limit ?? 40, 200),
    },
    context,
  );
}
