import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OUTSIDE_THE_SCHEMA_NAMES } from "../../cli/config-reference.ts";
import { CONFIG_ENV_KEYS, parseConfig } from "../../core/config/config.ts";
import { renderKustomization, type KubeObject } from "./kustomize.ts";

/**
 * The environment the shipped manifests give Deputy's containers names only
 * settings core/config/config.ts reads: a misspelt or retired name in a ConfigMap
 * would be silently ignored and leave a default in force.
 */

const MANIFESTS = join(import.meta.dirname, "..", "..", "manifests");
const KNOWN = new Set([...CONFIG_ENV_KEYS, ...OUTSIDE_THE_SCHEMA_NAMES]);

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
}

function containersOf(object: KubeObject): Container[] {
  const spec = (object.spec as { template?: { spec?: { containers?: Container[] } } } | undefined)?.template
    ?.spec;
  return spec?.containers ?? [];
}

/**
 * Each name the objects give a Deputy container that no setting has, as
 * "where: NAME": deputy-config ConfigMaps' keys, and the env entries of
 * containers that load deputy-config, except values only spliced into
 * another entry ($(REDIS_PASSWORD) in REDIS_URL).
 */
function unknownNames(objects: readonly KubeObject[]): string[] {
  const found: string[] = [];
  for (const object of objects) {
    if (object.kind === "ConfigMap" && object.metadata.name === "deputy-config") {
      for (const name of Object.keys((object.data ?? {}) as Record<string, string>)) {
        if (!KNOWN.has(name)) found.push(`ConfigMap ${object.metadata.namespace}/deputy-config: ${name}`);
      }
    }
    for (const container of containersOf(object)) {
      if (!(container.envFrom ?? []).some((source) => source.configMapRef?.name === "deputy-config"))
        continue;
      const env = container.env ?? [];
      const spliced = new Set(
        env.flatMap((entry) => [...(entry.value ?? "").matchAll(/\$\(([A-Z0-9_]+)\)/g)].map((m) => m[1]!)),
      );
      for (const { name } of env) {
        if (!KNOWN.has(name) && !spliced.has(name)) {
          found.push(`${object.kind} ${object.metadata.name} container ${container.name}: ${name}`);
        }
      }
    }
  }
  return found;
}

const renderings: [string, KubeObject[]][] = [
  ["base", renderKustomization(join(MANIFESTS, "base"))],
  ...readdirSync(join(MANIFESTS, "overlays")).map((overlay): [string, KubeObject[]] => [
    `overlays/${overlay}`,
    renderKustomization(join(MANIFESTS, "overlays", overlay)),
  ]),
];

describe.each(renderings)("the environment %s gives Deputy", (_, objects) => {
  it("names only settings core/config/config.ts reads", () => {
    expect(unknownNames(objects)).toEqual([]);
  });

  it("is a valid configuration in every deputy-config ConfigMap", () => {
    const configs = objects.filter((o) => o.kind === "ConfigMap" && o.metadata.name === "deputy-config");
    expect(configs.map((o) => o.metadata.namespace).sort()).toEqual(["deputy-agent", "deputy-system"]);
    for (const config of configs) {
      expect(
        () => parseConfig(config.data as Record<string, string>),
        config.metadata.namespace,
      ).not.toThrow();
    }
  });
});

describe("the check of shipped names", () => {
  it("names a misspelt ConfigMap key and a misspelt env entry, and lets a spliced value be", () => {
    const objects: KubeObject[] = [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "deputy-config", namespace: "deputy-agent" },
        data: { DEPUTY_APPROVERS: "U1", DEPUTY_APPROVER: "U2" },
      },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "deputy-bot", namespace: "deputy-agent" },
        spec: {
          template: {
            spec: {
              containers: [
                {
                  name: "bot",
                  envFrom: [{ configMapRef: { name: "deputy-config" } }],
                  env: [
                    { name: "REDIS_PASSWORD", valueFrom: {} },
                    { name: "REDIS_URL", value: "redis://deputy:$(REDIS_PASSWORD)@redis:6379" },
                    { name: "DEPUTY_WATCH_IDENTTY", value: "x" },
                  ],
                },
              ],
            },
          },
        },
      },
    ];
    expect(unknownNames(objects)).toEqual([
      "ConfigMap deputy-agent/deputy-config: DEPUTY_APPROVER",
      "Deployment deputy-bot container bot: DEPUTY_WATCH_IDENTTY",
    ]);
  });
});
