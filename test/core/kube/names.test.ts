import { describe, expect, it } from "vitest";
import { objectName, labelSelector, namespaceName } from "../../../core/kube/names.ts";
import { formatCpu, formatMemory, parseQuantity } from "../../../core/kube/quantity.ts";

describe("name schemas", () => {
  it.each([
    ["a/b", /contains "\/"/],
    ["..", /contains "\.\."/],
    ["a..b", /contains "\.\."/],
    ["Upper", /not a valid Kubernetes name/],
    ["", /must not be empty/],
    ["x".repeat(300), /longer than 253/],
  ])("rejects pod name %j with a clear reason", (value, reason) => {
    const result = objectName("pod name").safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(reason);
  });

  it("accepts real names", () => {
    expect(objectName("pod").parse("checkout-7d9f8b6c5-x2x4q")).toBe("checkout-7d9f8b6c5-x2x4q");
    expect(namespaceName.parse("shop")).toBe("shop");
    expect(namespaceName.safeParse("a.b").success).toBe(false);
  });

  it.each([
    "app=checkout",
    "app in (a,b),tier!=cache",
    "!canary",
    "app.kubernetes.io/name=db",
    "env notin (dev)",
  ])("accepts selector %j", (s) => expect(labelSelector.safeParse(s).success).toBe(true));

  it.each(["app=(", "app in (a", "a b c", "=x"])("rejects selector %j naming it", (s) => {
    const result = labelSelector.safeParse(s);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain("label selector");
  });
});

describe("quantities", () => {
  it("parses CPU and memory", () => {
    expect(parseQuantity("250m")).toBe(0.25);
    expect(parseQuantity("2")).toBe(2);
    expect(parseQuantity("128Mi")).toBe(134217728);
    expect(parseQuantity("1G")).toBe(1e9);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(() => parseQuantity("lots")).toThrow(/not a Kubernetes quantity/);
    expect(formatMemory(134217728)).toBe("128Mi");
    expect(formatCpu(0.25)).toBe("250m");
  });
});
