import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isDeputyError } from "../../core/errors.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { loadOpenBaoRoles, roleForAction } from "../../core/identity/openbao-roles.ts";
import { createCredentialBroker } from "../../executor/credential-broker.ts";
import { createOpenBaoClient } from "../../executor/openbao-client.ts";
import { TEST_MOUNT } from "../executor/write-env.ts";
import { loadTestEnv } from "../helpers/testenv.ts";
import { startBareVault, type BareVault } from "./support.ts";

/**
 * OpenBao answers but knows nothing of Deputy, as a dev server does after a
 * restart: no Kubernetes auth method, no secrets engine, no roles. The
 * executor's credential broker must say that, not "permission denied (403)".
 */
let vault: BareVault;
let jwtPath: string;
let dir: string;

beforeAll(async () => {
  vault = await startBareVault();
  dir = await mkdtemp(join(tmpdir(), "deputy-faults-bao-"));
  jwtPath = join(dir, "token");
  await writeFile(jwtPath, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
});

afterAll(async () => {
  await vault?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("an OpenBao that answers but is not configured", () => {
  it("is named as such when the executor logs in, with what to run", async () => {
    const broker = createCredentialBroker({
      openbao: createOpenBaoClient({ addr: vault.addr }),
      logger: createLogger({ level: "silent" }),
      authMount: "kubernetes",
      authRole: "deputy-executor",
      secretsMount: "kubernetes",
      jwtPath,
      retry: { attempts: 1 },
    });
    const role = roleForAction(loadOpenBaoRoles(), "restart_deployment");
    let used = false;
    const failure = await broker
      .withCredential({ role, namespace: "shop" }, async () => {
        used = true;
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(used).toBe(false);
    expect(isDeputyError(failure, "CREDENTIAL_FAILED")).toBe(true);
    const message = (failure as Error).message;
    expect(message).toContain(`OpenBao at ${vault.addr} answers but is not configured for Deputy`);
    expect(message).toContain("the Kubernetes auth method is not enabled at auth/kubernetes/");
    expect(message).toContain('run "deputy executor setup-openbao"');
    expect(broker.stats().minted).toBe(0);
  });

  it("does not call a configured auth method missing when it refuses a token for its own reason", async () => {
    const env = loadTestEnv();
    // The test environment's OpenBao has the test mount configured; this token is not one it trusts.
    const broker = createCredentialBroker({
      openbao: createOpenBaoClient({ addr: env.baoAddr }),
      logger: createLogger({ level: "silent" }),
      authMount: TEST_MOUNT,
      authRole: "deputy-executor",
      secretsMount: TEST_MOUNT,
      jwtPath,
      retry: { attempts: 1 },
    });
    const role = roleForAction(loadOpenBaoRoles(), "restart_deployment");
    const failure = await broker
      .withCredential({ role, namespace: "shop" }, async () => undefined)
      .then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    // A configured method says why it refused the token; that is passed on, not called "not configured".
    expect(failure?.message).toContain("invalid audience");
    expect(failure?.message).not.toContain("not configured for Deputy");
  });
});
