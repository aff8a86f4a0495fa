import { describe, expect, it } from "vitest";
import { indirectWrite } from "../../../mcp/policy/indirect-write.ts";
import { input } from "./support.ts";

describe("rule indirect-write", () => {
  it("refuses under the finding's own rule id, in the refusal shape", () => {
    const verdict = indirectWrite.evaluate(
      input({
        objects: [
          {
            kind: "Service",
            workload: "Service shop/web",
            after: {
              metadata: { name: "web" },
              spec: { selector: { app: "web" }, externalIPs: ["10.0.0.1"] },
            },
          },
        ],
      }),
    );
    expect(verdict).toEqual({
      effect: "deny",
      message:
        "Refused by rule service-external-ips: Service shop/web sets externalIPs 10.0.0.1: every node would send traffic for those addresses to its pods, whoever owns them (CVE-2020-8554). Deputy never writes a Service with externalIPs; change it through Git.",
    });
    expect(
      indirectWrite.evaluate(
        input({
          objects: [
            {
              kind: "Ingress",
              workload: "Ingress shop/web",
              after: {
                metadata: { annotations: { "nginx.ingress.kubernetes.io/server-snippet": "location / {}" } },
              },
            },
          ],
        }),
      ),
    ).toMatchObject({
      effect: "deny",
      message: expect.stringMatching(/^Refused by rule ingress-snippet: Ingress shop\/web /),
    });
  });

  it("gathers the flags of every object", () => {
    const verdict = indirectWrite.evaluate(
      input({
        objects: [
          {
            kind: "Service",
            workload: "Service shop/web",
            after: { spec: { type: "NodePort", selector: { app: "web" } } },
          },
          {
            kind: "PodDisruptionBudget",
            workload: "PodDisruptionBudget shop/all",
            after: { spec: { maxUnavailable: 0, selector: {} } },
          },
        ],
      }),
    );
    expect(verdict.effect === "flag" && [verdict.flag].flat().map((flag) => flag.rule)).toEqual([
      "service-exposure",
      "pdb-blocks-evictions",
    ]);
  });

  it("allows what controllers do nothing unusual with, and inputs without objects", () => {
    expect(indirectWrite.evaluate(input())).toEqual({ effect: "allow" });
    expect(
      indirectWrite.evaluate(
        input({
          objects: [
            {
              kind: "ConfigMap",
              workload: "ConfigMap shop/app",
              after: { metadata: { name: "app" }, data: { a: "b" } },
            },
          ],
        }),
      ),
    ).toEqual({ effect: "allow" });
  });
});
