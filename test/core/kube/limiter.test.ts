import { describe, expect, it } from "vitest";
import { createLimiter } from "../../../core/kube/limiter.ts";
import { createSingleFlight } from "../../../core/kube/single-flight.ts";

describe("createLimiter", () => {
  it("never runs more than max tasks at once and runs them all", async () => {
    const limiter = createLimiter(3);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          running += 1;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 2));
          running -= 1;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(limiter.active).toBe(0);
  });

  it("drops a waiter whose signal aborts, without leaking its slot", async () => {
    const limiter = createLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    expect(limiter.waiting).toBe(1);
    controller.abort(new Error("gave up"));
    await expect(waiting).rejects.toThrow("gave up");
    expect(limiter.waiting).toBe(0);
    release();
    expect(limiter.active).toBe(0);
  });

  it("refuses a nonsensical limit", () => {
    expect(() => createLimiter(0)).toThrow(/positive integer/);
  });
});

describe("createSingleFlight", () => {
  it("shares one execution between identical concurrent calls, then forgets it", async () => {
    const flights = createSingleFlight();
    let calls = 0;
    const task = async (): Promise<number> => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      return 42;
    };
    const all = Array.from({ length: 10 }, () => flights.do("k", task));
    expect(all.filter((f) => f.shared)).toHaveLength(9);
    expect(await Promise.all(all.map((f) => f.promise))).toEqual(Array(10).fill(42));
    expect(calls).toBe(1);
    expect(flights.size).toBe(0);
    await flights.do("k", task).promise;
    expect(calls).toBe(2);
  });
});
