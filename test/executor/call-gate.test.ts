import { describe, expect, it } from "vitest";
import { createCallGate } from "../../executor/call-gate.ts";

describe("OpenBao call gate", () => {
  it("keeps at most N calls in flight and lets revocations jump the queue", async () => {
    const gate = createCallGate(2);
    let inFlight = 0;
    let peak = 0;
    const order: string[] = [];
    const release: (() => void)[] = [];
    const call = (name: string) => () =>
      new Promise<string>((resolve) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        order.push(name);
        release.push(() => {
          inFlight--;
          resolve(name);
        });
      });
    const runs = [
      gate.run("normal", call("mint-1")),
      gate.run("normal", call("mint-2")),
      gate.run("normal", call("mint-3")),
      gate.run("high", call("revoke-1")),
    ];
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual(["mint-1", "mint-2"]);
    expect(gate.waiting).toBe(2);
    while (release.length > 0 || order.length < 4) {
      release.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    while (release.length > 0) release.shift()?.();
    expect(await Promise.all(runs)).toEqual(["mint-1", "mint-2", "mint-3", "revoke-1"]);
    expect(order).toEqual(["mint-1", "mint-2", "revoke-1", "mint-3"]);
    expect(peak).toBe(2);
  });

  it("frees the slot when a call fails", async () => {
    const gate = createCallGate(1);
    await expect(gate.run("normal", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run("normal", () => Promise.resolve("ok"))).toBe("ok");
  });
});
