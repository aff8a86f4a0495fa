import {
  makeInformer,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
} from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import type { TriageMessage, TriageObjectRef, TriageSink } from "../core/observability/alerts.ts";
import { admitInWindow } from "../core/observability/anomaly.ts";
import type { AuditLog } from "../core/audit/log.ts";
import { describeError } from "../core/errors.ts";
import { fenceUntrusted } from "../core/untrusted/fence.ts";
import type { KubeClients } from "../core/kube/client.ts";
import type { Node, Pod } from "../core/kube/types.ts";
import type { Logger } from "../core/observability/logger.ts";
import type { Metrics } from "../core/observability/metrics.ts";
import { nodeProblem, nodeSubject, podProblem, podSubject, subjectKey, type Problem } from "./problems.ts";
import { buildNodeTriage, buildPodTriage } from "./triage.ts";

/**
 * Proactive triage: informers (list + watch, no polling) on pods in the
 * watched namespaces and on nodes. When an object shows CrashLoopBackOff,
 * OOMKilled, ImagePullBackOff, Unschedulable or NotReady, one message goes to
 * the TriageSink with the rule-based diagnosis (plus the agent's analysis
 * when `analyse` is given). One message per workload and problem, deduplicated
 * in Redis so a new leader does not repeat its predecessor, and rate-limited
 * so a broken cluster cannot flood the channel. Run it on the elected leader
 * only (watcher/service.ts).
 */

export interface TriageWatcherDeps {
  /** Read identity: informers and the evidence reads (events, logs, node). */
  kube: KubeClients;
  redis: Redis;
  /** Redis key prefix (config.redis.prefix). */
  prefix: string;
  sink: TriageSink;
  /** Namespaces to watch; empty means every namespace. */
  namespaces: readonly string[];
  logger: Logger;
  metrics?: Metrics;
  audit?: AuditLog;
  cluster?: string;
  /** The agent's analysis of the rule-based triage (untrusted cluster text inside). */
  analyse?: (text: string, signal: AbortSignal) => Promise<string>;
  analyseTimeoutMs?: number;
  /** How long one workload+problem stays quiet after a message. */
  dedupeTtlSeconds?: number;
  /** At most this many messages per rate window, across replicas. */
  maxMessagesPerWindow?: number;
  rateWindowMs?: number;
  watchNodes?: boolean;
}

export interface TriageWatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when no triage is being prepared (tests). */
  idle(): Promise<void>;
}

type Watched = KubernetesObject;
type Cache = Informer<Watched> & ObjectCache<Watched>;

interface Candidate {
  kind: "pod" | "node";
  namespace: string | undefined;
  name: string;
}

export function createTriageWatcher(deps: TriageWatcherDeps): TriageWatcher {
  const dedupeTtl = deps.dedupeTtlSeconds ?? 6 * 3600;
  const rateWindowMs = deps.rateWindowMs ?? 60_000;
  const maxPerWindow = deps.maxMessagesPerWindow ?? 10;
  const analyseTimeoutMs = deps.analyseTimeoutMs ?? 20_000;
  const retryMs = Math.max(1000, Math.floor(rateWindowMs / 4));
  const informers: { cache: Cache; what: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  /** Problems held back by the rate limit or a failed post, retried from the informer cache. */
  const deferred = new Map<string, Candidate>();
  let running = false;
  let abort = new AbortController();
  let retryTimer: NodeJS.Timeout | undefined;
  const restartTimers = new Set<NodeJS.Timeout>();

  const seenKey = (key: string): string => `${deps.prefix}triage:seen:${key}`;

  async function analysis(message: TriageMessage): Promise<string | undefined> {
    if (!deps.analyse) return undefined;
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(analyseTimeoutMs)]);
    try {
      // The diagnosis quotes cluster text: it reaches the model fenced as data, like any tool result.
      const { kind, namespace, name } = message.object;
      const diagnosis = fenceUntrusted(
        `triage ${kind} ${namespace ? `${namespace}/` : ""}${name}`,
        message.diagnosis,
      );
      return await deps.analyse(`${message.title}\n\nRule-based diagnosis:\n${diagnosis}`, signal);
    } catch (error) {
      deps.logger.warn({ err: describeError(error), object: message.object }, "triage analysis failed");
      return undefined;
    }
  }

  async function handle(candidate: Candidate, object: Watched): Promise<void> {
    const isPod = candidate.kind === "pod";
    const problem: Problem | undefined = isPod ? podProblem(object as Pod) : nodeProblem(object as Node);
    if (!problem) {
      deferred.delete(`${candidate.kind}:${candidate.namespace ?? ""}:${candidate.name}`);
      return;
    }
    const subject: TriageObjectRef = isPod ? podSubject(object as Pod) : nodeSubject(object as Node);
    const key = subjectKey(subject, problem.reason);
    const deferKey = `${candidate.kind}:${candidate.namespace ?? ""}:${candidate.name}`;

    // Claim the workload+problem first: exactly one message, whichever pod or replica sees it first.
    const claimed = (await deps.redis.set(seenKey(key), candidate.name, "EX", dedupeTtl, "NX")) === "OK";
    if (!claimed) {
      deferred.delete(deferKey);
      deps.metrics?.triage(problem.reason, "deduplicated");
      return;
    }
    const release = async (): Promise<void> => {
      await deps.redis.del(seenKey(key)).catch(() => undefined);
    };
    if (!(await admitInWindow(deps.redis, `${deps.prefix}triage:rate`, key, rateWindowMs, maxPerWindow))) {
      await release();
      deferred.set(deferKey, candidate);
      deps.metrics?.triage(problem.reason, "rate_limited");
      return;
    }
    deferred.delete(deferKey);

    try {
      const message = isPod
        ? await buildPodTriage(deps.kube, object as Pod, subject, problem, abort.signal)
        : await buildNodeTriage(deps.kube, object as Node, subject, problem, abort.signal);
      const analysed = await analysis(message);
      if (analysed) message.analysis = analysed;
      if (deps.cluster) message.cluster = deps.cluster;
      await deps.sink.postTriage(message);
      deps.metrics?.triage(problem.reason, "posted");
      deps.audit?.record({
        kind: "triage",
        rule: problem.reason,
        message: message.title,
        cluster: deps.cluster,
        details: { object: subject, status: problem.status },
      });
    } catch (error) {
      if (!running) return;
      await release();
      deferred.set(deferKey, candidate);
      deps.metrics?.triage(problem.reason, "failed");
      deps.logger.error(
        { err: describeError(error), object: subject },
        "posting a triage message failed; will retry",
      );
    }
  }

  function consider(candidate: Candidate, object: Watched): void {
    if (!running) return;
    const work = handle(candidate, object).catch((error: unknown) => {
      deps.logger.error({ err: describeError(error), object: candidate }, "triage failed");
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  function retryDeferred(): void {
    for (const [key, candidate] of deferred) {
      const what = candidate.kind === "node" ? "nodes" : "pods";
      const object = informers
        .filter((i) => i.what === what)
        .map((i) => i.cache.get(candidate.name, candidate.namespace))
        .find((o) => o !== undefined);
      if (!object) {
        deferred.delete(key); // gone since
        continue;
      }
      consider(candidate, object);
    }
  }

  function informerFor(
    path: string,
    what: "pods" | "nodes",
    list: () => Promise<{ items: unknown[]; resourceVersion: string | undefined }>,
  ): Cache {
    const cache = makeInformer<Watched>(deps.kube.kubeConfig, path, async () => {
      // Raw JSON lists, like the watch events: timestamps stay strings for the analysers.
      const result = await list();
      return { metadata: { resourceVersion: result.resourceVersion }, items: result.items as Watched[] };
    });
    const onObject = (object: Watched): void => {
      consider(
        {
          kind: what === "nodes" ? "node" : "pod",
          namespace: object.metadata?.namespace,
          name: object.metadata?.name ?? "",
        },
        object,
      );
    };
    cache.on("add", onObject);
    cache.on("update", onObject);
    let delay = 1000;
    cache.on("connect", () => {
      delay = 1000;
    });
    cache.on("error", (error: unknown) => {
      if (!running) return;
      deps.logger.warn({ err: describeError(error), path }, "watch failed; restarting");
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (running) void cache.start();
      }, delay);
      restartTimers.add(timer);
      delay = Math.min(delay * 2, 30_000);
    });
    return cache;
  }

  return {
    async start() {
      if (running) return;
      running = true;
      abort = new AbortController();
      const namespaces = deps.namespaces.length > 0 ? deps.namespaces : [undefined];
      for (const namespace of namespaces) {
        const path = namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : "/api/v1/pods";
        informers.push({
          what: "pods",
          cache: informerFor(path, "pods", () => deps.kube.core.listPods(namespace)),
        });
      }
      if (deps.watchNodes !== false) {
        informers.push({
          what: "nodes",
          cache: informerFor("/api/v1/nodes", "nodes", () => deps.kube.core.listNodes()),
        });
      }
      await Promise.all(informers.map((i) => i.cache.start()));
      retryTimer = setInterval(retryDeferred, retryMs);
      retryTimer.unref();
      deps.logger.info(
        { namespaces: deps.namespaces, nodes: deps.watchNodes !== false },
        "triage watcher started",
      );
    },
    async stop() {
      if (!running) return;
      running = false;
      if (retryTimer) clearInterval(retryTimer);
      for (const timer of restartTimers) clearTimeout(timer);
      restartTimers.clear();
      await Promise.all(informers.splice(0).map((i) => i.cache.stop()));
      abort.abort();
      await Promise.allSettled([...inFlight]);
      deferred.clear();
      deps.logger.info("triage watcher stopped");
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
