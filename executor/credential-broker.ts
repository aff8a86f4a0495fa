import { readFile } from "node:fs/promises";
import { DeputyError } from "../core/errors.ts";
import type { Logger } from "../core/observability/logger.ts";
import { credsRequestParams, type SecretsRole } from "../core/identity/openbao-roles.ts";
import {
  ignoredSchema,
  kubernetesCredsSchema,
  loginResponseSchema,
  OpenBaoError,
  type OpenBaoClient,
} from "./openbao-client.ts";
import { createCallGate } from "./call-gate.ts";
import { DEFAULT_RETRY, withRetry, type RetryOptions } from "../core/backoff.ts";
import type { Metrics } from "../core/observability/metrics.ts";

/**
 * Just-in-time Kubernetes credentials from OpenBao (invariant 2).
 *
 * login: Kubernetes auth with the executor's projected, audience-bound
 * service-account token → an OpenBao token with a 60 s TTL, reused while it
 * has enough life left, one login shared by all concurrent callers.
 * mint: `kubernetes/creds/<role>` → a generated service account bound to
 * that action type's pre-created role, in the action's namespace, with a
 * lease TTL sized to the action (`ttlSeconds`).
 * keep alive: OpenBao revokes a lease when the token that created it ends, so
 * while an action runs its token is renewed (`auth/token/renew-self`, every
 * third of its TTL) up to the auth role's max TTL. A token is only used for a
 * mint if its max TTL leaves room for the whole action. If the executor dies,
 * renewals stop and the lease ends with the token within 60 s.
 * revoke: `sys/leases/revoke` in a `finally`, which deletes the generated
 * account and kills its token. If revocation itself fails (OpenBao sealed or
 * unreachable), nothing ends the lease until OpenBao can act again: the
 * generated account stays and its Kubernetes token works until its own
 * expiry (never under 600 s). The failure is handed to the caller
 * (`onRevoke`), which alerts and retries the revocation until it succeeds.
 */

export interface JitCredential {
  leaseId: string;
  serviceAccountName: string;
  namespace: string;
  /** Bearer token for the API server. Only ever handed to a Kubernetes client. */
  token: string;
}

export interface CredentialRequest {
  role: SecretsRole;
  /** Namespace of the action (namespaced roles); cluster roles mint in the jit namespace. */
  namespace?: string | undefined;
  /** Lease (and Kubernetes token) TTL sized to the action; the engine's default when unset. */
  ttlSeconds?: number | undefined;
  /** How long the action may run: the login token minting it must be renewable for that long. */
  runForMs?: number | undefined;
}

/** A lease whose revocation failed: what stays alive until it is revoked, and for how long at most. */
export interface UnrevokedLease {
  leaseId: string;
  /** "namespace/name" of the generated service account (and its binding), which stays until revocation. */
  serviceAccount: string;
  /** When the Kubernetes token expires by itself (its `exp`); Kubernetes issues none shorter than 600 s. */
  tokenExpiresAt: string | undefined;
  /** Why revocation failed. */
  reason: string;
}

/** The `exp` of a service-account token (a JWT), read only to say when it stops working. */
export function tokenExpiry(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" ? new Date(exp * 1000).toISOString() : undefined;
  } catch {
    return undefined;
  }
}

export interface CredentialUse<T> {
  value: T;
  leaseId: string;
  revoked: boolean;
}

export interface BrokerStats {
  /** Login HTTP calls made to OpenBao. */
  logins: number;
  minted: number;
  revoked: number;
  revokeFailures: number;
  /** Renewals of a login token that a running action's lease depends on. */
  renewals: number;
  renewFailures: number;
}

export interface CredentialBroker {
  /** Mint, use, revoke: `use` never outlives the lease. */
  withCredential<T>(
    request: CredentialRequest,
    use: (credential: JitCredential) => Promise<T>,
    hooks?: {
      onLease?: (leaseId: string) => Promise<void> | void;
      /** After the revocation: `unrevoked` says what outlives the action when it failed. */
      onRevoke?: (revoked: boolean, unrevoked?: UnrevokedLease) => Promise<void> | void;
    },
  ): Promise<CredentialUse<T>>;
  /** Revoke a lease left behind (crash reconciliation). */
  revokeLease(leaseId: string): Promise<void>;
  stats(): BrokerStats;
}

export interface CredentialBrokerOptions {
  openbao: OpenBaoClient;
  logger: Logger;
  authMount: string;
  authRole: string;
  secretsMount: string;
  /**
   * The secrets engine's parallel mounts (core/identity/openbao-roles.ts secretsMounts),
   * used in turn so concurrent mints do not queue behind one mount's rate limit.
   * Defaults to `[secretsMount]`.
   */
  secretsMounts?: readonly string[];
  /** File holding the executor's projected service-account token (audience `openbao`). */
  jwtPath: string;
  /** Stop reusing a login token when less than this is left before its next renewal is due. */
  minRemainingMs?: number;
  /**
   * The auth role's token_max_ttl (roles.yaml, default 3600): how long renewals
   * can keep a login token, and so the leases it minted, alive.
   */
  tokenMaxTtlSeconds?: number;
  /** How often a token holding a running action's lease is renewed (default 20 s, a third of 60 s). */
  renewEveryMs?: number;
  retry?: Partial<Omit<RetryOptions, "retryable">>;
  /** OpenBao mint/revoke calls in flight at once (default 4 per secrets mount); the rest queue, revocations first. */
  maxConcurrentCalls?: number;
  now?: () => number;
  /** Test hook: sees each minted credential. Production code never sets it. */
  onCredential?: (credential: Readonly<JitCredential>) => void;
  /** OpenBao logins and failed calls are counted here (core/observability/metrics.ts). */
  metrics?: Pick<Metrics, "openbaoLogin" | "openbaoError">;
}

interface LoginToken {
  token: string;
  expiresAtMs: number;
  /** Renewals cannot take it past this. */
  maxExpiresAtMs: number;
}

const LEASE_ID_PATTERN = /^[A-Za-z0-9/_.-]{1,512}$/;

function isTransient(error: unknown): boolean {
  return error instanceof OpenBaoError && error.transient;
}

export function createCredentialBroker(options: CredentialBrokerOptions): CredentialBroker {
  const now = options.now ?? Date.now;
  const minRemainingMs = options.minRemainingMs ?? 30_000;
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const logger = options.logger.child({ component: "credential-broker" });
  const tokenMaxTtlMs = (options.tokenMaxTtlSeconds ?? 3600) * 1000;
  const renewEveryMs = options.renewEveryMs ?? 20_000;
  const stats: BrokerStats = {
    logins: 0,
    minted: 0,
    revoked: 0,
    revokeFailures: 0,
    renewals: 0,
    renewFailures: 0,
  };
  /** Login tokens that running actions' leases depend on, with how many hold each. */
  const held = new Map<string, { holders: number; timer: NodeJS.Timeout; login: LoginToken }>();
  let cached: LoginToken | undefined;
  let inflight: Promise<LoginToken> | undefined;
  // Login failures were already retried inside login(): callers must not retry them again.
  const loginFailures = new WeakSet<object>();
  const mounts = options.secretsMounts?.length ? [...options.secretsMounts] : [options.secretsMount];
  let nextMount = 0;
  const gate = createCallGate(options.maxConcurrentCalls ?? 4 * mounts.length);

  async function readJwt(): Promise<string> {
    try {
      const jwt = (await readFile(options.jwtPath, "utf8")).trim();
      if (jwt.length === 0) throw new Error("file is empty");
      return jwt;
    } catch (error) {
      throw new DeputyError(
        "CREDENTIAL_FAILED",
        `Cannot read the executor's service-account token at ${options.jwtPath} (DEPUTY_BAO_JWT_PATH)`,
        { cause: error },
      );
    }
  }

  async function login(): Promise<LoginToken> {
    try {
      const token = await loginOnce();
      options.metrics?.openbaoLogin("ok");
      return token;
    } catch (caught) {
      options.metrics?.openbaoLogin("error");
      const error = (await notConfiguredForLogin(caught, options)) ?? caught;
      if (error !== null && typeof error === "object") loginFailures.add(error);
      throw error;
    }
  }

  /** Count a failed mint or revoke (after retries), then let the failure go on. */
  async function counted<T>(operation: "creds" | "revoke", call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!loginFailures.has(error as object)) options.metrics?.openbaoError(operation);
      throw error;
    }
  }

  async function loginOnce(): Promise<LoginToken> {
    const jwt = await readJwt();
    const response = await withRetry(
      () => {
        stats.logins++;
        return options.openbao.request("POST", `auth/${options.authMount}/login`, {
          body: { role: options.authRole, jwt },
          schema: loginResponseSchema,
        });
      },
      {
        ...retry,
        retryable: isTransient,
        onRetry: (error, attempt, delayMs) =>
          logger.warn({ attempt, delayMs, err: describe(error) }, "OpenBao login failed, retrying"),
      },
    );
    logger.debug({ ttlSeconds: response.auth.lease_duration }, "OpenBao login");
    const at = now();
    return {
      token: response.auth.client_token,
      expiresAtMs: at + response.auth.lease_duration * 1000,
      maxExpiresAtMs: at + Math.max(tokenMaxTtlMs, response.auth.lease_duration * 1000),
    };
  }

  /**
   * A login token with enough life left, and whose max TTL leaves `needMs` for
   * the action its lease will serve; concurrent callers share one login.
   */
  async function loginToken(needMs = 0): Promise<string> {
    const fits = (login: LoginToken): boolean =>
      login.expiresAtMs - now() > minRemainingMs && login.maxExpiresAtMs - now() > needMs;
    if (cached && fits(cached)) return cached.token;
    if (inflight) {
      const shared = await inflight;
      if (fits(shared)) return shared.token;
    }
    if (!inflight) {
      inflight = login()
        .then((token) => {
          cached = token;
          return token;
        })
        .finally(() => {
          inflight = undefined;
        });
    }
    return (await inflight).token;
  }

  /** Run an OpenBao call with a login token, re-logging in once if the token was refused. */
  async function withToken<T>(call: (token: string) => Promise<T>, needMs = 0): Promise<T> {
    return withRetry(
      async () => {
        const token = await loginToken(needMs);
        try {
          return await call(token);
        } catch (error) {
          if (error instanceof OpenBaoError && error.status === 403 && cached?.token === token) {
            // Revoked or expired early: forget it so the next attempt logs in again.
            cached = undefined;
          }
          throw error;
        }
      },
      {
        ...retry,
        retryable: (error) =>
          !loginFailures.has(error as object) &&
          (isTransient(error) || (error instanceof OpenBaoError && error.status === 403)),
        onRetry: (error, attempt, delayMs) =>
          logger.warn({ attempt, delayMs, err: describe(error) }, "OpenBao call failed, retrying"),
      },
    );
  }

  /** Keep a login token alive while an action's lease depends on it; returns the release. */
  function hold(token: string): () => void {
    let entry = held.get(token);
    if (!entry) {
      const login = cached?.token === token ? cached : { token, expiresAtMs: 0, maxExpiresAtMs: Infinity };
      const timer = setInterval(() => void renew(token), renewEveryMs);
      timer.unref();
      entry = { holders: 0, timer, login };
      held.set(token, entry);
    }
    entry.holders++;
    const mine = entry;
    return () => {
      mine.holders--;
      if (mine.holders === 0) {
        clearInterval(mine.timer);
        held.delete(token);
      }
    };
  }

  async function renew(token: string): Promise<void> {
    try {
      const answer = await options.openbao.request("PUT", "auth/token/renew-self", {
        token,
        body: {},
        schema: loginResponseSchema,
      });
      stats.renewals++;
      const entry = held.get(token);
      if (entry) entry.login.expiresAtMs = now() + answer.auth.lease_duration * 1000;
    } catch (error) {
      stats.renewFailures++;
      logger.warn(
        { err: describe(error) },
        "could not renew the OpenBao token a running action's lease depends on; it retries",
      );
    }
  }

  async function mint(
    request: CredentialRequest,
  ): Promise<{ credential: JitCredential; release: () => void }> {
    // Throws (before any OpenBao call) when the namespace is not writable by the role.
    const body = credsRequestParams(request.role, request.namespace, request.ttlSeconds);
    let parent = "";
    const mount = mounts[nextMount++ % mounts.length]!;
    const response = await counted("creds", () =>
      gate.run("normal", () =>
        withToken((token) => {
          parent = token;
          return options.openbao.request("POST", `${mount}/creds/${request.role.name}`, {
            token,
            body,
            schema: kubernetesCredsSchema,
          });
        }, request.runForMs ?? 0),
      ),
    ).catch((error: unknown) => {
      throw notConfiguredForMint(error, options, request.role.name) ?? error;
    });
    stats.minted++;
    return {
      credential: {
        leaseId: response.lease_id,
        serviceAccountName: response.data.service_account_name,
        namespace: response.data.service_account_namespace,
        token: response.data.service_account_token,
      },
      release: hold(parent),
    };
  }

  async function revokeLease(leaseId: string): Promise<void> {
    if (
      !LEASE_ID_PATTERN.test(leaseId) ||
      leaseId.split("/").some((part) => part === "" || part === "." || part === "..")
    ) {
      throw new DeputyError("INPUT_INVALID", `"${leaseId}" is not a lease id`);
    }
    // The lease id in the path lets the policy allow revoking only Deputy's own leases.
    await counted("revoke", () =>
      gate.run("high", () =>
        withToken((token) =>
          options.openbao.request("PUT", `sys/leases/revoke/${leaseId}`, {
            token,
            body: { sync: true },
            schema: ignoredSchema,
          }),
        ),
      ),
    );
    stats.revoked++;
  }

  return {
    async withCredential(request, use, hooks) {
      const { credential, release } = await mint(request);
      options.onCredential?.(credential);
      const log = logger.child({ leaseId: credential.leaseId, role: request.role.name });
      log.info(
        { serviceAccount: `${credential.namespace}/${credential.serviceAccountName}` },
        "credential minted",
      );
      let result: { ok: true; value: Awaited<ReturnType<typeof use>> } | { ok: false; error: unknown };
      try {
        await hooks?.onLease?.(credential.leaseId);
        result = { ok: true, value: await use(credential) };
      } catch (error) {
        result = { ok: false, error };
      }
      // Revoke whatever happened above; a failed revocation is reported, not thrown,
      // so it never masks what the action did.
      let revoked = false;
      let unrevoked: UnrevokedLease | undefined;
      try {
        await revokeLease(credential.leaseId);
        revoked = true;
        log.info("lease revoked");
      } catch (error) {
        stats.revokeFailures++;
        // A sealed or unreachable OpenBao cannot end the lease either: the account stays until it is
        // revoked, and its token works until the token's own expiry.
        unrevoked = {
          leaseId: credential.leaseId,
          serviceAccount: `${credential.namespace}/${credential.serviceAccountName}`,
          tokenExpiresAt: tokenExpiry(credential.token),
          reason: describe(error),
        };
        log.error(
          {
            err: describe(error),
            serviceAccount: unrevoked.serviceAccount,
            tokenExpiresAt: unrevoked.tokenExpiresAt,
          },
          "lease revocation failed; it is retried until it succeeds",
        );
      }
      release();
      await hooks?.onRevoke?.(revoked, unrevoked);
      if (!result.ok) throw result.error;
      return { value: result.value, leaseId: credential.leaseId, revoked };
    },
    revokeLease,
    stats: () => ({ ...stats }),
  };
}

const SETUP_HINT =
  'a restarted dev server loses its configuration; run "deputy executor setup-openbao" (or apply manifests/openbao) against it';

/** OpenBao's words for a path nothing is mounted at, or a role or policy that is missing. */
function looksUnconfigured(error: OpenBaoError): boolean {
  const text = error.errors.join("; ");
  return (
    /no handler for route|route entry not found|unsupported path/i.test(text) ||
    /permission denied/i.test(text) ||
    /invalid role name|role .* not found|role not found/i.test(text)
  );
}

/**
 * A login that OpenBao answered but refused because it is not set up for
 * Deputy, as one sentence naming what is missing, rather than a bare
 * "permission denied (403)". The cause stays attached for the logs.
 */
async function notConfiguredForLogin(
  error: unknown,
  options: Pick<CredentialBrokerOptions, "openbao" | "authMount" | "authRole">,
): Promise<DeputyError | undefined> {
  if (!(error instanceof OpenBaoError) || ![400, 403, 404].includes(error.status)) return undefined;
  if (!looksUnconfigured(error)) return undefined;
  const said = error.errors.join("; ");
  let missing: string;
  if (/no handler for route|route entry not found|unsupported path/i.test(said)) {
    missing = `the Kubernetes auth method is not enabled at auth/${options.authMount}/`;
  } else if (/role/i.test(said)) {
    missing = `the Kubernetes auth role "${options.authRole}" does not exist`;
  } else {
    // "permission denied" means either no auth method there or a token it refused. A
    // mounted method names an unknown role (400); nothing mounted denies that too.
    const mounted = await options.openbao
      .request("POST", `auth/${options.authMount}/login`, {
        body: { role: `deputy-probe-${Date.now()}`, jwt: "probe" },
        schema: ignoredSchema,
      })
      .then(
        () => true,
        (probe: unknown) => !(probe instanceof OpenBaoError && probe.status === 403),
      );
    missing = mounted
      ? `the Kubernetes auth method at auth/${options.authMount}/ refused the executor's service-account token for role "${options.authRole}" (its Kubernetes host, CA or the role's bound service account is not set up for this cluster)`
      : `the Kubernetes auth method is not enabled at auth/${options.authMount}/`;
  }
  return new DeputyError(
    "CREDENTIAL_FAILED",
    `OpenBao at ${options.openbao.addr} answers but is not configured for Deputy: ${missing} (it said ${error.status} ${describeOpenBaoErrors(error)}); ${SETUP_HINT}.`,
    { cause: error, details: { status: error.status, authMount: options.authMount } },
  );
}

/** The same for minting: the secrets engine or the action type's role is missing. */
function notConfiguredForMint(
  error: unknown,
  options: Pick<CredentialBrokerOptions, "openbao" | "secretsMount">,
  roleName: string,
): DeputyError | undefined {
  if (!(error instanceof OpenBaoError) || ![400, 403, 404].includes(error.status)) return undefined;
  if (!looksUnconfigured(error)) return undefined;
  const missing = /no handler for route|route entry not found|unsupported path/i.test(error.errors.join("; "))
    ? `the Kubernetes secrets engine is not enabled at ${options.secretsMount}/`
    : /role/i.test(error.errors.join("; "))
      ? `the secrets-engine role "${roleName}" does not exist`
      : `Deputy's policy does not allow ${options.secretsMount}/creds/${roleName}`;
  return new DeputyError(
    "CREDENTIAL_FAILED",
    `OpenBao at ${options.openbao.addr} answers but is not configured for Deputy: ${missing} (it said ${error.status} ${describeOpenBaoErrors(error)}); ${SETUP_HINT}.`,
    { cause: error, details: { status: error.status, secretsMount: options.secretsMount, role: roleName } },
  );
}

function describeOpenBaoErrors(error: OpenBaoError): string {
  return error.errors.length > 0 ? `"${error.errors.join("; ")}"` : "with no reason";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
