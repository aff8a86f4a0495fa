import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/config.ts";
import { describeRedisLocation } from "../../core/state/redis-config.ts";
import { applyRedisSecrets } from "../../core/state/redis-secrets.ts";

/** Where Redis is and how to log in: a URL as always, or Sentinel as the HA charts run it. */
const redis = (env: Record<string, string>) => parseConfig(env).redis;
const problem = (env: Record<string, string>): string => {
  try {
    parseConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the configuration parsed");
};

describe("Redis configuration", () => {
  it("a plain URL stays what it was, with no WAIT", () => {
    const config = redis({ REDIS_URL: "redis://deputy:s3cret@redis.example:6380/2" });
    expect(config.connection).toEqual({ kind: "url", url: "redis://deputy:s3cret@redis.example:6380/2" });
    expect(config.url).toBe("redis://deputy:s3cret@redis.example:6380/2");
    expect(config.tls).toBe(false);
    expect(config.durability).toEqual({ replicas: 0, timeoutMs: 500 });
    expect(describeRedisLocation(config)).toBe("redis://deputy:***@redis.example:6380/2");
    expect(redis({ REDIS_URL: "rediss://redis.example:6380" }).tls).toBe(true);
  });

  it("sentinels and a master name, with separate credentials and TLS for each side", () => {
    const config = redis({
      DEPUTY_REDIS_SENTINELS: "node-0.redis-headless:26379, node-1.redis-headless:26379,[::1]:26380",
      DEPUTY_REDIS_SENTINEL_MASTER: "mymaster",
      DEPUTY_REDIS_USERNAME: "deputy",
      DEPUTY_REDIS_PASSWORD: "data-pass",
      DEPUTY_REDIS_SENTINEL_PASSWORD: "sentinel-pass",
      DEPUTY_REDIS_TLS: "true",
      DEPUTY_REDIS_SENTINEL_TLS: "true",
      DEPUTY_REDIS_WAIT_REPLICAS: "1",
      DEPUTY_REDIS_WAIT_TIMEOUT_MS: "250",
    });
    expect(config.connection).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "node-0.redis-headless", port: 26379 },
        { host: "node-1.redis-headless", port: 26379 },
        { host: "::1", port: 26380 },
      ],
      masterName: "mymaster",
      db: 0,
    });
    expect(config.auth).toEqual({ username: "deputy", password: "data-pass" });
    expect(config.sentinelAuth).toEqual({ username: undefined, password: "sentinel-pass" });
    expect([config.tls, config.sentinelTls]).toEqual([true, true]);
    expect(config.durability).toEqual({ replicas: 1, timeoutMs: 250 });
    expect(config.url).not.toContain("pass");
    expect(describeRedisLocation(config)).toBe(
      "sentinels node-0.redis-headless:26379, node-1.redis-headless:26379, ::1:26380 (master set mymaster)",
    );
  });

  it("the master set is mymaster unless named, as in the charts", () => {
    const config = redis({ DEPUTY_REDIS_SENTINELS: "a:26379" });
    expect(config.connection).toMatchObject({ kind: "sentinel", masterName: "mymaster" });
  });

  it("a redis+sentinel:// URL says the same in one setting; rediss+ turns TLS on for both", () => {
    const config = redis({
      REDIS_URL: "rediss+sentinel://deputy:p%40ss@s0:26379,s1:26379,s2:26379/deputy-ha/3",
    });
    expect(config.connection).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "s0", port: 26379 },
        { host: "s1", port: 26379 },
        { host: "s2", port: 26379 },
      ],
      masterName: "deputy-ha",
      db: 3,
    });
    expect(config.auth).toEqual({ username: "deputy", password: "p@ss" });
    expect([config.tls, config.sentinelTls]).toEqual([true, true]);
    expect(config.url).toBe("rediss+sentinel://s0:26379,s1:26379,s2:26379/deputy-ha/3");
    // The environment's password wins over the URL's.
    expect(
      redis({ REDIS_URL: "redis+sentinel://:old@s0:26379/m", DEPUTY_REDIS_PASSWORD: "new" }).auth.password,
    ).toBe("new");
  });

  it.each([
    [
      { REDIS_URL: "http://redis:6379" },
      /REDIS_URL must start with redis:\/\/, rediss:\/\/, redis\+sentinel:\/\//,
    ],
    [
      { REDIS_URL: "redis+sentinel://user:topsecret@/m" },
      /is not redis\+sentinel:\/\/\[user:password@\]host:port/,
    ],
    [{ DEPUTY_REDIS_SENTINELS: "s0:26379,s1" }, /DEPUTY_REDIS_SENTINELS: "s1" is not host:port/],
    [{ DEPUTY_REDIS_SENTINELS: "s0:99999" }, /"s0:99999" is not host:port/],
    [{ DEPUTY_REDIS_SENTINELS: " , " }, /DEPUTY_REDIS_SENTINELS names no sentinel/],
    [
      { DEPUTY_REDIS_SENTINELS: "s0:1", DEPUTY_REDIS_SENTINEL_MASTER: "my master" },
      /"my master" is not a master set name/,
    ],
    [
      { DEPUTY_REDIS_SENTINELS: "s0:1", REDIS_URL: "redis+sentinel://s1:2/m" },
      /Both REDIS_URL and DEPUTY_REDIS_SENTINELS name sentinels/,
    ],
    [
      { REDIS_URL: "redis+sentinel://s1:2/m", DEPUTY_REDIS_SENTINEL_MASTER: "n" },
      /already names the master set/,
    ],
    [
      { DEPUTY_REDIS_SENTINEL_PASSWORD: "x", DEPUTY_REDIS_SENTINEL_MASTER: "m" },
      /DEPUTY_REDIS_SENTINEL_MASTER, DEPUTY_REDIS_SENTINEL_PASSWORD are set but no sentinel is configured/,
    ],
    [{ DEPUTY_REDIS_WAIT_REPLICAS: "-1" }, /DEPUTY_REDIS_WAIT_REPLICAS/],
    [{ DEPUTY_REDIS_WAIT_TIMEOUT_MS: "0" }, /DEPUTY_REDIS_WAIT_TIMEOUT_MS/],
    [{ DEPUTY_REDIS_SECRETS_FROM_OPENBAO: "deputy/redis" }, /must be a KV v2 data path/],
  ])("refuses %o with a sentence", (env, message) => {
    const text = problem(env);
    expect(text).toMatch(message);
    // No password ever appears in a configuration error.
    expect(text).not.toContain("topsecret");
  });

  it("credentials from OpenBao win over the environment's, side by side", () => {
    const config = redis({
      DEPUTY_REDIS_SENTINELS: "s0:26379",
      DEPUTY_REDIS_PASSWORD: "from-env",
      DEPUTY_REDIS_SENTINEL_USERNAME: "watcher",
    });
    const applied = applyRedisSecrets(config, { password: "from-bao", sentinel_password: "s-bao" });
    expect(applied.auth).toEqual({ username: undefined, password: "from-bao" });
    expect(applied.sentinelAuth).toEqual({ username: "watcher", password: "s-bao" });
    expect(config.auth.password).toBe("from-env");
  });
});
