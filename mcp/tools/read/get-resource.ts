import { z } from "zod";
import { stringify } from "yaml";
import { DeputyError } from "../../../core/errors.ts";
import { objectName } from "../../../core/kube/names.ts";
import type { KubeObject } from "../../../core/kube/types.ts";
import { redactValue } from "../../../core/untrusted/redact.ts";
import { defineTool } from "../../tool.ts";
import type { McpDeps } from "../../deps.ts";
import { optionalNamespaceArg } from "./support/args.ts";
import { createOutput } from "./support/output.ts";
import { namespacePolicy, notFound } from "./support/scope.ts";

/** Secrets are never read: not by RBAC (deputy-reader has no access) and not by this check before any call. */
export function isSecretKind(kind: string): boolean {
  const k = kind.trim().toLowerCase();
  return k === "secret" || k === "secrets" || k.startsWith("secret.") || k.startsWith("secrets.");
}

export function secretRefusal(): DeputyError {
  return new DeputyError(
    "POLICY_DENIED",
    "Secrets are never read by Deputy: their values must not reach a model or a chat. Pods and describe_pod show which Secret and key an env var references.",
    { details: { rule: "no-secrets" } },
  );
}

/** An object as YAML for people: no managedFields, no last-applied blob, secrets redacted. */
export function objectYaml(object: KubeObject): string {
  const copy = structuredClone(object);
  if (copy.metadata) {
    delete copy.metadata.managedFields;
    if (copy.metadata.annotations) {
      delete copy.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"];
    }
  }
  return stringify(redactValue(copy), { lineWidth: 0 });
}

const inputSchema = z.object({
  kind: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z][A-Za-z0-9.-]*$/, {
      message: "kind must be a resource type such as Pod, deployments, svc or pdb",
    })
    .describe("as kubectl accepts it: svc, configmap, pdb, statefulsets.apps…"),
  name: objectName("name"),
  namespace: optionalNamespaceArg.describe("for namespaced kinds"),
});

export const getResource = defineTool<McpDeps, typeof inputSchema.shape>({
  name: "get_resource",
  title: "Get any resource",
  description:
    "One object of any other kind (Service, ConfigMap, PDB, StatefulSet, Job…) as YAML. Secrets are refused.",
  inputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(args, { deps, signal }) {
    if (isSecretKind(args.kind)) throw secretRefusal();
    const resource = await deps.kube.discovery.resolve(args.kind, signal);
    if (resource.resource === "secrets" && resource.group === "") throw secretRefusal();
    if (resource.namespaced && !args.namespace) {
      throw new DeputyError(
        "INPUT_INVALID",
        `${resource.kind} is namespaced: pass the namespace of "${args.name}"`,
      );
    }
    if (resource.namespaced && args.namespace) namespacePolicy(deps).assert(args.namespace);
    if (!resource.namespaced && resource.kind === "Namespace") namespacePolicy(deps).assert(args.name);
    const path = deps.kube.discovery.path(resource, args.namespace, args.name);
    const object = await deps.kube
      .get<KubeObject>(path, undefined, signal)
      .catch((error: unknown) =>
        resource.namespaced
          ? notFound(
              deps,
              error,
              { kind: resource.kind, namespace: args.namespace!, name: args.name },
              signal,
            )
          : Promise.reject(
              error instanceof DeputyError && error.code === "NOT_FOUND"
                ? new DeputyError("NOT_FOUND", `${resource.kind} "${args.name}" not found`)
                : error,
            ),
      );
    const where = resource.namespaced ? `${args.namespace}/${args.name}` : args.name;
    const out = createOutput(deps.config.kube.outputTokenBudget);
    out.line(`${resource.kind} ${where} (${resource.group ? `${resource.group}/` : ""}${resource.version}):`);
    out.data(`${resource.kind.toLowerCase()} ${where}`, objectYaml(object));
    return out.result({
      kind: resource.kind,
      apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
      namespace: args.namespace ?? null,
      name: args.name,
      uid: object.metadata?.uid,
      resourceVersion: object.metadata?.resourceVersion,
    });
  },
});
