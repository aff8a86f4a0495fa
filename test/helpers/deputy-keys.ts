import { randomBytes } from "node:crypto";
import {
  KEY_BYTES,
  KEY_ENTRIES,
  decodeKey,
  type DeputyKeys,
  type KeyPurpose,
} from "../../core/identity/keys.ts";
import { loadTestEnv } from "./testenv.ts";

/**
 * Deputy's keys in the test environment's OpenBao-compatible server, where
 * processes started by tests read them with their own Kubernetes-auth role
 * (DEPUTY_KEYS_FROM_OPENBAO), exactly as in a cluster. Written once with a
 * check-and-set, so concurrent test files agree on the same keys.
 */
export const TEST_KEYS_PATH = "secret/data/deputy/keys";

async function kv(method: "GET" | "POST", path: string, body?: unknown): Promise<Response> {
  const env = loadTestEnv();
  return fetch(`${env.baoAddr}/v1/${path}`, {
    method,
    headers: { "X-Vault-Token": env.baoRootToken, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function readKey(path: string): Promise<Buffer | undefined> {
  const response = await kv("GET", path);
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`OpenBao GET ${path}: ${response.status} ${await response.text()}`);
  const document = (await response.json()) as { data: { data: { key?: unknown } } };
  return decodeKey(document.data.data.key, path);
}

export async function ensureKeysInOpenBao(
  purposes: readonly KeyPurpose[] = ["action", "mcpCaller", "executorCaller"],
  /** Where the entries live; another path (one cluster's keys) for a bot serving several. */
  base: string = TEST_KEYS_PATH,
): Promise<DeputyKeys> {
  const keys: DeputyKeys = {};
  for (const purpose of purposes) {
    const path = `${base}/${KEY_ENTRIES[purpose]}`;
    let key = await readKey(path);
    if (!key) {
      // cas 0: only if nobody wrote it meanwhile; either way, read what is stored.
      await kv("POST", path, {
        options: { cas: 0 },
        data: { key: randomBytes(KEY_BYTES).toString("base64") },
      });
      key = await readKey(path);
    }
    if (!key) throw new Error(`OpenBao ${path} holds no key after writing one`);
    keys[purpose] = key;
  }
  return keys;
}
