import { describe, expect, it } from "vitest";
import { backoffDelay, isRetryableStatus } from "../../../core/kube/retry.ts";

describe("backoffDelay", () => {
  const policy = { maxAttempts: 6, baseMs: 100, capMs: 1000 };

  it("draws from [0, min(cap, base·2^n)) — full jitter, capped", () => {
    expect(backoffDelay(1, policy, () => 0.999)).toBe(99);
    expect(backoffDelay(3, policy, () => 0.999)).toBe(399);
    expect(backoffDelay(10, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(10, policy, () => 0)).toBe(0);
  });

  it("honours Retry-After within the cap", () => {
    expect(backoffDelay(1, policy, () => 0, 0.5)).toBe(500);
    expect(backoffDelay(1, policy, () => 0, 30)).toBe(1000);
  });

  it("spreads concurrent clients out", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, policy)));
    expect(delays.size).toBeGreaterThan(20);
  });
});

describe("isRetryableStatus", () => {
  it("retries throttling and server errors only", () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 403, 404, 409, 410, 422].some(isRetryableStatus)).toBe(false);
  });
});
