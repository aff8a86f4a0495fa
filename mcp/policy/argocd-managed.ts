import type { KubeObject } from "../../core/kube/types.ts";
import { allow, refusal, type SyncPolicyRule } from "./types.ts";

/**
 * Argo CD owns the desired state of the objects it manages: a live change is
 * reverted on the next sync, or worse, silently drifts. Deputy refuses it and
 * offers `propose_git_change`, which returns the diff to commit instead.
 */
export const ARGOCD_RULE = "argocd-managed";

const TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id";
const INSTANCE_LABEL = "argocd.argoproj.io/instance";
const STANDARD_INSTANCE_LABEL = "app.kubernetes.io/instance";

/** The Argo CD application managing an object, or undefined when Argo CD does not manage it. */
export function argoCdApplication(object: KubeObject | undefined): string | undefined {
  const meta = object?.metadata;
  if (!meta) return undefined;
  const tracking = meta.annotations?.[TRACKING_ANNOTATION];
  if (tracking) return tracking.split(":")[0] || meta.labels?.[STANDARD_INSTANCE_LABEL] || "unknown";
  const instance = meta.labels?.[INSTANCE_LABEL];
  if (instance) return instance;
  const owner = meta.ownerReferences?.find(
    (ref) =>
      ref.kind === "Application" &&
      String((ref as { apiVersion?: string }).apiVersion ?? "").startsWith("argoproj.io/"),
  );
  return owner?.name;
}

export const argocdManaged: SyncPolicyRule = {
  id: ARGOCD_RULE,
  evaluate(input) {
    const application = argoCdApplication(input.target.object);
    if (!application) return allow;
    const where = input.target.namespace ? `${input.target.namespace}/` : "";
    return {
      effect: "deny",
      offer: "propose_git_change",
      message: refusal(
        ARGOCD_RULE,
        `${input.target.kind} ${where}${input.target.name} is managed by Argo CD (application "${application}"), so a live change would be reverted on the next sync. Use propose_git_change to get the change as a diff to commit to Git.`,
      ),
    };
  },
};
