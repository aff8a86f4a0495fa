import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { isDeputyError } from "../../core/errors.ts";
import {
  decodeKey,
  generateKeys,
  KEY_BYTES,
  keysOfCluster,
  loadDeputyKeys,
} from "../../core/identity/keys.ts";
import { createLogger } from "../../core/observability/logger.ts";

describe("Deputy's keys", () => {
  it("refuses to run a production component without a key source, naming the setting", async () => {
    const error = await loadDeputyKeys({
      purposes: ["action", "executorCaller"],
      source: undefined,
      component: "deputy executor",
    }).catch((e: unknown) => e);
    expect(isDeputyError(error, "CONFIG_INVALID")).toBe(true);
    expect((error as Error).message).toBe(
      "deputy executor needs Deputy's action and executorCaller keys and has none: set DEPUTY_KEYS_FROM_OPENBAO (e.g. secret/data/deputy/keys) so they are read from OpenBao at start-up",
    );
  });

  it("generates fresh 32-byte keys per purpose (local mode, tests)", async () => {
    const a = await loadDeputyKeys({
      purposes: ["action", "mcpCaller"],
      source: { kind: "generate" },
      component: "local mode",
    });
    const b = generateKeys(["action"]);
    expect(a.action).toHaveLength(KEY_BYTES);
    expect(a.mcpCaller).toHaveLength(KEY_BYTES);
    expect(a.executorCaller).toBeUndefined();
    expect(a.action!.equals(a.mcpCaller!)).toBe(false);
    expect(a.action!.equals(b.action!)).toBe(false);
  });

  it("generates a separate set per cluster for a bot serving several, and refuses a cluster it has none for", async () => {
    const keys = await loadDeputyKeys({
      purposes: ["action", "mcpCaller"],
      clusters: ["prod-eu", "prod-us"],
      source: { kind: "generate" },
      component: "deputy bot",
    });
    const eu = keysOfCluster(keys, "prod-eu", true);
    const us = keysOfCluster(keys, "prod-us", true);
    expect(eu.action).toHaveLength(KEY_BYTES);
    expect(eu.action!.equals(us.action!)).toBe(false);
    expect(eu.mcpCaller!.equals(us.mcpCaller!)).toBe(false);
    expect(keys.action).toBeUndefined();
    expect(() => keysOfCluster(keys, "staging", true)).toThrow("no keys are loaded for cluster staging");
    // One cluster: the keys themselves.
    expect(keysOfCluster(keys, "prod-eu", false)).toBe(keys);
  });

  it("accepts only base64 of exactly 32 bytes from KV", () => {
    expect(decodeKey(Buffer.alloc(32, 7).toString("base64"), "kv")).toHaveLength(32);
    expect(() =>
      decodeKey(Buffer.alloc(16).toString("base64"), "OpenBao secret/data/deputy/keys/action"),
    ).toThrow(
      'OpenBao secret/data/deputy/keys/action field "key" must hold 32 random bytes (it holds 16); create it with: openssl rand -base64 32',
    );
    expect(() => decodeKey(42, "kv")).toThrow(/must be base64 text/);
  });

  it("never writes key bytes to the log", () => {
    let text = "";
    const logger = createLogger({
      destination: new Writable({
        write(chunk: Buffer, _encoding, callback) {
          text += chunk.toString();
          callback();
        },
      }),
    });
    const keys = generateKeys(["action", "executorCaller"]);
    logger.info({ keys }, "loaded");
    logger.info({ deps: { keys } }, "wired");
    for (const key of Object.values(keys)) {
      expect(text).not.toContain(key.toString("base64"));
      expect(text).not.toContain(key.toString("hex"));
    }
    expect(text).toContain("[redacted]");
  });
});
