import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import createVault from "node-vault";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DeputyError } from "../../core/errors.ts";
import { createLogger } from "../../core/observability/logger.ts";
import {
  createOpenBaoClient,
  ignoredSchema,
  loginResponseSchema,
  OpenBaoError,
  type OpenBaoTransport,
} from "../../executor/openbao-client.ts";
import { loadTestEnv } from "../helpers/testenv.ts";

/**
 * The OpenBao client over node-vault, against the test environment's Vault
 * dev server: KV v2 through node-vault's own transport, and no token in any
 * error or log line, whatever goes wrong.
 */
const env = loadTestEnv();
const root = createOpenBaoClient({ addr: env.baoAddr });
let token: string;
const sockets: Socket[] = [];
let silent: Server;
let silentAddr: string;

beforeAll(async () => {
  // A real token with only the default policy: it may not read Deputy's secrets.
  const created = await root.request("POST", "auth/token/create", {
    token: env.baoRootToken,
    body: { policies: ["default"], ttl: "10m", no_parent: true },
    schema: loginResponseSchema,
  });
  token = created.auth.client_token;
  // A server that accepts and never answers (a hung OpenBao).
  silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentAddr = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  silent?.close();
  await root
    .request("POST", "auth/token/revoke", { token: env.baoRootToken, body: { token }, schema: ignoredSchema })
    .catch(() => undefined);
});

function capture(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: createLogger({ level: "debug", destination }), text: () => text };
}

describe("OpenBao client over node-vault", () => {
  it("writes and reads KV v2 with a token passed per call, through node-vault's own transport", async () => {
    const path = `secret/data/deputy-test/client-${randomBytes(4).toString("hex")}`;
    await root.request("POST", path, {
      token: env.baoRootToken,
      body: { data: { key: "value-1" } },
      schema: z.object({ data: z.object({ version: z.number() }).loose() }).loose(),
    });
    const read = await root.request("GET", path, {
      token: env.baoRootToken,
      schema: z.object({ data: z.object({ data: z.object({ key: z.string() }) }).loose() }).loose(),
    });
    expect(read.data.data.key).toBe("value-1");
    // A read-style path with a body: the secrets engine's credentials are asked for this way.
    const refused = await root
      .request("POST", "no-such-mount/creds/role", {
        token: env.baoRootToken,
        body: { kubernetes_namespace: "shop" },
        schema: ignoredSchema,
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenBaoError);
    expect((refused as OpenBaoError).status).toBe(404);
  });

  it("node-vault's own transport errors carry the token (why the client keeps only their message)", async () => {
    const vault = createVault({ endpoint: "http://127.0.0.1:9", token, debug: () => undefined });
    const raw = await vault.read("secret/data/anything").catch((error: unknown) => error);
    expect(inspect(raw, { depth: 8 })).toContain(token);
  });

  it("puts no token in any error or log line: refused, unreachable, hung, malformed, cancelled", async () => {
    const errors: unknown[] = [];
    const fail = (promise: Promise<unknown>): Promise<void> =>
      promise.then(
        () => {
          throw new Error("expected a failure");
        },
        (error: unknown) => void errors.push(error),
      );
    // Refused by OpenBao (permission denied for this token).
    await fail(root.request("GET", "secret/data/deputy/keys/action", { token, schema: ignoredSchema }));
    // Unreachable.
    await fail(
      createOpenBaoClient({ addr: "http://127.0.0.1:9" }).request("POST", "auth/token/revoke-self", {
        token,
        schema: ignoredSchema,
      }),
    );
    // Hung: the transport's timeout.
    await fail(
      createOpenBaoClient({ addr: silentAddr, timeoutMs: 300 }).request("PUT", "auth/token/renew-self", {
        token,
        schema: ignoredSchema,
      }),
    );
    // Cancelled by the caller.
    await fail(
      createOpenBaoClient({ addr: silentAddr, timeoutMs: 60_000 }).request("GET", "auth/token/lookup-self", {
        token,
        schema: ignoredSchema,
        signal: AbortSignal.timeout(200),
      }),
    );
    // An answer that is not what Deputy expects.
    await fail(root.request("GET", "auth/token/lookup-self", { token, schema: loginResponseSchema }));

    expect(errors.map((e) => (e as Error).constructor.name)).toEqual([
      "OpenBaoError",
      "OpenBaoError",
      "OpenBaoError",
      "OpenBaoError",
      "DeputyError",
    ]);
    expect(errors.slice(0, 4).map((e) => (e as OpenBaoError).status)).toEqual([403, 0, 0, 0]);
    expect(errors[4]).toBeInstanceOf(DeputyError);
    const { logger, text } = capture();
    for (const error of errors) {
      logger.error({ err: error }, "OpenBao call failed");
      expect(inspect(error, { depth: Infinity })).not.toContain(token);
      expect(JSON.stringify(error)).not.toContain(token);
      expect(String((error as Error).cause ?? "")).not.toContain(token);
    }
    expect(text().split("\n").filter(Boolean)).toHaveLength(errors.length);
    expect(text()).not.toContain(token);
  });

  it("takes an injected transport: the token per call as a header, the body as JSON, no VAULT_* from the environment", async () => {
    const seen: { method: string; uri: string; headers?: Record<string, string>; json?: unknown }[] = [];
    let answer: unknown = { auth: { client_token: "s.fake", lease_duration: 60 } };
    const transport: OpenBaoTransport = {
      defaults: () => async (options) => {
        seen.push(options);
        return { statusCode: 200, body: answer, request: { path: new URL(options.uri).pathname } };
      },
    };
    const saved = { token: process.env.VAULT_TOKEN, prefix: process.env.VAULT_PREFIX };
    process.env.VAULT_TOKEN = "ambient-token";
    process.env.VAULT_PREFIX = "/elsewhere";
    try {
      const client = createOpenBaoClient({ addr: "http://openbao.test:8200/", transport });
      const login = await client.request("POST", "auth/kubernetes/login", {
        body: { role: "deputy-executor", jwt: "a.b.c" },
        schema: loginResponseSchema,
      });
      expect(login.auth.client_token).toBe("s.fake");
      answer = { unexpected: true };
      const malformed = await client
        .request("POST", "kubernetes/creds/deputy-scale", {
          token: "per-call-token",
          body: { kubernetes_namespace: "shop" },
          schema: loginResponseSchema,
        })
        .catch((error: unknown) => error);
      expect(malformed).toBeInstanceOf(DeputyError);
      expect((malformed as DeputyError).message).toMatch(/unexpected document/);
    } finally {
      if (saved.token === undefined) delete process.env.VAULT_TOKEN;
      else process.env.VAULT_TOKEN = saved.token;
      if (saved.prefix === undefined) delete process.env.VAULT_PREFIX;
      else process.env.VAULT_PREFIX = saved.prefix;
    }
    expect(seen.map((r) => `${r.method} ${r.uri}`)).toEqual([
      "POST http://openbao.test:8200/v1/auth/kubernetes/login",
      "POST http://openbao.test:8200/v1/kubernetes/creds/deputy-scale",
    ]);
    expect(seen[0]!.headers?.["X-Vault-Token"]).toBeUndefined();
    expect(seen[0]!.json).toEqual({ role: "deputy-executor", jwt: "a.b.c" });
    expect(seen[1]!.headers?.["X-Vault-Token"]).toBe("per-call-token");
    expect(seen[1]!.json).toEqual({ kubernetes_namespace: "shop" });
  });
});
