import { z } from "zod";

/**
 * Argument schemas for Kubernetes names, shared by read and write tools. They
 * reject anything that could change the meaning of an API path ("/", "..",
 * "%", whitespace) with a sentence naming the problem.
 */

function nameProblem(value: string, what: string, max: number, label: boolean): string | undefined {
  if (value.length === 0) return `${what} must not be empty`;
  if (value.includes("/"))
    return `${what} "${value}" contains "/", which is not allowed in a Kubernetes name`;
  if (value.includes(".."))
    return `${what} "${value}" contains "..", which is not allowed in a Kubernetes name`;
  if (value.length > max) return `${what} "${value.slice(0, 40)}…" is longer than ${max} characters`;
  const pattern = label
    ? /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
    : /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  if (!pattern.test(value)) {
    return `${what} "${value}" is not a valid Kubernetes name (lower-case letters, digits${label ? " and '-'" : ", '-' and '.'"}, starting and ending with a letter or digit)`;
  }
  return undefined;
}

function nameSchema(what: string, max: number, label: boolean) {
  return z.string().superRefine((value, ctx) => {
    const problem = nameProblem(value, what, max, label);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}

/** A namespace name (DNS-1123 label). */
export const namespaceName = nameSchema("namespace", 63, true).describe("Kubernetes namespace");
/** An object name such as a pod, deployment or node (DNS-1123 subdomain). */
export const objectName = (what = "name") => nameSchema(what, 253, false);
/** A container name (DNS-1123 label). */
export const containerName = nameSchema("container", 63, true).describe("container name");

export function validateName(value: string, what: string): string | undefined {
  return nameProblem(value, what, 253, false);
}

/** A label selector checked for obviously bad syntax before it reaches the API server. */
export const labelSelector = z
  .string()
  .max(1024)
  .superRefine((value, ctx) => {
    const problem = selectorProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .describe("label selector, e.g. app=checkout,tier!=cache or 'env in (prod,staging)'");

const SELECTOR_REQUIREMENT =
  /^\s*(!?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?|[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?\s*(=|==|!=)\s*([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?|[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?\s+(in|notin)\s+\(\s*[-A-Za-z0-9_.,\s]*\))\s*$/;

export function selectorProblem(selector: string): string | undefined {
  if (selector.trim() === "") return undefined;
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth += 1;
    if (ch === ")") depth -= 1;
    if (depth < 0) return `label selector "${selector}" has an unmatched ")"`;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  if (depth !== 0) return `label selector "${selector}" has an unmatched "("`;
  parts.push(current);
  for (const part of parts) {
    if (!SELECTOR_REQUIREMENT.test(part)) {
      return `label selector "${selector}" is invalid near "${part.trim()}" (expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b))`;
    }
  }
  return undefined;
}
