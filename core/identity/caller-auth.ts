import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { conversationSchema, identitySchema } from "./identity.ts";

/**
 * Caller authentication between Deputy's own components, in addition to the
 * mesh: the bot signs every request to the MCP server and to the executor
 * with a short-lived assertion, an HMAC-SHA256 (key per purpose, see
 * core/identity/keys.ts) over the method, path, body digest, time, a nonce and the
 * claims it vouches for (who asked, from which conversation, the approver's
 * verified group membership). The receiver checks the MAC, that method, path
 * and body are the ones signed, that the time is within the skew window, and
 * that the nonce was never seen (Redis SET NX), so a captured header cannot
 * be replayed or moved to another body. Only holders of the key can vouch
 * for an identity; a pod that merely reaches the port cannot.
 */
export const ASSERTION_HEADER = "x-deputy-assertion";
export const ASSERTION_VERSION = "v1";
/** Accepted distance between the signer's clock and ours, either way. */
export const DEFAULT_SKEW_SECONDS = 60;

export type CallerPurpose = "mcp" | "executor";

export const callerClaimsSchema = z
  .object({
    requester: identitySchema.optional(),
    conversation: conversationSchema.optional(),
    /** Approver user groups the signer verified the approver belongs to. */
    approverGroups: z.array(z.string().min(1).max(64)).max(20).optional(),
    /** The approval policy's user groups the signer verified each person (Slack user id) is in. */
    groupMembers: z
      .record(z.string().regex(/^[UW][A-Z0-9]{1,30}$/), z.array(z.string().min(1).max(64)).max(20))
      .optional(),
  })
  .strict();
export type CallerClaims = z.infer<typeof callerClaimsSchema>;

const payloadSchema = z
  .object({
    a: z.enum(["mcp", "executor"]),
    m: z.string().min(1).max(10),
    p: z.string().min(1).max(512),
    b: z.string().regex(/^[0-9a-f]{64}$/),
    t: z.number().int(),
    n: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
    c: callerClaimsSchema.optional(),
  })
  .strict();

export function bodyDigest(body: string | Uint8Array): string {
  return createHash("sha256").update(body).digest("hex");
}

function mac(key: Buffer, payload: string): Buffer {
  return createHmac("sha256", key).update(`${ASSERTION_VERSION}.${payload}`).digest();
}

export interface SignRequest {
  method: string;
  /** URL path only (no query, no host): what the receiver routes on. */
  path: string;
  body: string | Uint8Array;
  claims?: CallerClaims;
  /** Seconds since the epoch; tests move it. */
  now?: number;
}

/** The header value for one request. */
export function signAssertion(key: Buffer, purpose: CallerPurpose, request: SignRequest): string {
  const payload = {
    a: purpose,
    m: request.method.toUpperCase(),
    p: request.path,
    b: bodyDigest(request.body),
    t: request.now ?? Math.floor(Date.now() / 1000),
    n: randomBytes(16).toString("base64url"),
    ...(request.claims ? { c: callerClaimsSchema.parse(request.claims) } : {}),
  };
  const encoded = Buffer.from(JSON.stringify(payload)).toString("base64url");
  return `${ASSERTION_VERSION}.${encoded}.${mac(key, encoded).toString("base64url")}`;
}

export type VerifyResult = { ok: true; claims: CallerClaims } | { ok: false; reason: string };

export interface CallerVerifier {
  readonly purpose: CallerPurpose;
  verify(request: {
    header: string | string[] | undefined;
    method: string;
    path: string;
    body: string | Uint8Array;
  }): Promise<VerifyResult>;
}

export function createCallerVerifier(options: {
  key: Buffer;
  purpose: CallerPurpose;
  redis: Redis;
  /** Redis key prefix (config.redis.prefix). */
  prefix: string;
  skewSeconds?: number;
  now?: () => number;
}): CallerVerifier {
  const skew = options.skewSeconds ?? DEFAULT_SKEW_SECONDS;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    purpose: options.purpose,
    async verify(request) {
      const header = Array.isArray(request.header) ? undefined : request.header;
      if (!header) return { ok: false, reason: `no ${ASSERTION_HEADER} header` };
      const parts = header.split(".");
      if (parts.length !== 3 || parts[0] !== ASSERTION_VERSION) {
        return { ok: false, reason: "malformed assertion" };
      }
      const [, encoded, signature] = parts as [string, string, string];
      const expected = mac(options.key, encoded);
      const given = Buffer.from(signature, "base64url");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return { ok: false, reason: "bad signature" };
      }
      let payload: z.infer<typeof payloadSchema>;
      try {
        payload = payloadSchema.parse(JSON.parse(Buffer.from(encoded, "base64url").toString("utf8")));
      } catch {
        return { ok: false, reason: "malformed assertion" };
      }
      if (payload.a !== options.purpose) return { ok: false, reason: `signed for ${payload.a}` };
      if (payload.m !== request.method.toUpperCase() || payload.p !== request.path) {
        return { ok: false, reason: "signed for another method or path" };
      }
      if (payload.b !== bodyDigest(request.body)) return { ok: false, reason: "body does not match" };
      const age = now() - payload.t;
      if (Math.abs(age) > skew) {
        return {
          ok: false,
          reason: age < 0 ? `timestamped ${-age} s in the future` : `expired ${age} s ago`,
        };
      }
      // Remembered for twice the window: after that the timestamp check refuses it anyway.
      const fresh = await options.redis.set(
        `${options.prefix}caller-nonce:${payload.a}:${payload.n}`,
        "1",
        "EX",
        2 * skew + 1,
        "NX",
      );
      if (fresh !== "OK") return { ok: false, reason: "replayed assertion" };
      return { ok: true, claims: payload.c ?? {} };
    },
  };
}

/**
 * A fetch that signs every request it sends (for the MCP SDK's transport and
 * the executor client). `claimsOf` reads the claims from the body the caller
 * built, so what is vouched for is exactly what is sent.
 */
export function signingFetch(options: {
  key: Buffer;
  purpose: CallerPurpose;
  claimsOf?: (body: string) => CallerClaims | undefined;
  fetch?: typeof fetch;
}): typeof fetch {
  const doFetch = options.fetch ?? fetch;
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const body = typeof init?.body === "string" ? init.body : "";
    if (init?.body !== undefined && init.body !== null && typeof init.body !== "string") {
      throw new TypeError("signingFetch signs string bodies only");
    }
    const claims = options.claimsOf?.(body);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set(
      ASSERTION_HEADER,
      signAssertion(options.key, options.purpose, {
        method,
        path: url.pathname,
        body,
        ...(claims ? { claims } : {}),
      }),
    );
    return doFetch(input, { ...init, headers });
  };
}
