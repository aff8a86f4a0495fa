import type { ChainableCommander, Redis } from "ioredis";
import { fixRecordSchema, fixSignature, verdictOf, type FixRecord } from "./fix-record.ts";

/**
 * Remembered fixes in Redis, per cluster:
 * - `<prefix>memory:<cluster>:ns:<namespace>:cause:<causeKey>`: a hash of the
 *   fixes of that cause in that namespace, field = action id, value = the
 *   record. Recall reads exactly these hashes, in one round trip;
 * - `<prefix>memory:<cluster>:ns:<namespace>:causes`: the cause keys that have
 *   fixes there (for `/deputy history`);
 * - `<prefix>memory:<cluster>:fix:<actionId>`: which hash holds a fix (to mark
 *   it undone).
 * Every key expires `retentionSeconds` after its last write, and a record
 * older than that is neither recalled nor listed, so nothing is kept longer
 * than the retention whether or not the namespace sees new fixes.
 */
export interface FixMemoryOptions {
  prefix: string;
  /** How long a fix is remembered (DEPUTY_MEMORY_RETENTION_DAYS). */
  retentionSeconds: number;
  /** Most fixes kept per cause and namespace: the oldest go first (bounds the recall's read). */
  maxPerCause?: number;
  now?: () => number;
}

/** A remembered fix that matches a diagnosis, with how that fix fared every time. */
export interface Recall {
  /** The most recent matching fix: on the same workload if there is one, else elsewhere in the namespace. */
  fix: FixRecord;
  /** True when `fix` was on the diagnosed workload itself. */
  sameWorkload: boolean;
  /** Every remembered run of the same fix for the same cause in the namespace. */
  counts: { worked: number; undone: number; stuck: number; failed: number; unverified: number };
}

export interface FixMemory {
  readonly retentionSeconds: number;
  /** Store (or replace) the record of one executed action. */
  record(record: FixRecord): Promise<void>;
  /**
   * The best remembered fix for any of the causes diagnosed on a workload:
   * ONE Redis round trip (the causes' hashes in one pipeline).
   */
  recall(
    query: {
      cluster: string;
      namespace: string;
      workload: string;
      causeKeys: readonly string[];
      /** A thread whose own fixes are not news to it (the one asking). */
      besidesThread?: { channel: string; ts: string };
    },
    /** Writes that ride along in the same pipeline (the thread's record of the diagnosis). */
    alongside?: (pipeline: ChainableCommander) => void,
  ): Promise<Recall | undefined>;
  /** Mark a fix undone by a later action; false when no such fix is remembered. */
  markUndone(cluster: string, actionId: string, by: string): Promise<boolean>;
  /** An undo was proposed for `originalId`: when it runs, that fix counts as undone. */
  noteUndo(cluster: string, undoActionId: string, originalId: string): Promise<void>;
  /** `actionId` ran: if it is an undo Deputy proposed, mark the fix it undoes. */
  settleUndo(cluster: string, actionId: string): Promise<boolean>;
  /** One remembered fix by its action id. */
  get(cluster: string, actionId: string): Promise<FixRecord | undefined>;
  /** The fixes of one workload (or every workload of the namespace), newest first. */
  history(cluster: string, namespace: string, workload?: string): Promise<FixRecord[]>;
}

/** Cause keys are rule ids with a fact: never a key separator problem, but kept tidy. */
const keyPart = (value: string): string => value.replace(/[^A-Za-z0-9._:-]/g, "_");

export function createFixMemory(redis: Redis, options: FixMemoryOptions): FixMemory {
  const now = options.now ?? Date.now;
  const retention = options.retentionSeconds;
  const maxPerCause = options.maxPerCause ?? 100;
  const base = (cluster: string): string => `${options.prefix}memory:${keyPart(cluster)}:`;
  const causeHash = (cluster: string, namespace: string, causeKey: string): string =>
    `${base(cluster)}ns:${keyPart(namespace)}:cause:${keyPart(causeKey)}`;
  const causesSet = (cluster: string, namespace: string): string =>
    `${base(cluster)}ns:${keyPart(namespace)}:causes`;
  const fixIndex = (cluster: string, actionId: string): string => `${base(cluster)}fix:${keyPart(actionId)}`;
  const undoKey = (cluster: string, actionId: string): string => `${base(cluster)}undo:${keyPart(actionId)}`;
  /** Records without a diagnosed cause are kept under this key (listed, never recalled). */
  const NO_CAUSE = "none";

  const fresh = (record: FixRecord): boolean => now() - Date.parse(record.recordedAt) <= retention * 1000;

  /** A stored record as Deputy wrote it, or undefined (unparsable, tampered shape, too old). */
  const parse = (raw: string | null | undefined): FixRecord | undefined => {
    if (!raw) return undefined;
    try {
      const parsed = fixRecordSchema.safeParse(JSON.parse(raw));
      return parsed.success && fresh(parsed.data) ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  };

  const parseHash = (hash: Record<string, string> | null | undefined): FixRecord[] =>
    Object.entries(hash ?? {}).flatMap(([field, raw]) => {
      const record = parse(raw);
      // A record filed under another id is not the one its field names.
      return record && record.id === field ? [record] : [];
    });

  const newestFirst = (a: FixRecord, b: FixRecord): number => Date.parse(b.ranAt) - Date.parse(a.ranAt);

  async function prune(hashKey: string): Promise<void> {
    if ((await redis.hlen(hashKey)) <= maxPerCause) return;
    const all = Object.entries(await redis.hgetall(hashKey));
    const ordered = all
      .map(([field, raw]) => ({ field, record: parse(raw) }))
      .sort(
        (a, b) => (b.record ? Date.parse(b.record.ranAt) : 0) - (a.record ? Date.parse(a.record.ranAt) : 0),
      );
    const drop = ordered.slice(maxPerCause).map((entry) => entry.field);
    if (drop.length > 0) await redis.hdel(hashKey, ...drop);
  }

  return {
    retentionSeconds: retention,

    async record(given) {
      const record = fixRecordSchema.parse(given);
      const causeKey = record.cause?.key ?? NO_CAUSE;
      const hashKey = causeHash(record.cluster, record.namespace, causeKey);
      const causes = causesSet(record.cluster, record.namespace);
      const index = fixIndex(record.cluster, record.id);
      await redis
        .multi()
        .hset(hashKey, record.id, JSON.stringify(record))
        .expire(hashKey, retention)
        .sadd(causes, causeKey)
        .expire(causes, retention)
        .set(index, hashKey, "EX", retention)
        .exec();
      await prune(hashKey);
    },

    async recall({ cluster, namespace, workload, causeKeys, besidesThread }, alongside) {
      const keys = [...new Set(causeKeys)].filter((key) => key !== NO_CAUSE).slice(0, 8);
      if (keys.length === 0 && !alongside) return undefined;
      // One round trip whatever the number of causes: the hashes in one pipeline, with what rides along.
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.hgetall(causeHash(cluster, namespace, key));
      alongside?.(pipeline);
      const replies = ((await pipeline.exec()) ?? []).slice(0, keys.length);
      const records = replies
        .flatMap(([error, hash]) => (error ? [] : parseHash(hash as Record<string, string>)))
        // A record stored under another cluster or namespace's key is not about this one.
        .filter((record) => record.cluster === cluster && record.namespace === namespace)
        .filter(
          (record) =>
            !besidesThread ||
            record.thread.channel !== besidesThread.channel ||
            record.thread.ts !== besidesThread.ts,
        )
        .sort(newestFirst);
      const mine = records.find((record) => record.workload.name === workload);
      const fix = mine ?? records[0];
      if (!fix) return undefined;
      const signature = fixSignature(fix.change);
      const counts = { worked: 0, undone: 0, stuck: 0, failed: 0, unverified: 0 };
      for (const record of records) {
        if (record.cause?.key !== fix.cause?.key || fixSignature(record.change) !== signature) continue;
        counts[verdictOf(record)]++;
      }
      return { fix, sameWorkload: mine !== undefined, counts };
    },

    async markUndone(cluster, actionId, by) {
      const hashKey = await redis.get(fixIndex(cluster, actionId));
      if (!hashKey) return false;
      const record = parse(await redis.hget(hashKey, actionId));
      if (!record || record.undone) return false;
      const undone: FixRecord = { ...record, undone: { at: new Date(now()).toISOString(), by } };
      await redis.hset(hashKey, actionId, JSON.stringify(fixRecordSchema.parse(undone)));
      return true;
    },

    async noteUndo(cluster, undoActionId, originalId) {
      await redis.set(undoKey(cluster, undoActionId), originalId, "EX", retention);
    },

    async settleUndo(cluster, actionId) {
      const original = await redis.get(undoKey(cluster, actionId));
      if (!original) return false;
      return this.markUndone(cluster, original, actionId);
    },

    async get(cluster, actionId) {
      const hashKey = await redis.get(fixIndex(cluster, actionId));
      if (!hashKey) return undefined;
      const record = parse(await redis.hget(hashKey, actionId));
      return record && record.id === actionId && record.cluster === cluster ? record : undefined;
    },

    async history(cluster, namespace, workload) {
      const causes = await redis.smembers(causesSet(cluster, namespace));
      if (causes.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const cause of causes) pipeline.hgetall(causeHash(cluster, namespace, cause));
      const replies = (await pipeline.exec()) ?? [];
      return replies
        .flatMap(([error, hash]) => (error ? [] : parseHash(hash as Record<string, string>)))
        .filter(
          (record) =>
            record.cluster === cluster &&
            record.namespace === namespace &&
            (workload === undefined || record.workload.name === workload),
        )
        .sort(newestFirst);
    },
  };
}
