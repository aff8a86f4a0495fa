import { describe, expect, it } from "vitest";
import { DeputyError } from "../../core/errors.ts";
import { KubeApiError } from "../../core/kube/errors.ts";
import { isAmbiguousWriteFailure, showsPatch } from "../../executor/kube-writer.ts";

/** What counts as a lost answer, and what counts as a change being in place when read back. */
describe("kube writer: a lost answer and its read-back", () => {
  const network = (code: string): DeputyError =>
    new DeputyError("UPSTREAM_FAILED", "network", {
      cause: Object.assign(new Error(code), { code }),
      details: { network: true },
    });

  it("takes a 5xx, a timeout or a reset after sending as unknown, and a refusal or an unsent request as an answer", () => {
    expect(isAmbiguousWriteFailure("PATCH", new KubeApiError("PATCH", "/x", 500, undefined, ""))).toBe(true);
    expect(isAmbiguousWriteFailure("POST", new KubeApiError("POST", "/x", 504, undefined, ""))).toBe(true);
    expect(isAmbiguousWriteFailure("PATCH", network("ETIMEDOUT"))).toBe(true);
    expect(isAmbiguousWriteFailure("PATCH", network("ECONNRESET"))).toBe(true);
    expect(isAmbiguousWriteFailure("PATCH", network("ECONNREFUSED"))).toBe(false);
    expect(isAmbiguousWriteFailure("PATCH", new KubeApiError("PATCH", "/x", 409, undefined, ""))).toBe(false);
    expect(isAmbiguousWriteFailure("PATCH", new KubeApiError("PATCH", "/x", 403, undefined, ""))).toBe(false);
    expect(isAmbiguousWriteFailure("GET", new KubeApiError("GET", "/x", 500, undefined, ""))).toBe(false);
  });

  it("finds a merge or strategic patch in the object read back, preconditions aside", () => {
    const live = {
      metadata: { uid: "u1", resourceVersion: "12", annotations: { a: "1" } },
      spec: {
        replicas: 3,
        template: {
          spec: { containers: [{ name: "app", image: "img:2", env: [{ name: "X", value: "1" }] }] },
        },
      },
    };
    const patch = (spec: unknown): unknown => ({ metadata: { uid: "u1", resourceVersion: "11" }, spec });
    expect(showsPatch(live, patch({ replicas: 3 }))).toBe(true);
    expect(showsPatch(live, patch({ replicas: 4 }))).toBe(false);
    expect(
      showsPatch(live, patch({ template: { spec: { containers: [{ name: "app", image: "img:2" }] } } })),
    ).toBe(true);
    expect(
      showsPatch(live, patch({ template: { spec: { containers: [{ name: "app", image: "img:3" }] } } })),
    ).toBe(false);
    expect(showsPatch(live, patch({ paused: null }))).toBe(true);
    expect(showsPatch(live, patch({ replicas: null }))).toBe(false);
    expect(showsPatch(live, { metadata: { uid: "other" } })).toBe(false);
  });
});
