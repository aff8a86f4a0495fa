import { describe, expect, it } from "vitest";
import { podSpecRisk } from "../../../mcp/policy/pod-spec-risk.ts";
import type { RiskFlag } from "../../../core/actions/schema.ts";
import { input } from "./support.ts";

type Json = Record<string, unknown>;

const rule = podSpecRisk({ allowedRegistries: ["registry.example.com/team"], allowedCapabilities: [] });

function rules(verdict: ReturnType<typeof rule.evaluate>): Record<string, string> {
  if (verdict.effect !== "flag") return {};
  return Object.fromEntries(([verdict.flag].flat() as RiskFlag[]).map((flag) => [flag.rule, flag.message]));
}

function deployment(spec: Json, annotations: Json = {}): Json {
  return {
    metadata: { name: "web", namespace: "shop" },
    spec: { template: { metadata: { annotations }, spec } },
  };
}

describe("rule pod-spec-risk", () => {
  const hardened = {
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    containers: [
      {
        name: "app",
        image: "registry.example.com/team/web:2",
        resources: { limits: { memory: "256Mi" } },
        securityContext: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
      },
    ],
  };

  it("names the hardening a rollback's result strips, from whole objects", () => {
    const result = deployment({ containers: [{ name: "app", image: "registry.example.com/team/web:1" }] });
    const byRule = rules(
      rule.evaluate(
        input({
          objects: [
            {
              kind: "Deployment",
              workload: "Deployment shop/web",
              before: deployment(hardened),
              after: result,
            },
          ],
        }),
      ),
    );
    expect(Object.keys(byRule)).toEqual(["hardening-removed"]);
    expect(byRule["hardening-removed"]).toBe(
      "Deployment shop/web removes hardening: pod loses automountServiceAccountToken: false; container app loses runAsNonRoot: true, seccompProfile RuntimeDefault, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities.drop ALL, limits.memory: 256Mi.",
    );
  });

  it("reads the legacy AppArmor annotation from the result's pod template", () => {
    const after = deployment(hardened, {
      "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
    });
    const byRule = rules(
      rule.evaluate(
        input({
          objects: [
            { kind: "Deployment", workload: "Deployment shop/web", before: deployment(hardened), after },
          ],
        }),
      ),
    );
    expect(byRule).toEqual({
      "sandbox-opt-out":
        "Deployment shop/web steps out of the pod sandbox: annotation container.apparmor.security.beta.kubernetes.io/app: unconfined turns AppArmor off for container app.",
    });
  });

  it("keeps reading podTemplates, and flags nothing for an unchanged result", () => {
    const byRule = rules(
      rule.evaluate(
        input({
          podTemplates: [
            {
              workload: "Deployment shop/web",
              kind: "Deployment",
              after: { containers: [{ name: "app", image: "registry.example.com/teamevil/web:1" }] },
            },
          ],
        }),
      ),
    );
    expect(byRule["image-registry"]).toContain(
      "registry.example.com/teamevil/web:1, outside the allowed registries",
    );
    expect(
      rule.evaluate(
        input({
          objects: [
            {
              kind: "Deployment",
              workload: "Deployment shop/web",
              before: deployment(hardened),
              after: deployment(hardened),
            },
          ],
        }),
      ),
    ).toEqual({ effect: "allow" });
  });
});
