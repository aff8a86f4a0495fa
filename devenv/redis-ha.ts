import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { DeputyError } from "../core/errors.ts";
import { parseRedisConfig, type RedisConfig } from "../core/state/redis-config.ts";
import { findRedisServer } from "./redis.ts";
import { freePort, startDetached, waitUntil, type ProcessRecord } from "./processes.ts";

/**
 * A Redis in replication with Sentinel, as the Helm charts' HA mode runs it:
 * one primary, one replica and three sentinels (quorum 2), each a real
 * redis-server process on its own loopback port, in a temporary directory of
 * its own, never the machine's shared Redis. Failover is fast on purpose
 * (a primary silent for 1 s is down), so tests can kill the primary and wait
 * for the promotion. `stop` ends every process this set started.
 */

export const HA_MASTER_NAME = "deputy-ha";

export interface RedisNode {
  name: string;
  port: number;
  record: ProcessRecord;
}

export interface RedisHa {
  dir: string;
  masterName: string;
  /** Data nodes, in start order: the first starts as primary. */
  nodes: RedisNode[];
  sentinels: RedisNode[];
  /** "127.0.0.1:p1,127.0.0.1:p2,…" as DEPUTY_REDIS_SENTINELS takes it. */
  sentinelList: string;
  /** The CA that signed every node's certificate, when the set speaks TLS only. */
  caFile: string | undefined;
  /** The environment that points Deputy at this set (sentinels, master, credentials, TLS, WAIT settings). */
  env(options?: { waitReplicas?: number; waitTimeoutMs?: number }): Record<string, string>;
  /** The parsed configuration for createRedisClient, with the given key prefix. */
  config(prefix: string, options?: { waitReplicas?: number; waitTimeoutMs?: number }): RedisConfig;
  /** The data node the sentinels name as primary now. */
  primary(): Promise<RedisNode>;
  /** The data nodes replicating from the primary now (alive, not the primary). */
  replicas(): Promise<RedisNode[]>;
  /** SIGKILL the current primary (no shutdown, no last replication); returns it. */
  killPrimary(): Promise<RedisNode>;
  /** Wait until the sentinels name a node other than `old` and that node answers as master. */
  waitForFailover(old: RedisNode, timeoutMs?: number): Promise<RedisNode>;
  /** Wait until the primary has `count` online replicas. */
  waitForReplicas(count: number, timeoutMs?: number): Promise<void>;
  /** Stop (SIGSTOP) or resume (SIGCONT) a process: a frozen replica acknowledges nothing. */
  freeze(node: RedisNode): void;
  thaw(node: RedisNode): void;
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";

interface HaAuth {
  username?: string | undefined;
  password?: string | undefined;
  /** The CA to trust: the node speaks TLS only. */
  ca?: Buffer | undefined;
}

async function answers(
  port: number,
  check: (redis: Redis) => Promise<boolean>,
  auth: HaAuth = {},
): Promise<boolean> {
  const redis = new Redis({
    host: HOST,
    port,
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password ? { password: auth.password } : {}),
    ...(auth.ca ? { tls: { ca: auth.ca } } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return await check(redis);
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();
}

export interface RedisHaOptions {
  /** Replicas of the primary (default 1). */
  replicas?: number;
  /** An ACL user (all rights) and password on the data nodes; replicas and sentinels use them too. */
  auth?: { username: string; password: string };
  /** The sentinels' own password (requirepass on each sentinel). */
  sentinelPassword?: string;
  /**
   * TLS only, on every data node and sentinel and between them, with a
   * certificate for 127.0.0.1 from a CA made for this set (`caFile`).
   */
  tls?: boolean;
}

const execFileAsync = promisify(execFile);

/** A CA and a certificate for 127.0.0.1 it signed, made with openssl in `dir`. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const files = { ca: join(dir, "ca.crt"), cert: join(dir, "redis.crt"), key: join(dir, "redis.key") };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const openssl = async (args: string[]): Promise<void> => {
    try {
      await execFileAsync("openssl", args, { cwd: dir, timeout: 20_000 });
    } catch (error) {
      throw new DeputyError("TESTENV_FAILED", `openssl ${args[0]} failed; is openssl installed?`, {
        cause: error,
      });
    }
  };
  await openssl([
    "req",
    "-x509",
    "-new",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    files.ca,
    "-days",
    "2",
    "-subj",
    "/CN=deputy-test-redis-ca",
  ]);
  await openssl(["req", "-new", ...ec, "-keyout", files.key, "-out", "redis.csr", "-subj", "/CN=127.0.0.1"]);
  await writeFile(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    "redis.csr",
    "-CA",
    files.ca,
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    files.cert,
    "-days",
    "2",
    "-extfile",
    "san.ext",
  ]);
  return files;
}

export async function startRedisHa(options: RedisHaOptions = {}): Promise<RedisHa> {
  const server = await findRedisServer();
  if (!server)
    throw new DeputyError("TESTENV_FAILED", "redis-server is not installed (apt-get install redis-server)");
  const dir = await mkdtemp(join(tmpdir(), "deputy-redis-ha-"));
  const certificates = options.tls ? await makeCertificates(dir) : undefined;
  const ca = certificates ? readFileSync(certificates.ca) : undefined;
  const dataAuth: HaAuth = { ...options.auth, ca };
  const sentinelAuth: HaAuth = { password: options.sentinelPassword, ca };
  // TLS only: the plain port is closed, the TLS port is the node's port, and nodes speak TLS to each other.
  const tlsSettings: [string, string][] = certificates
    ? [
        ["tls-cert-file", certificates.cert],
        ["tls-key-file", certificates.key],
        ["tls-ca-cert-file", certificates.ca],
        ["tls-auth-clients", "no"],
        ["tls-replication", "yes"],
      ]
    : [];
  const portArgs = certificates ? ["--port", "0", "--tls-port", "{port}"] : ["--port", "{port}"];
  const dirs = { pidDir: join(dir, "pids"), logDir: join(dir, "logs") };
  const started: RedisNode[] = [];
  // redis-server rewrites its process title ("redis-server 127.0.0.1:port"), so a process is
  // known as this set's by its working directory, the set's own, rather than by its command line.
  const ours = async (pid: number): Promise<boolean> => {
    try {
      return (await readlink(`/proc/${pid}/cwd`)).startsWith(dir);
    } catch {
      return false;
    }
  };
  const stop = async (): Promise<void> => {
    for (const node of started) {
      if (!(await ours(node.record.pid))) continue;
      try {
        process.kill(node.record.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await waitUntil(
      "the Redis set's processes to stop",
      async () => (await Promise.all(started.map((node) => ours(node.record.pid)))).every((alive) => !alive),
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const start = async (name: string, args: string[]): Promise<RedisNode> => {
      const port = await freePort();
      const record = await startDetached({
        name,
        executable: server,
        args: args.map((arg) => arg.replaceAll("{port}", String(port))),
        cwd: dir,
        ...dirs,
      });
      const node = { name, port, record };
      started.push(node);
      await waitUntil(
        `${name} on port ${port}`,
        () =>
          answers(
            port,
            async (r) => (await r.ping()) === "PONG",
            name.startsWith("sentinel") ? sentinelAuth : dataAuth,
          ),
        {
          timeoutMs: 10_000,
          log: record.log,
        },
      );
      return node;
    };
    const dataArgs = (name: string): string[] => [
      "--bind",
      HOST,
      ...portArgs,
      ...tlsSettings.flatMap(([setting, value]) => [`--${setting}`, value]),
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--dbfilename",
      `${name}.rdb`,
      "--repl-diskless-sync",
      "yes",
      "--repl-diskless-sync-delay",
      "0",
      "--repl-ping-replica-period",
      "1",
      ...(options.auth
        ? [
            "--user",
            options.auth.username,
            "on",
            `>${options.auth.password}`,
            "~*",
            "&*",
            "+@all",
            "--requirepass",
            options.auth.password,
            "--masteruser",
            options.auth.username,
            "--masterauth",
            options.auth.password,
          ]
        : []),
    ];
    const primary = await start("redis-ha-0", dataArgs("redis-ha-0"));
    const nodes = [primary];
    for (let i = 1; i <= (options.replicas ?? 1); i++) {
      nodes.push(
        await start(`redis-ha-${i}`, [
          ...dataArgs(`redis-ha-${i}`),
          "--replicaof",
          HOST,
          String(primary.port),
        ]),
      );
    }
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const file = join(dir, `sentinel-${i}.conf`);
      // Sentinel rewrites its file, so each has its own.
      await writeFile(
        file,
        [
          `bind ${HOST}`,
          `dir ${dir}`,
          ...tlsSettings.map(([setting, value]) => `${setting} ${value}`),
          `sentinel monitor ${HA_MASTER_NAME} ${HOST} ${primary.port} 2`,
          `sentinel down-after-milliseconds ${HA_MASTER_NAME} 1000`,
          `sentinel failover-timeout ${HA_MASTER_NAME} 4000`,
          `sentinel parallel-syncs ${HA_MASTER_NAME} 1`,
          ...(options.auth
            ? [
                `sentinel auth-user ${HA_MASTER_NAME} ${options.auth.username}`,
                `sentinel auth-pass ${HA_MASTER_NAME} ${options.auth.password}`,
              ]
            : []),
          ...(options.sentinelPassword
            ? [
                `requirepass ${options.sentinelPassword}`,
                `sentinel sentinel-pass ${options.sentinelPassword}`,
              ]
            : []),
          "",
        ].join("\n"),
      );
      sentinels.push(await start(`sentinel-${i}`, [file, "--sentinel", ...portArgs]));
    }
    const killed = new Set<RedisNode>();
    const sentinelList = sentinels.map((node) => `${HOST}:${node.port}`).join(",");
    const nodeAt = (port: number): RedisNode | undefined => nodes.find((node) => node.port === port);
    const askSentinels = async (): Promise<RedisNode | undefined> => {
      for (const sentinel of sentinels) {
        let port: number | undefined;
        const ok = await answers(
          sentinel.port,
          async (redis) => {
            const reply = (await redis.call("SENTINEL", "get-master-addr-by-name", HA_MASTER_NAME)) as
              [string, string] | null;
            port = reply ? Number(reply[1]) : undefined;
            return port !== undefined;
          },
          sentinelAuth,
        );
        if (ok && port !== undefined) return nodeAt(port);
      }
      return undefined;
    };
    const isMaster = (node: RedisNode): Promise<boolean> =>
      answers(
        node.port,
        async (redis) => infoField(await redis.info("replication"), "role") === "master",
        dataAuth,
      );
    const onlineReplicas = async (): Promise<number> => {
      const current = await askSentinels();
      if (!current) return 0;
      let count = 0;
      await answers(
        current.port,
        async (redis) => {
          const info = await redis.info("replication");
          count = (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
          return true;
        },
        dataAuth,
      );
      return count;
    };
    const ha: RedisHa = {
      dir,
      masterName: HA_MASTER_NAME,
      nodes,
      sentinels,
      sentinelList,
      caFile: certificates?.ca,
      env: (settings = {}) => ({
        DEPUTY_REDIS_SENTINELS: sentinelList,
        DEPUTY_REDIS_SENTINEL_MASTER: HA_MASTER_NAME,
        ...(dataAuth.username ? { DEPUTY_REDIS_USERNAME: dataAuth.username } : {}),
        ...(dataAuth.password ? { DEPUTY_REDIS_PASSWORD: dataAuth.password } : {}),
        ...(sentinelAuth.password ? { DEPUTY_REDIS_SENTINEL_PASSWORD: sentinelAuth.password } : {}),
        ...(certificates
          ? {
              DEPUTY_REDIS_TLS: "true",
              DEPUTY_REDIS_SENTINEL_TLS: "true",
              DEPUTY_REDIS_TLS_CA_FILE: certificates.ca,
            }
          : {}),
        DEPUTY_REDIS_WAIT_REPLICAS: String(settings.waitReplicas ?? 0),
        DEPUTY_REDIS_WAIT_TIMEOUT_MS: String(settings.waitTimeoutMs ?? 500),
      }),
      config: (prefix, settings = {}) =>
        parseRedisConfig({
          url: "redis://127.0.0.1:6379",
          prefix,
          sentinels: sentinelList,
          sentinelMaster: HA_MASTER_NAME,
          username: dataAuth.username,
          password: dataAuth.password,
          sentinelPassword: sentinelAuth.password,
          tls: certificates !== undefined,
          sentinelTls: certificates !== undefined,
          caFile: certificates?.ca,
          waitReplicas: settings.waitReplicas ?? 0,
          waitTimeoutMs: settings.waitTimeoutMs ?? 500,
        }),
      async primary() {
        const node = await askSentinels();
        if (!node) throw new DeputyError("TESTENV_FAILED", "no sentinel names a primary");
        return node;
      },
      async replicas() {
        const primary = await ha.primary();
        return nodes.filter((node) => node !== primary && !killed.has(node));
      },
      async killPrimary() {
        const node = await ha.primary();
        process.kill(node.record.pid, "SIGKILL");
        killed.add(node);
        return node;
      },
      async waitForFailover(old, timeoutMs = 30_000) {
        let promoted: RedisNode | undefined;
        await waitUntil(
          `Sentinel failover away from ${old.name}`,
          async () => {
            const named = await askSentinels();
            if (!named || named.port === old.port || !(await isMaster(named))) return false;
            promoted = named;
            return true;
          },
          { timeoutMs, intervalMs: 100, log: sentinels[0]!.record.log },
        );
        return promoted!;
      },
      async waitForReplicas(count, timeoutMs = 15_000) {
        await waitUntil(`${count} online replica(s)`, async () => (await onlineReplicas()) >= count, {
          timeoutMs,
          intervalMs: 100,
          log: nodes[0]!.record.log,
        });
      },
      freeze: (node) => process.kill(node.record.pid, "SIGSTOP"),
      thaw: (node) => process.kill(node.record.pid, "SIGCONT"),
      stop,
    };
    await ha.waitForReplicas(nodes.length - 1);
    // Every sentinel knows the others and the replicas before anything fails.
    await waitUntil(
      "sentinels to discover each other",
      async () => {
        for (const sentinel of sentinels) {
          let known = false;
          await answers(
            sentinel.port,
            async (redis) => {
              const master = (await redis.call("SENTINEL", "master", HA_MASTER_NAME)) as string[];
              const field = (name: string): number => Number(master[master.indexOf(name) + 1] ?? "0");
              known = field("num-other-sentinels") >= 2 && field("num-slaves") >= nodes.length - 1;
              return true;
            },
            sentinelAuth,
          );
          if (!known) return false;
        }
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 200, log: sentinels[0]!.record.log },
    );
    return ha;
  } catch (error) {
    await stop();
    throw error;
  }
}
