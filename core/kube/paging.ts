import type { Logger } from "../observability/logger.ts";
import { KubeApiError } from "./errors.ts";
import type { Query } from "./transport.ts";
import type { WireList } from "./types.ts";

/**
 * List pagination that never returns partial data: a continue token that
 * expired (410 Gone, the revision was compacted) restarts the list from its
 * first page rather than stitching pages from two revisions together.
 */

export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** One page of at most `limit` items; omit to read every page. */
  limit?: number | undefined;
  continue?: string | undefined;
  /** When reading every page, stop after this many items (default 10,000). */
  maxItems?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListResult<T> {
  items: T[];
  /** Token for the next page, when there is one. */
  continue: string | undefined;
  /** How many items are left after this page, when the API server knows. */
  remainingItemCount: number | undefined;
  resourceVersion: string | undefined;
  /** How many times the list restarted from the beginning after a 410 Gone. */
  restarts: number;
  /** True when maxItems stopped a full read early. */
  truncated: boolean;
}

export type GetJson = <T>(path: string, query?: Query, signal?: AbortSignal) => Promise<T>;

export interface PagingHooks {
  logger?: Logger | undefined;
  /** Called once per restart after a 410 Gone. */
  onRestart?: () => void;
}

const isGone = (error: unknown): boolean => error instanceof KubeApiError && error.status === 410;

export async function listPages<T>(
  get: GetJson,
  path: string,
  opts: ListOptions = {},
  hooks: PagingHooks = {},
): Promise<ListResult<T>> {
  const { logger } = hooks;
  const base: Query = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
  let restarts = 0;
  if (opts.limit !== undefined) {
    // One page. An expired continue token restarts from the first page.
    let token = opts.continue;
    for (;;) {
      try {
        const page = await get<WireList<T>>(
          path,
          { ...base, limit: opts.limit, continue: token },
          opts.signal,
        );
        return {
          items: page.items ?? [],
          continue: page.metadata?.continue || undefined,
          remainingItemCount: page.metadata?.remainingItemCount,
          resourceVersion: page.metadata?.resourceVersion,
          restarts,
          truncated: false,
        };
      } catch (error) {
        if (isGone(error) && token) {
          hooks.onRestart?.();
          restarts += 1;
          logger?.info({ path }, "continue token expired (410 Gone); restarting the list");
          token = undefined;
          continue;
        }
        throw error;
      }
    }
  }
  // Every page, restarting from scratch (up to 3 times) if a token expires midway.
  const maxItems = opts.maxItems ?? 10_000;
  const pageSize = Math.min(500, maxItems);
  for (;;) {
    const items: T[] = [];
    let token: string | undefined = opts.continue;
    let resourceVersion: string | undefined;
    let remaining: number | undefined;
    try {
      do {
        const page = await get<WireList<T>>(path, { ...base, limit: pageSize, continue: token }, opts.signal);
        items.push(...(page.items ?? []));
        token = page.metadata?.continue || undefined;
        remaining = page.metadata?.remainingItemCount;
        resourceVersion ??= page.metadata?.resourceVersion;
      } while (token && items.length < maxItems);
      const truncated = token !== undefined;
      return {
        items: items.slice(0, maxItems),
        continue: token,
        remainingItemCount: truncated ? remaining : undefined,
        resourceVersion,
        restarts,
        truncated,
      };
    } catch (error) {
      if (isGone(error) && restarts < 3) {
        hooks.onRestart?.();
        restarts += 1;
        logger?.info({ path, restarts }, "continue token expired (410 Gone) mid-list; restarting");
        opts = { ...opts, continue: undefined };
        continue;
      }
      throw error;
    }
  }
}
