import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  effectiveServiceAccount,
  hardeningRemovedOf,
  hostAccessOf,
  podSpecRisks,
  podSpecSummary,
  sandboxOptOutsOf,
  type PodSpecOptions,
  type PodTemplateChange,
} from "../../../core/actions/pod-spec.ts";

const none: PodSpecOptions = { allowedRegistries: [], allowedCapabilities: [] };
const workload = "Deployment shop/web";

function risks(change: Omit<PodTemplateChange, "workload" | "kind">, options = none): Record<string, string> {
  const flags = podSpecRisks({ workload, kind: "Deployment", ...change }, options);
  return Object.fromEntries(flags.map((flag) => [flag.rule, flag.message]));
}

describe("service account and token", () => {
  const tokenVolume = {
    name: "kube-api",
    projected: {
      sources: [
        { configMap: { name: "ca" } },
        { serviceAccountToken: { path: "token", audience: "vault", expirationSeconds: 600 } },
      ],
    },
  };

  it("flags a projected serviceAccountToken even when automountServiceAccountToken is false", () => {
    const after = {
      serviceAccountName: "ci",
      automountServiceAccountToken: false,
      volumes: [tokenVolume],
      containers: [{ name: "app", image: "x:1" }],
    };
    const byRule = risks({ before: { ...after, volumes: [] }, after });
    expect(byRule["service-account"]).toBe(
      "Deployment shop/web projected volume kube-api mounts a service-account token for audience vault of service account ci: its pods get that account's API token whatever automountServiceAccountToken says.",
    );
    // Already mounted before: the change adds nothing.
    expect(risks({ before: after, after })["service-account"]).toBeUndefined();
  });

  it("names the account the deprecated serviceAccount field selects when serviceAccountName is empty", () => {
    const after = { serviceAccountName: "", serviceAccount: "cluster-admin-sa", containers: [] };
    expect(effectiveServiceAccount(after)).toBe("cluster-admin-sa");
    expect(effectiveServiceAccount({ serviceAccount: "x" })).toBe("x");
    expect(effectiveServiceAccount({ serviceAccountName: "a", serviceAccount: "b" })).toBe("a");
    expect(effectiveServiceAccount({ serviceAccountName: "" })).toBe("default");
    expect(risks({ before: { containers: [] }, after })["service-account"]).toContain(
      "runs as service account cluster-admin-sa (was default)",
    );
    expect(podSpecSummary({ workload, kind: "Deployment", after })).toContain(
      "Service account: cluster-admin-sa",
    );
  });
});

describe("sandbox opt-outs", () => {
  const optedOut = {
    securityContext: {
      seccompProfile: { type: "Unconfined" },
      sysctls: [
        { name: "net.ipv4.tcp_syncookies", value: "1" },
        { name: "kernel.msgmax", value: "65536" },
      ],
    },
    containers: [
      {
        name: "app",
        securityContext: {
          appArmorProfile: { type: "Unconfined" },
          procMount: "Unmasked",
          seLinuxOptions: { type: "my_custom_t", user: "system_u" },
        },
      },
      { name: "side", securityContext: { seccompProfile: { type: "Unconfined" } } },
    ],
  };
  const annotations = {
    "container.apparmor.security.beta.kubernetes.io/side": "unconfined",
    "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
  };

  it("names each one and where it is", () => {
    expect(sandboxOptOutsOf(optedOut, annotations)).toEqual([
      "pod sets seccompProfile Unconfined",
      "container app sets appArmorProfile Unconfined",
      "container app sets SELinux type my_custom_t",
      "container app sets SELinux user system_u",
      "container app sets procMount: Unmasked (the node's /proc paths are not masked)",
      "container side sets seccompProfile Unconfined",
      "pod sets sysctl kernel.msgmax",
      "annotation container.apparmor.security.beta.kubernetes.io/side: unconfined turns AppArmor off for container side",
    ]);
    expect(
      sandboxOptOutsOf({
        securityContext: {
          seccompProfile: { type: "RuntimeDefault" },
          seLinuxOptions: { type: "container_t" },
        },
        containers: [{ name: "app", securityContext: { procMount: "Default" } }],
      }),
    ).toEqual([]);
  });

  it("makes the change high risk, for what it adds", () => {
    const byRule = risks({ after: optedOut, annotations: { after: annotations } });
    expect(byRule["sandbox-opt-out"]).toContain("Deployment shop/web steps out of the pod sandbox: ");
    expect(byRule["sandbox-opt-out"]).toContain("procMount: Unmasked");
    expect(byRule["sandbox-opt-out"]).toContain("apparmor.security.beta.kubernetes.io/side: unconfined");
    const again = risks({
      before: optedOut,
      after: optedOut,
      annotations: { before: annotations, after: annotations },
    });
    expect(again["sandbox-opt-out"]).toBeUndefined();
    // Only the annotation is new.
    const annotationOnly = risks({ before: optedOut, after: optedOut, annotations: { after: annotations } });
    expect(annotationOnly["sandbox-opt-out"]).toBe(
      "Deployment shop/web steps out of the pod sandbox: annotation container.apparmor.security.beta.kubernetes.io/side: unconfined turns AppArmor off for container side.",
    );
  });

  it("finds an Unconfined profile or Unmasked /proc at any level, generated", () => {
    const optOut = fc.constantFrom<Record<string, unknown>>(
      { seccompProfile: { type: "Unconfined" } },
      { appArmorProfile: { type: "Unconfined" } },
      { procMount: "Unmasked" },
      { seLinuxOptions: { type: "other_t" } },
    );
    fc.assert(
      fc.property(
        optOut,
        fc.constantFrom("securityContext", "containers", "initContainers", "ephemeralContainers"),
        (context, where) => {
          const spec =
            where === "securityContext"
              ? { securityContext: context, containers: [{ name: "app" }] }
              : {
                  containers: [{ name: "app" }],
                  [where]: [{ name: "x" }, { name: "y", securityContext: context }],
                };
          expect(sandboxOptOutsOf(spec)).toHaveLength(1);
          expect(risks({ after: spec })["sandbox-opt-out"]).toBeDefined();
        },
      ),
    );
  });

  it("treats SELinux spc_t and Windows HostProcess as host access", () => {
    expect(
      hostAccessOf(
        {
          securityContext: { seLinuxOptions: { type: "spc_t" } },
          containers: [
            { name: "app", securityContext: { seLinuxOptions: { type: "unconfined_t" } } },
            { name: "win", securityContext: { windowsOptions: { hostProcess: true } } },
          ],
        },
        [],
      ),
    ).toEqual([
      "pod runs with SELinux type spc_t, unconfined like a privileged container",
      "container app runs with SELinux type unconfined_t, unconfined like a privileged container",
      "container win is a Windows HostProcess container (runs on the node itself)",
    ]);
    // Refused, so not counted twice as a mere opt-out.
    expect(sandboxOptOutsOf({ securityContext: { seLinuxOptions: { type: "spc_t" } } })).toEqual([]);
  });
});

describe("Secret access, node pinning and images", () => {
  it("flags a secret-store CSI volume like a Secret reference", () => {
    const after = {
      volumes: [
        {
          name: "creds",
          csi: {
            driver: "secrets-store.csi.k8s.io",
            readOnly: true,
            volumeAttributes: { secretProviderClass: "vault-db" },
          },
        },
        { name: "scratch", csi: { driver: "inline.storage.example.com" } },
      ],
      containers: [{ name: "app", image: "x:1" }],
    };
    expect(risks({ before: { containers: [] }, after })["secret-reference"]).toBe(
      "Deployment shop/web reads SecretProviderClass vault-db (CSI volume creds, driver secrets-store.csi.k8s.io): its pods get those secrets.",
    );
    expect(risks({ before: after, after })["secret-reference"]).toBeUndefined();
    expect(podSpecSummary({ workload, kind: "Deployment", after })).toContain(
      "Secrets read: SecretProviderClass vault-db (CSI volume creds, driver secrets-store.csi.k8s.io)",
    );
  });

  it("flags pinning to a node by nodeName", () => {
    const after = { nodeName: "control-plane-1", containers: [] };
    expect(risks({ before: { containers: [] }, after })["node-pinning"]).toBe(
      "Deployment shop/web pins its pods to node control-plane-1 (nodeName): the scheduler, with its taints and resource checks, is bypassed.",
    );
    expect(risks({ before: after, after })["node-pinning"]).toBeUndefined();
    expect(risks({ after: { nodeName: "", containers: [] } })["node-pinning"]).toBeUndefined();
  });

  it("matches the registry allow-list by host and path segment", () => {
    const options = { allowedRegistries: ["registry.example.com"], allowedCapabilities: [] };
    const after = {
      containers: [
        { name: "ok", image: "registry.example.com/team/app:1" },
        { name: "evil", image: "registry.example.com.evil.io/x:1" },
      ],
    };
    expect(risks({ after }, options)["image-registry"]).toBe(
      "container evil runs registry.example.com.evil.io/x:1, outside the allowed registries (registry.example.com).",
    );
  });
});

describe("hardening removed", () => {
  const hardened = {
    automountServiceAccountToken: false,
    hostUsers: false,
    securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
    containers: [
      {
        name: "app",
        image: "registry.example.com/web:1",
        resources: { limits: { cpu: "500m", memory: "512Mi" }, requests: { cpu: "100m" } },
        securityContext: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          appArmorProfile: { type: "Localhost", localhostProfile: "web" },
        },
      },
    ],
  };

  it("names everything a rollback to an unhardened revision strips", () => {
    const after = { containers: [{ name: "app", image: "registry.example.com/web:0" }] };
    expect(hardeningRemovedOf(hardened, after)).toEqual([
      "pod loses automountServiceAccountToken: false",
      "pod loses hostUsers: false (its user namespace)",
      "container app loses runAsNonRoot: true, runAsUser: 10001, seccompProfile RuntimeDefault, appArmorProfile Localhost web, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities.drop ALL, limits.cpu: 500m, limits.memory: 512Mi",
    ]);
    const byRule = risks({ before: hardened, after });
    expect(byRule["hardening-removed"]).toMatch(
      /^Deployment shop\/web removes hardening: pod loses automountServiceAccountToken: false; /,
    );
  });

  it("counts weakening as removing", () => {
    const after = {
      automountServiceAccountToken: true,
      hostUsers: true,
      securityContext: { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: "Unconfined" } },
      containers: [
        {
          name: "app",
          resources: { limits: { cpu: "500m", memory: "512Mi" } },
          securityContext: {
            readOnlyRootFilesystem: false,
            allowPrivilegeEscalation: true,
            capabilities: { drop: ["NET_RAW"] },
            appArmorProfile: { type: "Unconfined" },
          },
        },
      ],
    };
    expect(hardeningRemovedOf(hardened, after)).toEqual([
      "pod loses automountServiceAccountToken: false",
      "pod loses hostUsers: false (its user namespace)",
      "container app loses runAsNonRoot: true, runAsUser: 10001, seccompProfile RuntimeDefault, appArmorProfile Localhost web, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities.drop ALL",
    ]);
  });

  it("sees no loss when a setting moves from the pod to each container, or nothing changes", () => {
    const moved = {
      ...hardened,
      securityContext: {},
      containers: hardened.containers.map((container) => ({
        ...container,
        securityContext: {
          ...container.securityContext,
          runAsNonRoot: true,
          runAsUser: 20000,
          seccompProfile: { type: "Localhost", localhostProfile: "strict.json" },
          capabilities: { drop: ["CAP_ALL", "NET_RAW"] },
        },
      })),
    };
    expect(hardeningRemovedOf(hardened, moved)).toEqual([]);
    expect(hardeningRemovedOf(hardened, hardened)).toEqual([]);
    expect(risks({ before: hardened, after: hardened })).toEqual({});
    // A container that goes away, or a new one, loses nothing.
    expect(hardeningRemovedOf(hardened, { ...hardened, containers: [{ name: "other" }] })).toEqual([]);
    // Without a live workload there is nothing to remove.
    expect(risks({ after: { containers: [{ name: "app" }] } })["hardening-removed"]).toBeUndefined();
  });

  it("matches containers by kind and name, not position", () => {
    const before = {
      initContainers: [{ name: "migrate", securityContext: { readOnlyRootFilesystem: true } }],
      containers: [
        { name: "a", securityContext: { readOnlyRootFilesystem: true } },
        { name: "b", securityContext: {} },
      ],
    };
    const after = {
      initContainers: [{ name: "migrate", securityContext: {} }],
      containers: [
        { name: "b", securityContext: {} },
        { name: "a", securityContext: { readOnlyRootFilesystem: true } },
      ],
    };
    expect(hardeningRemovedOf(before, after)).toEqual([
      "init container migrate loses readOnlyRootFilesystem: true",
    ]);
  });

  it("sees no loss in any reordering of the same containers, generated", () => {
    const context = fc.record(
      {
        runAsNonRoot: fc.boolean(),
        runAsUser: fc.integer({ min: 0, max: 70000 }),
        readOnlyRootFilesystem: fc.boolean(),
        allowPrivilegeEscalation: fc.boolean(),
        capabilities: fc.record({ drop: fc.subarray(["ALL", "NET_RAW", "CHOWN"]) }),
        seccompProfile: fc.constantFrom({ type: "RuntimeDefault" }, { type: "Unconfined" }),
      },
      { requiredKeys: [] },
    );
    const spec = fc.record({
      automountServiceAccountToken: fc.option(fc.boolean(), { nil: undefined }),
      securityContext: context,
      containers: fc.uniqueArray(
        fc.record({
          name: fc.stringMatching(/^[a-z]{1,6}$/),
          securityContext: context,
          resources: fc.record({
            limits: fc.record({ cpu: fc.constant("1"), memory: fc.constant("1Gi") }, { requiredKeys: [] }),
          }),
        }),
        { selector: (container) => container.name, minLength: 1, maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(spec, fc.nat(), (before, seed) => {
        const containers = [...before.containers];
        for (let i = containers.length - 1; i > 0; i--) {
          const j = (seed + i) % (i + 1);
          [containers[i], containers[j]] = [containers[j]!, containers[i]!];
        }
        expect(hardeningRemovedOf(before, { ...before, containers })).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  /** Each hardening setting of `hardened`, and a way to drop it. */
  const removals: [string, (spec: typeof hardened) => unknown][] = [
    ["automountServiceAccountToken: false", ({ automountServiceAccountToken: _, ...rest }) => rest],
    ["hostUsers: false", ({ hostUsers: _, ...rest }) => rest],
    [
      "runAsNonRoot: true",
      (spec) => ({ ...spec, securityContext: { ...spec.securityContext, runAsNonRoot: undefined } }),
    ],
    ["runAsUser: 10001", (spec) => ({ ...spec, securityContext: { ...spec.securityContext, runAsUser: 0 } })],
    [
      "seccompProfile RuntimeDefault",
      (spec) => ({ ...spec, securityContext: { ...spec.securityContext, seccompProfile: undefined } }),
    ],
    ...(
      [
        ["readOnlyRootFilesystem: true", { readOnlyRootFilesystem: undefined }],
        ["allowPrivilegeEscalation: false", { allowPrivilegeEscalation: undefined }],
        ["capabilities.drop ALL", { capabilities: {} }],
        ["appArmorProfile Localhost web", { appArmorProfile: undefined }],
      ] as const
    ).map(([name, change]): [string, (spec: typeof hardened) => unknown] => [
      name,
      (spec) => ({
        ...spec,
        containers: spec.containers.map((c) => ({
          ...c,
          securityContext: { ...c.securityContext, ...change },
        })),
      }),
    ]),
    [
      "limits.memory: 512Mi",
      (spec) => ({
        ...spec,
        containers: spec.containers.map((c) => ({ ...c, resources: { limits: { cpu: "500m" } } })),
      }),
    ],
  ];

  it("names any combination of removed settings, and only those", () => {
    fc.assert(
      fc.property(fc.subarray(removals, { minLength: 1 }), (chosen) => {
        const after = JSON.parse(
          JSON.stringify(
            chosen.reduce<unknown>((spec, [, remove]) => remove(spec as typeof hardened), hardened),
          ),
        ) as unknown;
        const message = risks({ before: hardened, after })["hardening-removed"] ?? "";
        for (const [name] of removals) {
          expect(message.includes(name)).toBe(chosen.some(([picked]) => picked === name));
        }
      }),
      { numRuns: 200 },
    );
  });
});
