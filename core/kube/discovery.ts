import { DeputyError } from "../errors.ts";

/**
 * API discovery: which resources the cluster serves, so `get_resource` and the
 * kubectl tool accept any kind the way kubectl does (plural, singular, short
 * name or Kind, optionally `resource.group`). One aggregated-discovery call
 * per root, cached for a few minutes.
 */
export interface ApiResource {
  group: string;
  version: string;
  /** Plural resource name, e.g. "deployments". */
  resource: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  /** True when this is the group's preferred version. */
  preferred: boolean;
}

export interface Discovery {
  resources(signal?: AbortSignal): Promise<ApiResource[]>;
  /** Resolve "deploy", "deployments.apps", "Deployment", "pod"… to one resource. */
  resolve(name: string, signal?: AbortSignal): Promise<ApiResource>;
  /** API path of a collection or object. */
  path(resource: ApiResource, namespace?: string, name?: string): string;
}

type Getter = <T>(path: string, query?: Record<string, string>, signal?: AbortSignal) => Promise<T>;

interface AggregatedList {
  items?: {
    metadata?: { name?: string };
    versions?: {
      version: string;
      resources?: {
        resource: string;
        responseKind?: { kind?: string };
        singularResource?: string;
        scope?: string;
        shortNames?: string[];
        verbs?: string[];
      }[];
    }[];
  }[];
}

const AGGREGATED_ACCEPT =
  "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

const CACHE_MS = 5 * 60_000;

export function createDiscovery(
  get: Getter,
  request?: <T>(path: string, accept: string, signal?: AbortSignal) => Promise<T>,
): Discovery {
  let cached: { at: number; value: Promise<ApiResource[]> } | undefined;

  const fetchRoot = async (root: "/api" | "/apis", signal?: AbortSignal): Promise<ApiResource[]> => {
    const body = request
      ? await request<AggregatedList & { kind?: string }>(root, AGGREGATED_ACCEPT, signal)
      : await get<AggregatedList & { kind?: string }>(root, undefined, signal);
    if (body.kind !== "APIGroupDiscoveryList") return legacyRoot(root, body, signal);
    const out: ApiResource[] = [];
    for (const group of body.items ?? []) {
      const groupName = group.metadata?.name ?? "";
      (group.versions ?? []).forEach((version, index) => {
        for (const r of version.resources ?? []) {
          out.push({
            group: groupName,
            version: version.version,
            resource: r.resource,
            kind: r.responseKind?.kind ?? "",
            singular: r.singularResource ?? r.resource.replace(/s$/, ""),
            namespaced: r.scope === "Namespaced",
            shortNames: r.shortNames ?? [],
            verbs: r.verbs ?? [],
            preferred: index === 0,
          });
        }
      });
    }
    return out;
  };

  /** Fallback for servers without aggregated discovery. */
  const legacyRoot = async (
    root: "/api" | "/apis",
    body: unknown,
    signal?: AbortSignal,
  ): Promise<ApiResource[]> => {
    const versions: { group: string; version: string; preferred: boolean }[] = [];
    if (root === "/api") {
      for (const v of (body as { versions?: string[] }).versions ?? [])
        versions.push({ group: "", version: v, preferred: true });
    } else {
      const groups =
        (
          body as {
            groups?: {
              name: string;
              versions: { version: string }[];
              preferredVersion?: { version: string };
            }[];
          }
        ).groups ?? [];
      for (const g of groups) {
        for (const v of g.versions) {
          versions.push({
            group: g.name,
            version: v.version,
            preferred: v.version === g.preferredVersion?.version,
          });
        }
      }
    }
    const lists = await Promise.all(
      versions.map(async (v) => {
        const path = v.group ? `/apis/${v.group}/${v.version}` : `/api/${v.version}`;
        const list = await get<{
          resources?: {
            name: string;
            kind: string;
            singularName?: string;
            namespaced: boolean;
            shortNames?: string[];
            verbs?: string[];
          }[];
        }>(path, undefined, signal);
        return (list.resources ?? [])
          .filter((r) => !r.name.includes("/"))
          .map<ApiResource>((r) => ({
            group: v.group,
            version: v.version,
            resource: r.name,
            kind: r.kind,
            singular: r.singularName || r.kind.toLowerCase(),
            namespaced: r.namespaced,
            shortNames: r.shortNames ?? [],
            verbs: r.verbs ?? [],
            preferred: v.preferred,
          }));
      }),
    );
    return lists.flat();
  };

  const resources = (signal?: AbortSignal): Promise<ApiResource[]> => {
    if (!cached || Date.now() - cached.at > CACHE_MS) {
      const value = Promise.all([fetchRoot("/api", signal), fetchRoot("/apis", signal)]).then(([a, b]) => [
        ...a,
        ...b,
      ]);
      cached = { at: Date.now(), value };
      value.catch(() => {
        cached = undefined;
      });
    }
    return cached.value;
  };

  return {
    resources,
    async resolve(name, signal) {
      const wanted = name.trim();
      if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(wanted)) {
        throw new DeputyError("INPUT_INVALID", `"${name}" is not a resource type name`);
      }
      const all = await resources(signal);
      const lower = wanted.toLowerCase();
      const [head, ...rest] = lower.split(".");
      const group = rest.join(".");
      const candidates = all.filter((r) => {
        if (group && r.group !== group) return false;
        const names = [
          r.resource,
          r.singular,
          r.kind.toLowerCase(),
          ...r.shortNames.map((s) => s.toLowerCase()),
        ];
        return names.includes(group ? (head ?? "") : lower);
      });
      if (candidates.length === 0) {
        throw new DeputyError("NOT_FOUND", `the cluster serves no resource type called "${name}"`);
      }
      // kubectl's preference: the core group first, then preferred versions.
      candidates.sort((a, b) => {
        const rank = (r: ApiResource): number => (r.group === "" ? 0 : 2) + (r.preferred ? 0 : 1);
        return rank(a) - rank(b);
      });
      return candidates[0]!;
    },
    path(resource, namespace, name) {
      const prefix = resource.group
        ? `/apis/${resource.group}/${resource.version}`
        : `/api/${resource.version}`;
      const nsPart = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
      const namePart = name ? `/${encodeURIComponent(name)}` : "";
      return `${prefix}${nsPart}/${resource.resource}${namePart}`;
    },
  };
}
