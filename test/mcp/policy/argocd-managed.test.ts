import { describe, expect, it } from "vitest";
import { ARGOCD_RULE, argoCdApplication, argocdManaged } from "../../../mcp/policy/argocd-managed.ts";
import { input } from "./support.ts";

describe("rule argocd-managed", () => {
  const target = (metadata: Record<string, unknown>) =>
    input({
      tool: "scale_deployment",
      target: { kind: "Deployment", namespace: "shop", name: "catalog", object: { metadata } },
    });

  it("refuses an object carrying Argo CD's tracking annotation and offers propose_git_change", () => {
    const verdict = argocdManaged.evaluate(
      target({
        labels: { "app.kubernetes.io/instance": "catalog" },
        annotations: { "argocd.argoproj.io/tracking-id": "catalog:apps/Deployment:shop/catalog" },
      }),
    );
    expect(verdict).toMatchObject({ effect: "deny", offer: "propose_git_change" });
    expect(verdict.effect === "deny" && verdict.message).toMatch(
      /^Refused by rule argocd-managed: Deployment shop\/catalog is managed by Argo CD \(application "catalog"\).*propose_git_change/,
    );
  });

  it("recognises the instance label and an Application owner", () => {
    expect(argoCdApplication({ metadata: { labels: { "argocd.argoproj.io/instance": "shop-apps" } } })).toBe(
      "shop-apps",
    );
    expect(
      argoCdApplication({
        metadata: {
          ownerReferences: [
            { apiVersion: "argoproj.io/v1alpha1", kind: "Application", name: "shop", uid: "u" } as never,
          ],
        },
      }),
    ).toBe("shop");
  });

  it("allows objects Argo CD does not manage, including a bare app.kubernetes.io/instance label (Helm sets it too)", () => {
    expect(argocdManaged.evaluate(target({ labels: { "app.kubernetes.io/instance": "frontend" } }))).toEqual({
      effect: "allow",
    });
    expect(argocdManaged.evaluate(input())).toEqual({ effect: "allow" });
    expect(ARGOCD_RULE).toBe("argocd-managed");
  });
});
