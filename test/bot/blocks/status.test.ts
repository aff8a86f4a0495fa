import { describe, expect, it } from "vitest";
import { statusBlocks, statusText } from "../../../bot/blocks/status.ts";

describe("status message", () => {
  it("sanitises the fallback text as well as the blocks", () => {
    const steps = [
      {
        tool: "check_logs",
        target: "shop/<!channel> see https://evil.zip <@U0EVIL>",
        state: "running" as const,
      },
    ];
    const fallback = statusText("Looking into it…", steps);
    expect(fallback).not.toContain("<");
    expect(fallback).not.toContain("https://");
    expect(fallback).toContain("evil[.]zip");
    expect(JSON.stringify(statusBlocks("Looking into it…", steps))).not.toContain("<!channel>");
  });
});
