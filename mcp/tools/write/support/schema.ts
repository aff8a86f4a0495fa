import { z } from "zod";
import { forceRefusal, FORBIDDEN_ARGUMENTS } from "../../../policy/no-force.ts";

/**
 * Write tool inputs are strict objects: an argument the schema does not name
 * is refused, never silently dropped. `force` and `gracePeriodSeconds` are in
 * no schema, so asking for them is refused with the no-force rule's sentence.
 */
export function writeInput<Shape extends z.ZodRawShape>(shape: Shape): z.ZodObject<Shape, z.core.$strict> {
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== "unrecognized_keys") return undefined;
      const forbidden = issue.keys.find((key) => FORBIDDEN_ARGUMENTS.includes(key));
      if (forbidden) return forceRefusal(forbidden);
      return `unknown argument(s) ${issue.keys.map((key) => `"${key}"`).join(", ")}`;
    },
  });
}
