import { describe, expect, it } from "vitest";
import { findForceSetting, noForce } from "../../../mcp/policy/no-force.ts";
import { writeInput } from "../../../mcp/tools/write/support/schema.ts";
import { writeTools } from "../../../mcp/tools/write/index.ts";
import { input } from "./support.ts";

describe("rule no-force", () => {
  it("refuses force and gracePeriodSeconds by name", () => {
    for (const key of ["force", "gracePeriodSeconds"]) {
      const verdict = noForce.evaluate(
        input({ arguments: { namespace: "shop", name: "web-1", [key]: key === "force" ? true : 0 } }),
      );
      expect(verdict.effect).toBe("deny");
      expect(verdict.effect === "deny" && verdict.message).toMatch(
        new RegExp(`^Refused by rule no-force: "${key}" is not accepted`),
      );
    }
  });

  it("refuses a pod template with terminationGracePeriodSeconds: 0 but not data that merely says force", () => {
    const manifest = {
      kind: "Deployment",
      spec: { template: { spec: { terminationGracePeriodSeconds: 0 } } },
    };
    expect(findForceSetting({ manifest })).toBe(
      "manifest.spec.template.spec.terminationGracePeriodSeconds: 0",
    );
    expect(findForceSetting({ manifest: { kind: "ConfigMap", data: { force: "true" } } })).toBeUndefined();
    expect(noForce.evaluate(input())).toEqual({ effect: "allow" });
  });

  it("is not in any write tool's schema, and a request naming it fails validation with the rule's sentence", () => {
    for (const tool of writeTools) {
      const shape = Object.keys(tool.inputSchema.shape);
      expect(shape).not.toContain("force");
      expect(shape).not.toContain("gracePeriodSeconds");
    }
    const schema = writeInput({});
    const result = schema.safeParse({ force: true });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/^Refused by rule no-force: "force"/);
    expect(schema.safeParse({ colour: "red" }).error?.issues[0]?.message).toBe(
      'unknown argument(s) "colour"',
    );
  });
});
