import { describe, expect, it } from "vitest";
import { clusterChoiceHelp, clusterNamedIn, unknownClusterHelp } from "../../core/config/cluster-choice.ts";

const known = ["prod-eu", "prod-us"];

describe("clusterNamedIn", () => {
  it("reads a leading 'in <cluster>,' when the cluster is served, and removes it", () => {
    expect(clusterNamedIn("in prod-eu, why is checkout failing?", known)).toEqual({
      kind: "named",
      cluster: "prod-eu",
      text: "why is checkout failing?",
    });
    expect(clusterNamedIn("On PROD-US: pods shop", known)).toEqual({
      kind: "named",
      cluster: "prod-us",
      text: "pods shop",
    });
    expect(clusterNamedIn("prod-eu: pods shop", known)).toMatchObject({ kind: "named", cluster: "prod-eu" });
  });

  it("leaves a leading word that is not a served cluster alone (a namespace, a greeting)", () => {
    expect(clusterNamedIn("in default, why is my pod failing?", known)).toEqual({
      kind: "none",
      text: "in default, why is my pod failing?",
    });
    expect(clusterNamedIn("hi: what is broken", known)).toMatchObject({ kind: "none" });
    expect(clusterNamedIn("why is prod-eu slow", known)).toMatchObject({ kind: "none" });
  });

  it("reports an explicitly named cluster that is not served instead of ignoring it", () => {
    expect(clusterNamedIn("in cluster prod-ap, why is checkout failing?", known)).toEqual({
      kind: "unknown",
      name: "prod-ap",
      text: "why is checkout failing?",
    });
    expect(clusterNamedIn("pods shop --cluster staging", known)).toEqual({
      kind: "unknown",
      name: "staging",
      text: "pods shop",
    });
    expect(clusterNamedIn("pods shop --cluster", known)).toMatchObject({ kind: "unknown", name: "" });
  });

  it("reads --cluster anywhere as a word of its own, in both spellings", () => {
    expect(clusterNamedIn("--cluster prod-us pods shop", known)).toEqual({
      kind: "named",
      cluster: "prod-us",
      text: "pods shop",
    });
    expect(clusterNamedIn("restart deployment/checkout --cluster=prod-eu -n shop", known)).toEqual({
      kind: "named",
      cluster: "prod-eu",
      text: "restart deployment/checkout -n shop",
    });
    // Part of another word: not a flag.
    expect(clusterNamedIn("logs shop/x --grep=--cluster", known)).toMatchObject({ kind: "none" });
  });

  it("reads 'in cluster X' with or without punctuation", () => {
    expect(clusterNamedIn("in cluster prod-us why is it slow", known)).toEqual({
      kind: "named",
      cluster: "prod-us",
      text: "why is it slow",
    });
  });
});

describe("clusterChoiceHelp", () => {
  it("lists the served clusters and both ways of naming one", () => {
    const text = clusterChoiceHelp(known, "I don't serve a cluster named `prod-ap`.");
    expect(text).toContain("`prod-eu`, `prod-us`");
    expect(text).toContain("in prod-eu, why");
    expect(text).toContain("--cluster prod-eu");
  });
});

describe("unknownClusterHelp", () => {
  it("names the cluster, at most 64 characters of it, and says when --cluster has no name", () => {
    expect(unknownClusterHelp(known, "prod-ap")).toMatch(
      /^Deputy does not serve a cluster named `prod-ap`, so nothing was run\. Clusters served here: `prod-eu`, `prod-us`\./,
    );
    expect(unknownClusterHelp(known, "x".repeat(500))).toContain(`\`${"x".repeat(64)}\`,`);
    expect(unknownClusterHelp(known, "")).toMatch(/^`--cluster` needs a cluster name; nothing was run\./);
  });
});
