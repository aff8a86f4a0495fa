import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { SIMULATION_MODES, renderLogTemplate } from "../../devenv/pod-simulator/index.ts";
import { desiredStatus, statusMatches } from "../../devenv/pod-simulator/pod-status.ts";

function pod(mode: string): V1Pod {
  return {
    metadata: { name: "p", namespace: "n", uid: "u-1", annotations: { "testenv.deputy.dev/simulate": mode } },
    spec: { nodeName: "node-a", containers: [{ name: "app", image: "registry/app:1" }] },
    status: {},
  };
}

describe("pod simulator: pod status", () => {
  it.each(SIMULATION_MODES)("the status it writes for %s is the status it then leaves alone", (mode) => {
    const patched = { ...pod(mode), status: desiredStatus(pod(mode), mode) as V1Pod["status"] };
    expect(statusMatches(pod(mode), mode)).toBe(false);
    expect(statusMatches(patched, mode)).toBe(true);
    for (const other of SIMULATION_MODES.filter((m) => m !== mode)) {
      expect(statusMatches(patched, other)).toBe(false);
    }
  });

  it("a crash loop keeps the restart count it reached", () => {
    const before = pod("crashloop");
    before.status = { containerStatuses: [{ name: "app", restartCount: 9 } as never] };
    const status = desiredStatus(before, "crashloop") as { containerStatuses: { restartCount: number }[] };
    expect(status.containerStatuses[0]!.restartCount).toBe(9);
  });
});

describe("pod simulator: log templates", () => {
  it("spreads {{ts}} one second apart ending now and fills the names", () => {
    const text = renderLogTemplate(
      "{{ts}} start {{namespace}}/{{pod}}/{{container}}\n{{ts:-60}} old\n",
      { namespace: "shop", pod: "web-1", container: "app" },
      Date.parse("2026-01-01T00:01:00.000Z"),
    );
    expect(text).toBe("2026-01-01T00:00:58.000Z start shop/web-1/app\n2026-01-01T00:00:00.000Z old\n");
  });
});
