import { describe, expect, it } from "vitest";
import { DEFAULT_PREVIEW_IDENTITY, parseConfig, serviceAccountOf } from "../../core/config/config.ts";

describe("the preview identity settings", () => {
  it("default to the shipped account, checked in its own namespace", () => {
    const config = parseConfig({});
    expect(config.kube.previewIdentity).toBe(DEFAULT_PREVIEW_IDENTITY);
    expect(config.kube.previewIdentity).toBe("system:serviceaccount:deputy-system:deputy-preview");
    expect(config.kube.previewProbeNamespace).toBe("deputy-system");
  });

  it("take another account and probe namespace", () => {
    const config = parseConfig({
      DEPUTY_PREVIEW_IDENTITY: "system:serviceaccount:platform:dry-runner",
      DEPUTY_PREVIEW_PROBE_NAMESPACE: "deputy-probe",
    });
    expect(config.kube.previewIdentity).toBe("system:serviceaccount:platform:dry-runner");
    expect(config.kube.previewProbeNamespace).toBe("deputy-probe");
    expect(
      parseConfig({ DEPUTY_PREVIEW_IDENTITY: "system:serviceaccount:platform:dry-runner" }).kube
        .previewProbeNamespace,
    ).toBe("platform");
  });

  it.each([
    "deputy-preview",
    "system:serviceaccount:deputy-system",
    "system:serviceaccount:deputy-system:deputy-preview:extra",
    "system:serviceaccount:Deputy:preview",
    "system:admin",
    "system:serviceaccount:*:deputy-preview",
  ])("refuses %s, which is not a service account's username", (identity) => {
    expect(() => parseConfig({ DEPUTY_PREVIEW_IDENTITY: identity })).toThrow(
      /DEPUTY_PREVIEW_IDENTITY: must be "system:serviceaccount:<namespace>:<name>"/,
    );
  });

  it("refuses a probe namespace that is not a namespace name", () => {
    expect(() => parseConfig({ DEPUTY_PREVIEW_PROBE_NAMESPACE: "Not A Namespace" })).toThrow(
      /DEPUTY_PREVIEW_PROBE_NAMESPACE/,
    );
  });

  it("splits a username into the account's namespace and name", () => {
    expect(serviceAccountOf("system:serviceaccount:deputy-system:deputy-preview")).toEqual({
      namespace: "deputy-system",
      name: "deputy-preview",
    });
    expect(() => serviceAccountOf("system:admin")).toThrow(/not a service account's username/);
  });
});
