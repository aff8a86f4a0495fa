import { describe, expect, it } from "vitest";
import { jitteredBackoff, withRetry } from "../../core/backoff.ts";

describe("jitteredBackoff", () => {
  const step = { baseMs: 100, capMs: 1000 };

  it("full jitter waits anywhere under the doubling step, capped, in whole milliseconds", () => {
    expect(jitteredBackoff(1, step, () => 0.999)).toBe(99);
    expect(jitteredBackoff(3, step, () => 0.999)).toBe(399);
    expect(jitteredBackoff(10, step, () => 0.999)).toBe(999);
    expect(jitteredBackoff(2, step, () => 0)).toBe(0);
  });

  it("equal jitter waits at least half the step", () => {
    expect(jitteredBackoff(1, { ...step, jitter: "equal" }, () => 0)).toBe(50);
    expect(jitteredBackoff(3, { ...step, jitter: "equal" }, () => 1)).toBe(400);
    expect(jitteredBackoff(10, { ...step, jitter: "equal" }, () => 0)).toBe(500);
  });
});

describe("withRetry", () => {
  it("retries what is retryable, with the shared backoff, until attempts run out", async () => {
    const delays: number[] = [];
    let calls = 0;
    const failing = withRetry(
      () => {
        calls += 1;
        return Promise.reject(new Error("busy"));
      },
      {
        attempts: 3,
        baseMs: 4,
        capMs: 100,
        retryable: () => true,
        random: () => 0.5,
        onRetry: (_error, _attempt, delayMs) => delays.push(delayMs),
      },
    );
    await expect(failing).rejects.toThrow("busy");
    expect(calls).toBe(3);
    expect(delays).toEqual([2, 4]);
  });

  it("stops at once on an error that is not retryable", async () => {
    let calls = 0;
    const failing = withRetry(
      () => {
        calls += 1;
        return Promise.reject(new Error("final"));
      },
      { attempts: 5, baseMs: 1, capMs: 1, retryable: () => false },
    );
    await expect(failing).rejects.toThrow("final");
    expect(calls).toBe(1);
  });
});
