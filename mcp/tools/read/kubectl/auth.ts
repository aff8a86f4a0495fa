import { type Ctx } from "./shared.ts";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { DeputyError } from "../../../../core/errors.ts";
import { createOutput } from "../support/output.ts";
import { type KubectlCommand } from "./parse.ts";

export async function auth(command: KubectlCommand, context: Ctx): Promise<CallToolResult> {
  const { deps, signal } = context;
  const out = createOutput(deps.config.kube.outputTokenBudget);
  if (command.sub === "whoami") {
    const review = await deps.kube.request<{
      status?: { userInfo?: { username?: string; groups?: string[] } };
    }>("/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      method: "POST",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      signal,
    });
    out.line(
      `Deputy's read identity: ${review.status?.userInfo?.username ?? "?"} (groups: ${(review.status?.userInfo?.groups ?? []).join(", ")}).`,
    );
    return out.result({ command: "auth whoami", username: review.status?.userInfo?.username });
  }
  if (command.sub !== "can-i") throw new DeputyError("INPUT_INVALID", "auth supports can-i and whoami");
  const [verb, target] = command.args;
  if (!verb || !target)
    throw new DeputyError(
      "INPUT_INVALID",
      "auth can-i needs VERB and RESOURCE, e.g. auth can-i delete pods -n shop",
    );
  const [type, name] = target.split("/");
  const resource = await context.deps.kube.discovery.resolve(type!, signal);
  const namespace =
    resource.namespaced && !command.allNamespaces ? (command.namespace ?? "default") : undefined;
  const review = await deps.kube.request<{ status?: { allowed?: boolean; reason?: string } }>(
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    {
      method: "POST",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: {
          resourceAttributes: { verb, group: resource.group, resource: resource.resource, name, namespace },
        },
      },
      signal,
    },
  );
  const allowed = review.status?.allowed === true;
  out.line(
    `${allowed ? "yes" : "no"} — Deputy's read identity ${allowed ? "may" : "may not"} ${verb} ${resource.resource}${name ? `/${name}` : ""}${namespace ? ` in namespace ${namespace}` : ""}.${allowed ? "" : " Cluster changes go through write tools and human approval, with a separate just-in-time credential."}`,
  );
  return out.result({
    command: "auth can-i",
    allowed,
    verb,
    resource: resource.resource,
    namespace: namespace ?? null,
  });
}
