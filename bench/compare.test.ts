import { describe, expect, it } from "vitest";
import { comparisonLines, interleaved, spreadOf } from "./compare.ts";

describe("bench comparisons", () => {
  it("runs each side at least three times, interleaved in alternating order", async () => {
    const calls: string[] = [];
    const samples = await interleaved({
      a: async () => (calls.push("a"), { ms: calls.length }),
      b: async () => (calls.push("b"), { ms: calls.length }),
    });
    expect(calls).toEqual(["a", "b", "b", "a", "a", "b"]);
    expect(samples.a.map((s) => s.ms)).toEqual([1, 4, 5]);
    await expect(interleaved({ a: async () => ({}) }, 2)).rejects.toThrow(/at least 3 rounds/);
  });

  it("prints the median beside its spread for every side", () => {
    expect(spreadOf([30, 10, 20, 40])).toEqual({ median: 25, min: 10, max: 40, runs: 4 });
    const lines = comparisonLines(
      {
        shared: [{ logins: 1 }, { logins: 1 }, { logins: 2 }],
        each: [{ logins: 50 }, { logins: 50 }, { logins: 50 }],
      },
      { shared: "shared login", each: "login per approval" },
      [{ key: "logins", name: "OpenBao logins", unit: "calls" }],
    );
    expect(lines).toEqual([
      { name: "OpenBao logins, shared login", value: 1, unit: "calls (median; 1–2 over 3 interleaved runs)" },
      {
        name: "OpenBao logins, login per approval",
        value: 50,
        unit: "calls (median; 50–50 over 3 interleaved runs)",
      },
    ]);
  });
});
