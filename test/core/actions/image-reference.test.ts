import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  imageAllowed,
  parseAllowedRegistry,
  parseImageReference,
} from "../../../core/actions/image-reference.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
/** A registry host with at least one dot, as an allow-list names it. */
const host = fc.array(label, { minLength: 2, maxLength: 4 }).map((labels) => labels.join("."));
const pathComponent = fc.stringMatching(/^[a-z0-9]{1,8}([._-][a-z0-9]{1,6})?$/);
const repoPath = fc.array(pathComponent, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}$/);

describe("parseImageReference", () => {
  it("resolves Docker Hub defaults the way the runtime does", () => {
    expect(parseImageReference("nginx")).toEqual({ host: "docker.io", path: "library/nginx" });
    expect(parseImageReference("nginx:1.27")).toEqual({
      host: "docker.io",
      path: "library/nginx",
      tag: "1.27",
    });
    expect(parseImageReference("bitnami/redis:7")).toMatchObject({
      host: "docker.io",
      path: "bitnami/redis",
    });
    expect(parseImageReference("index.docker.io/library/nginx")).toMatchObject({
      host: "docker.io",
      path: "library/nginx",
    });
    // A first segment without "." or ":" is a path on Docker Hub, not a host.
    expect(parseImageReference("registry/x")).toMatchObject({ host: "docker.io", path: "registry/x" });
    expect(parseImageReference("localhost/x")).toMatchObject({ host: "localhost", path: "x" });
  });

  it("keeps the host's port and separates tag and digest", () => {
    expect(parseImageReference(`Registry.Example.com:5000/team/x:1@${DIGEST}`)).toEqual({
      host: "registry.example.com:5000",
      path: "team/x",
      tag: "1",
      digest: DIGEST,
    });
    // Without a "/", a dotted name is a repository on Docker Hub with a tag.
    expect(parseImageReference("registry.example.com:1")).toEqual({
      host: "docker.io",
      path: "library/registry.example.com",
      tag: "1",
    });
  });

  it("refuses what is not a reference", () => {
    for (const image of [
      "",
      "UPPER/Case:1",
      "a//b",
      "x:",
      "x@sha256:abc",
      "registry.example.com/../x",
      "-x/y",
      "x:bad tag",
    ]) {
      expect(parseImageReference(image)).toBeUndefined();
    }
  });
});

describe("parseAllowedRegistry", () => {
  it("reads a host, a host with a path, and a Docker Hub path", () => {
    expect(parseAllowedRegistry("registry.example.com")).toEqual({ host: "registry.example.com", path: "" });
    expect(parseAllowedRegistry("registry.example.com/team/")).toEqual({
      host: "registry.example.com",
      path: "team",
    });
    expect(parseAllowedRegistry("docker.io")).toEqual({ host: "docker.io", path: "" });
    expect(parseAllowedRegistry("bitnami")).toEqual({ host: "docker.io", path: "bitnami" });
    expect(parseAllowedRegistry("  ")).toBeUndefined();
    expect(parseAllowedRegistry("registry.example.com/Team")).toBeUndefined();
  });
});

describe("imageAllowed", () => {
  const allowed = ["registry.example.com"];

  it("admits a host's images by host, never by string prefix", () => {
    expect(imageAllowed("registry.example.com/x:1", allowed)).toBe(true);
    expect(imageAllowed(`registry.example.com/team/x@${DIGEST}`, allowed)).toBe(true);
    expect(imageAllowed("registry.example.com.evil.io/x", allowed)).toBe(false);
    expect(imageAllowed("registry.example.comx/y", allowed)).toBe(false);
    expect(imageAllowed("registry.example.com:5000/x", allowed)).toBe(false);
    expect(imageAllowed("evil.io/registry.example.com/x", allowed)).toBe(false);
  });

  it("admits a path's images at a segment boundary", () => {
    for (const entry of ["registry.example.com/team/", "registry.example.com/team"]) {
      expect(imageAllowed("registry.example.com/team/app", [entry])).toBe(true);
      expect(imageAllowed("registry.example.com/team/sub/app:2", [entry])).toBe(true);
      expect(imageAllowed("registry.example.com/teamevil/app", [entry])).toBe(false);
      expect(imageAllowed("registry.example.com/other/app", [entry])).toBe(false);
    }
  });

  it("applies the Docker Hub defaults to images", () => {
    expect(imageAllowed("nginx:1.27", ["docker.io"])).toBe(true);
    expect(imageAllowed("nginx:1.27", ["docker.io/library"])).toBe(true);
    expect(imageAllowed("nginx", ["docker.io/library/nginx"])).toBe(true);
    expect(imageAllowed("nginx-evil", ["docker.io/library/nginx"])).toBe(false);
    expect(imageAllowed("bitnami/redis", ["bitnami"])).toBe(true);
    expect(imageAllowed("bitnamievil/redis", ["bitnami"])).toBe(false);
    expect(imageAllowed("index.docker.io/bitnami/redis", ["docker.io/bitnami"])).toBe(true);
    expect(imageAllowed("nginx", ["registry.example.com"])).toBe(false);
  });

  it("admits nothing that does not parse", () => {
    expect(imageAllowed("registry.example.com/x y", allowed)).toBe(false);
    expect(imageAllowed("registry.example.com/x", ["registry.example.com/../"])).toBe(false);
  });

  it("never admits a host followed by anything but '/' or ':'", () => {
    fc.assert(
      fc.property(
        host,
        fc.string({ minLength: 1, maxLength: 30 }).filter((suffix) => suffix[0] !== "/" && suffix[0] !== ":"),
        (registry, suffix) => {
          expect(imageAllowed(`${registry}${suffix}`, [registry])).toBe(false);
          expect(imageAllowed(`${registry}${suffix}/app:1`, [registry])).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("never admits a path followed by anything but '/', ':' or '@'", () => {
    fc.assert(
      fc.property(
        host,
        repoPath,
        fc
          .string({ minLength: 1, maxLength: 20 })
          .filter((suffix) => !["/", ":", "@"].includes(suffix[0] ?? "")),
        (registry, path, suffix) => {
          for (const entry of [`${registry}/${path}`, `${registry}/${path}/`]) {
            expect(imageAllowed(`${registry}/${path}${suffix}`, [entry])).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("admits every valid image under an allowed host or path", () => {
    fc.assert(
      fc.property(
        host,
        repoPath,
        repoPath,
        fc.option(tag),
        fc.boolean(),
        (registry, team, app, t, pinned) => {
          const image = `${registry}/${team}/${app}${t === null ? "" : `:${t}`}${pinned ? `@${DIGEST}` : ""}`;
          expect(imageAllowed(image, [registry])).toBe(true);
          expect(imageAllowed(image, [`${registry}/${team}`])).toBe(true);
          expect(imageAllowed(image, [`${registry.toUpperCase()}/${team}/`])).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
