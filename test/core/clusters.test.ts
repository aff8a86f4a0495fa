import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { clusterKeyPrefix, defaultClusterFor } from "../../core/config/clusters.ts";
import { parseConfig } from "../../core/config/config.ts";

const prodEu = {
  name: "prod-eu",
  mcpUrl: "https://mcp.prod-eu.internal/mcp",
  executorUrl: "https://executor.prod-eu.internal",
  channels: ["C0EU"],
};
const staging = {
  name: "staging",
  mcpUrl: "http://mcp.staging.internal:8080/mcp",
  executorUrl: "http://executor.staging.internal:8081",
};

function clustersOf(value: unknown): ReturnType<typeof parseConfig>["clusters"] {
  return parseConfig({ DEPUTY_CLUSTERS: JSON.stringify(value) }).clusters;
}

describe("DEPUTY_CLUSTERS", () => {
  it("without it, serves exactly today's single cluster", () => {
    expect(parseConfig({}).clusters).toEqual([
      { name: "local", mcpUrl: undefined, executorUrl: undefined, channels: [] },
    ]);
    expect(
      parseConfig({
        DEPUTY_CLUSTER_NAME: "production",
        DEPUTY_MCP_URL: "http://mcp:8080/mcp",
        DEPUTY_EXECUTOR_URL: "http://executor:8081",
      }).clusters,
    ).toEqual([
      {
        name: "production",
        mcpUrl: "http://mcp:8080/mcp",
        executorUrl: "http://executor:8081",
        channels: [],
      },
    ]);
  });

  it("reads a JSON list, with channels defaulting to none", () => {
    expect(clustersOf([prodEu, staging])).toEqual([prodEu, { ...staging, channels: [] }]);
  });

  it("reads a JSON or YAML file named by path", () => {
    const dir = mkdtempSync(join(tmpdir(), "deputy-clusters-"));
    const yamlPath = join(dir, "clusters.yaml");
    writeFileSync(
      yamlPath,
      [
        "- name: prod-eu",
        "  mcpUrl: https://mcp.prod-eu.internal/mcp",
        "  executorUrl: https://executor.prod-eu.internal",
        "  channels: [C0EU]",
        "- name: staging",
        "  mcpUrl: http://mcp.staging.internal:8080/mcp",
        "  executorUrl: http://executor.staging.internal:8081",
      ].join("\n"),
    );
    expect(parseConfig({ DEPUTY_CLUSTERS: yamlPath }).clusters).toEqual([
      prodEu,
      { ...staging, channels: [] },
    ]);
    const jsonPath = join(dir, "clusters.json");
    writeFileSync(jsonPath, JSON.stringify([prodEu]));
    expect(parseConfig({ DEPUTY_CLUSTERS: jsonPath }).clusters).toEqual([prodEu]);
  });

  it("refuses a cluster named twice", () => {
    expect(() => clustersOf([prodEu, { ...staging, name: "prod-eu" }])).toThrow(
      "DEPUTY_CLUSTERS names cluster prod-eu twice",
    );
  });

  it("refuses a channel defaulting to two clusters", () => {
    expect(() => clustersOf([prodEu, { ...staging, channels: ["C0EU"] }])).toThrow(
      "channel C0EU defaults to both prod-eu and staging",
    );
  });

  it("refuses bad URLs and names that are not DNS labels", () => {
    expect(() => clustersOf([{ ...prodEu, mcpUrl: "not a url" }])).toThrow(/\[0\.mcpUrl\]/);
    expect(() => clustersOf([{ ...prodEu, executorUrl: "ftp://executor" }])).toThrow(
      /\[0\.executorUrl\].*http/,
    );
    expect(() => clustersOf([{ ...prodEu, name: "Prod_EU" }])).toThrow(/\[0\.name\] must be a DNS label/);
    expect(() => clustersOf([{ ...prodEu, name: "-eu" }])).toThrow(/DNS label/);
    expect(() => clustersOf([{ ...prodEu, name: "a".repeat(64) }])).toThrow(/DNS label/);
    expect(() => clustersOf([{ ...prodEu, extra: 1 }])).toThrow(/extra/);
    expect(() => clustersOf([])).toThrow(/lists no cluster/);
  });

  it("says what is wrong with text that is neither JSON nor a file", () => {
    expect(() => parseConfig({ DEPUTY_CLUSTERS: "[{" })).toThrow(/DEPUTY_CLUSTERS is not valid JSON/);
    expect(() => parseConfig({ DEPUTY_CLUSTERS: "/no/such/clusters.yaml" })).toThrow(
      /neither a JSON list nor a readable file/,
    );
  });

  it("finds a channel's default cluster, or the only one", () => {
    const clusters = clustersOf([prodEu, staging]);
    expect(defaultClusterFor(clusters, "C0EU")?.name).toBe("prod-eu");
    expect(defaultClusterFor(clusters, "C0OTHER")).toBeUndefined();
    expect(defaultClusterFor(parseConfig({}).clusters, "C0OTHER")?.name).toBe("local");
  });

  it("keys each cluster's shared state apart", () => {
    expect(clusterKeyPrefix("test-prefix:", "prod-eu")).not.toBe(clusterKeyPrefix("test-prefix:", "staging"));
  });
});
