/**
 * Container image references, parsed the way the container runtime resolves
 * them, so that the registry allow-list compares registry hosts and whole path
 * segments instead of string prefixes: `registry.example.com` must not admit
 * `registry.example.com.evil.io/x`, and `registry.example.com/team` must not
 * admit `registry.example.com/teamevil/app`.
 *
 * Docker Hub defaults follow the runtime: a name whose first segment is not a
 * host (no ".", no ":", not "localhost") is on `docker.io`, and a
 * single-segment name is under `library/` (`nginx` is
 * `docker.io/library/nginx`); `index.docker.io` is `docker.io`.
 */

export interface ImageReference {
  /** Registry host, lower case, with its port when one is given ("registry.example.com:5000"). */
  host: string;
  /** Repository path without tag or digest ("team/app", "library/nginx"). */
  path: string;
  tag?: string;
  digest?: string;
}

// The grammar of github.com/distribution/reference (IPv6 hosts are not accepted: fail closed).
const HOST_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = new RegExp(`^${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]+)?$`);
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

const DOCKER_HUB = "docker.io";

/** The runtime's test for "this first segment is a registry host". */
function looksLikeHost(segment: string): boolean {
  return (
    segment.includes(".") ||
    segment.includes(":") ||
    segment === "localhost" ||
    segment !== segment.toLowerCase()
  );
}

function normaliseHost(host: string): string {
  const lower = host.toLowerCase();
  return lower === "index.docker.io" ? DOCKER_HUB : lower;
}

/** An image as the runtime pulls it, or undefined when it is not a valid reference. */
export function parseImageReference(image: string): ImageReference | undefined {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return undefined;
  }
  const slash = rest.indexOf("/");
  let host = DOCKER_HUB;
  let path = rest;
  if (slash !== -1 && looksLikeHost(rest.slice(0, slash))) {
    host = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!HOST.test(host)) return undefined;
  }
  if (!PATH.test(path)) return undefined;
  host = normaliseHost(host);
  if (host === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  return { host, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

interface AllowedLocation {
  host: string;
  /** "" admits the whole registry. */
  path: string;
}

/**
 * One allow-list entry: a registry host (`registry.example.com`,
 * `localhost:5000`), optionally followed by a path (`registry.example.com/team`,
 * trailing "/" optional). An entry whose first segment is not a host is a path
 * on Docker Hub as written: `docker.io/library/nginx` (or `library/nginx`)
 * for the official nginx image, `bitnami` for that organisation. A port is part
 * of the host. An entry that is not a valid location admits nothing.
 */
export function parseAllowedRegistry(entry: string): AllowedLocation | undefined {
  const trimmed = entry.trim().replace(/\/+$/, "");
  if (trimmed === "") return undefined;
  const slash = trimmed.indexOf("/");
  const first = slash === -1 ? trimmed : trimmed.slice(0, slash);
  if (looksLikeHost(first)) {
    if (!HOST.test(first)) return undefined;
    const path = slash === -1 ? "" : trimmed.slice(slash + 1);
    if (path !== "" && !PATH.test(path)) return undefined;
    return { host: normaliseHost(first), path };
  }
  return PATH.test(trimmed) ? { host: DOCKER_HUB, path: trimmed } : undefined;
}

/** True when the image's registry host equals an entry's and its path is the entry's or below it. */
export function imageAllowed(image: string, allowedRegistries: readonly string[]): boolean {
  const ref = parseImageReference(image);
  if (ref === undefined) return false;
  return allowedRegistries.some((entry) => {
    const allowed = parseAllowedRegistry(entry);
    if (allowed === undefined || allowed.host !== ref.host) return false;
    return allowed.path === "" || ref.path === allowed.path || ref.path.startsWith(`${allowed.path}/`);
  });
}
