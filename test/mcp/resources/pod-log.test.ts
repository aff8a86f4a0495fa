import { describe, expect, it } from "vitest";
import { boundLog, MAX_BYTES, MAX_LINES, parsePodLogUri, podLogUri } from "../../../mcp/resources/pod-log.ts";

describe("pod log resource", () => {
  it("round-trips its address and refuses anything else", () => {
    const ref = { namespace: "shop", pod: "checkout-7d9f", container: "app", previous: true };
    expect(parsePodLogUri(podLogUri(ref))).toEqual(ref);
    for (const bad of [
      "deputy://pod-log/shop/checkout",
      "deputy://pod-log/shop/../etc/app",
      "deputy://other/shop/p/c",
      "https://pod-log/shop/p/c",
      "deputy://pod-log/Shop/p/c",
    ]) {
      expect(() => parsePodLogUri(bad), bad).toThrow(/not a pod log address/);
    }
  });

  it("keeps the newest lines, says whether older ones were left out, and redacts", () => {
    const whole = boundLog(["a", "token=abcdefghijklmnop", "c"]);
    expect(whole.header).toContain("the whole log, 3 lines");
    expect(whole.text).not.toContain("abcdefghijklmnop");
    const cut = boundLog(Array.from({ length: MAX_LINES + 1 }, (_, i) => `line ${i}`));
    expect(cut.header).toContain("the last 50,000 lines (older lines left out)");
    expect(cut.text.startsWith("line 1\n")).toBe(true);
    // Long lines are held to the byte bound, newest first.
    const big = boundLog(Array.from({ length: 1200 }, (_, i) => `${i}:${"word ".repeat(400)}`));
    expect(big.header).toContain("older lines left out");
    expect(Buffer.byteLength(big.text)).toBeLessThanOrEqual(MAX_BYTES);
    expect(big.text.endsWith(`1199:${"word ".repeat(400)}`)).toBe(true);
  });
});
