import { request as httpRequest } from "node:http";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseDirectCommand } from "../../bot/direct-commands.ts";
import { parseConfig } from "../../core/config/config.ts";
import type { Identity } from "../../core/identity/identity.ts";
import { createLogger } from "../../core/observability/logger.ts";
import { resultDigest, type Effect } from "../../core/actions/effect.ts";
import type { DecisionResult, PendingAction } from "../../core/actions/schema.ts";
import type { CallerContext } from "../../mcp/tool.ts";
import { createEventHub, type ConsoleEvent, type EventHub } from "../../console/events.ts";
import { createConsoleServer, type ConsoleServer } from "../../console/server.ts";
import { createConsoleSession, type ConsoleSession } from "../../console/session.ts";
import { readConsoleEvents, turnDone } from "./sse.ts";

/**
 * The console's HTTP layer against its session: who may act, what reaches the
 * tools and the executor, and what streams to browsers. The MCP tools and the
 * executor are stand-ins here (they record what they receive); the full stack
 * is exercised by local-mode.test.ts in a real browser.
 */

const ACTION_ID = "act_abcdefghijklmnopqrstuvwxyz";
const users = parseConfig({}).console.users;

interface Recorded {
  calls: { name: string; args: Record<string, unknown>; caller: CallerContext }[];
  decisions: { actionId: string; approver: Identity; decision: string; digest?: string | undefined }[];
}

const DIGEST = "d".repeat(64);
const RESTARTED_AT = "2026-01-01T00:00:00Z";
const RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt";

/** The API server's dry-run answer the proposal was stored with (a restart: one annotation added). */
function restartEffect(): Effect {
  const live = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "checkout", namespace: "shop" },
    spec: { replicas: 2, template: { metadata: { labels: { app: "checkout" } } } },
  };
  const result = structuredClone(live);
  (result.spec.template.metadata as Record<string, unknown>).annotations = {
    [RESTART_ANNOTATION]: RESTARTED_AT,
  };
  return {
    object: { kind: "Deployment", namespace: "shop", name: "checkout" },
    live,
    result,
    warnings: [],
    digest: resultDigest(result, { created: false }),
  };
}

/** The stored action the stand-in tool "created" (the session renders cards from the store). */
function summary(requester: Identity): PendingAction {
  return {
    id: ACTION_ID,
    cluster: "local",
    tool: "restart_deployment",
    arguments: { namespace: "shop", name: "checkout" },
    evidence: {
      pods: ["shop/<b>checkout-1</b>", "shop/checkout-2"],
      strategy: "RollingUpdate",
      maxUnavailable: "25%",
      maxSurge: "25%",
      restartedAt: RESTARTED_AT,
    },
    effect: restartEffect(),
    risk: { level: "normal", flags: [] },
    target: { kind: "Deployment", namespace: "shop", name: "checkout", uid: "u-1", resourceVersion: "7" },
    requester,
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 900_000).toISOString(),
    reason: "direct command",
    digest: DIGEST,
    state: "pending",
  };
}

let lastRequester: Identity = { kind: "local", id: "alice", name: "alice" };

let hub: EventHub;
let session: ConsoleSession;
let server: ConsoleServer;
let base: string;
let recorded: Recorded;

function setup(): void {
  recorded = { calls: [], decisions: [] };
  hub = createEventHub();
  session = createConsoleSession({
    hub,
    logger: createLogger({ level: "silent" }),
    approvers: ["bob"],
    parseDirectCommand,
    runAgentTurn: undefined,
    directCommandHelp: ["troubleshoot shop/checkout", "restart deployment/checkout -n shop"],
    callTool: async (name, args, caller): Promise<CallToolResult> => {
      recorded.calls.push({ name, args, caller });
      lastRequester = caller.requester!;
      if (name === "restart_deployment") {
        return {
          content: [{ type: "text", text: `pending approval (id ${ACTION_ID})` }],
          structuredContent: {
            pendingAction: { id: ACTION_ID, tool: "restart_deployment", digest: DIGEST, expiresAt: "x" },
          },
        };
      }
      return { content: [{ type: "text", text: "checkout: CrashLoopBackOff <script>x</script>" }] };
    },
    decide: async (input): Promise<DecisionResult> => {
      recorded.decisions.push(input);
      if (input.approver.id === "alice") {
        return {
          status: "refused",
          rule: "self-approval",
          message: "alice requested this action and cannot approve it",
          action: undefined,
        };
      }
      const action: PendingAction = {
        ...summary({ kind: "local", id: "alice", name: "alice" }),
        state: "succeeded",
        decidedBy: input.approver,
        decidedAt: new Date().toISOString(),
        outcome: {
          message: "restarted",
          kubeStatus: 200,
          leaseId: "kubernetes/creds/x/1",
          finishedAt: "now",
        },
      };
      return { status: "succeeded", message: "Deployment restarted.", action };
    },
    loadAction: async (actionId) => (actionId === ACTION_ID ? summary(lastRequester) : undefined),
    auditStory: async (actionId) => ({ actionId, lines: [`story of ${actionId}`] }),
    resumeWrites: async (user) => `resume asked by ${user.id}`,
  });
  server = createConsoleServer({
    host: "127.0.0.1",
    port: 0,
    users,
    hub,
    session,
    logger: createLogger({ level: "silent" }),
    status: () => ({
      cluster: "test",
      model: { enabled: false, name: undefined },
      approvers: ["bob"],
      directCommands: ["troubleshoot shop/checkout"],
    }),
  });
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(path, base), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Raw request, to send headers fetch will not let us forge (Host). */
function rawGet(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

async function readEvents(
  headers: Record<string, string>,
  until: (events: ConsoleEvent[]) => boolean,
): Promise<ConsoleEvent[]> {
  return readConsoleEvents(base, until, { headers });
}

describe("console server", () => {
  beforeAll(async () => {
    setup();
    base = await server.listen();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    recorded.calls.length = 0;
    recorded.decisions.length = 0;
  });

  it("serves the page with a strict content security policy and no external assets", async () => {
    const page = await fetch(base);
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await page.text();
    expect(html).not.toMatch(/(src|href)="https?:/);
    for (const asset of ["/app.js", "/app.css", "/favicon.svg"]) {
      const response = await fetch(new URL(asset, base));
      expect(response.status, asset).toBe(200);
      expect(await response.text()).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
    expect((await fetch(new URL("/../package.json", base))).status).toBe(404);
    expect((await fetch(new URL("/api/nope", base))).status).toBe(404);
  });

  it("lists the configured users and says when no model is configured", async () => {
    const status = (await (await fetch(new URL("/api/status", base))).json()) as Record<string, unknown>;
    expect(status.users).toEqual([
      { id: "alice", roles: ["requester"] },
      { id: "bob", roles: ["approver"] },
    ]);
    expect(status.model).toEqual({ enabled: false });
  });

  it("refuses unknown users, bad bodies and other origins without starting anything", async () => {
    const before = hub.lastSeq;
    const mallory = await post("/api/threads", {
      user: "mallory",
      text: "restart deployment/checkout -n shop",
    });
    expect(mallory.status).toBe(403);
    expect(((await mallory.json()) as { error: { message: string } }).error.message).toContain(
      '"mallory" is not a configured local user',
    );
    expect((await post("/api/threads", { text: "hi" })).status).toBe(400);
    expect((await post("/api/threads", "{not json")).status).toBe(400);
    expect((await post("/api/threads", { user: "alice", text: "   " })).status).toBe(400);
    expect((await post("/api/threads", { user: "alice", text: "x".repeat(20_000) })).status).toBe(400);
    const formPost = await fetch(new URL("/api/threads", base), {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ user: "bob", text: "restart deployment/checkout -n shop" }),
    });
    expect(formPost.status).toBe(400);
    const foreign = await post(
      "/api/threads",
      { user: "bob", text: "restart deployment/checkout -n shop" },
      { origin: "http://evil.example" },
    );
    expect(foreign.status).toBe(403);
    expect(await rawGet("/api/status", { host: "evil.example:8090" })).toBe(403);
    expect(hub.lastSeq).toBe(before);
    expect(recorded.calls).toHaveLength(0);
  });

  it("runs a direct command through the tool with the caller in context and streams the thread", async () => {
    const response = await post("/api/threads", { user: "alice", text: "troubleshoot shop/checkout" });
    expect(response.status).toBe(202);
    const { threadId } = (await response.json()) as { threadId: string };
    const events = await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "busy" && !event.busy),
    );
    const mine = events.filter((event) => event.threadId === threadId);
    expect(mine.map((event) => event.type)).toEqual([
      "thread",
      "message",
      "busy",
      "tool_call",
      "tool_call",
      "message",
      "busy",
    ]);
    expect(recorded.calls).toEqual([
      {
        name: "troubleshoot_pod",
        args: { namespace: "shop", name: "checkout" },
        caller: expect.objectContaining({
          requester: { kind: "local", id: "alice", name: "alice" },
          conversation: { surface: "console", channel: "console", thread: threadId },
          prompt: "troubleshoot shop/checkout",
        }),
      },
    ]);
    const answer = mine[5]!;
    expect(answer).toMatchObject({ type: "message", role: "deputy" });
    expect(answer.type === "message" && answer.text).toContain("CrashLoopBackOff <script>x</script>");

    // A reconnecting browser (Last-Event-ID) gets only what it missed.
    const lastSeen = mine[2]!.seq;
    const replay = await readEvents({ "last-event-id": String(lastSeen) }, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "busy" && !event.busy),
    );
    expect(replay.every((event) => event.seq > lastSeen)).toBe(true);
    expect(replay.filter((event) => event.threadId === threadId)).toHaveLength(4);
  });

  it("answers a free-form question without a model by saying so and listing direct commands", async () => {
    const { threadId } = (await (
      await post("/api/threads", { user: "alice", text: "why is checkout crashing?" })
    ).json()) as { threadId: string };
    const events = await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "busy" && !event.busy),
    );
    const notice = events.find(
      (event) => event.threadId === threadId && event.type === "message" && event.role === "system",
    );
    expect(notice?.type === "message" && notice.text).toMatch(/No model is configured \(ANTHROPIC_API_KEY/);
    expect(notice?.type === "message" && notice.text).toContain("troubleshoot shop/checkout");
    expect(recorded.calls).toHaveLength(0);
  });

  it("shows a malformed or forbidden direct command's reason instead of running it", async () => {
    const { threadId } = (await (
      await post("/api/threads", { user: "alice", text: "/deputy delete pod/checkout-1 -n shop --force" })
    ).json()) as { threadId: string };
    const events = await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "busy" && !event.busy),
    );
    const notice = events.find(
      (event) => event.threadId === threadId && event.type === "message" && event.role === "system",
    );
    expect(notice?.type === "message" && notice.text).toContain("no-force");
    expect(recorded.calls).toHaveLength(0);
  });

  it("shows a card for a pending action, passes each decision to the executor as the acting user", async () => {
    const { threadId } = (await (
      await post("/api/threads", { user: "alice", text: "restart deployment/checkout -n shop" })
    ).json()) as { threadId: string };
    const events = await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "card"),
    );
    const card = events.find((event) => event.threadId === threadId && event.type === "card");
    expect(card?.type === "card" && card.card).toMatchObject({
      actionId: ACTION_ID,
      tool: "restart_deployment",
      target: "deployment shop/checkout",
      state: "pending",
      requester: { id: "alice" },
      approvers: ["bob"],
    });
    // The card shows the API server's dry-run answer against the live object, field by field.
    expect(card?.type === "card" && card.card.preview).toContain(
      `- spec.template.metadata.annotations["${RESTART_ANNOTATION}"]: (added) "${RESTARTED_AT}"`,
    );

    const decisionPath = `/api/actions/${ACTION_ID}/decision`;
    expect((await post(decisionPath, { user: "mallory", decision: "approve" })).status).toBe(403);
    expect((await post(decisionPath, { user: "bob", decision: "yes" })).status).toBe(400);
    expect(recorded.decisions).toHaveLength(0);

    const refused = await post(decisionPath, { user: "alice", decision: "approve" });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      status: "refused",
      rule: "self-approval",
      message: "alice requested this action and cannot approve it",
    });

    const approved = await post(decisionPath, { user: "bob", decision: "approve", digest: DIGEST });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "succeeded", state: "succeeded" });
    expect(recorded.decisions.map((d) => [d.actionId, d.approver.id, d.decision])).toEqual([
      [ACTION_ID, "alice", "approve"],
      [ACTION_ID, "bob", "approve"],
    ]);
    // The click carries the digest of the card it was made on.
    expect(recorded.decisions.at(-1)).toMatchObject({ digest: DIGEST });
    expect((await post(decisionPath, { user: "bob", decision: "approve", digest: "zz" })).status).toBe(400);

    const after = await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "result"),
    );
    const updated = after.filter((event) => event.threadId === threadId && event.type === "card").at(-1);
    expect(updated?.type === "card" && updated.card).toMatchObject({
      state: "succeeded",
      decidedBy: { id: "bob" },
      outcome: { kubeStatus: 200, leaseId: "kubernetes/creds/x/1" },
    });
    const result = after.find((event) => event.threadId === threadId && event.type === "result");
    expect(result?.type === "result" && result.text).toContain("succeeded (approved by bob)");

    const story = await fetch(new URL(`/api/actions/${ACTION_ID}/story`, base));
    expect(await story.json()).toEqual({ actionId: ACTION_ID, lines: [`story of ${ACTION_ID}`] });
    expect((await fetch(new URL("/api/actions/not-an-id/story", base))).status).toBe(400);
  });

  it('hands "resume writes" to the write-pause switch as the acting user, not to a tool', async () => {
    const { threadId } = (await (
      await post("/api/threads", { user: "bob", text: "resume writes" })
    ).json()) as {
      threadId: string;
    };
    const events = await readEvents({}, turnDone(threadId));
    const answer = events.find(
      (event) => event.threadId === threadId && event.type === "message" && event.role === "system",
    );
    expect(answer?.type === "message" && answer.text).toBe("resume asked by bob");
    expect(recorded.calls).toHaveLength(0);
  });

  it("updates a card that expired without a click and says so in its thread", async () => {
    const { threadId } = (await (
      await post("/api/threads", { user: "alice", text: "restart deployment/checkout -n shop" })
    ).json()) as { threadId: string };
    await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "card"),
    );
    session.actionChanged({
      ...summary({ kind: "local", id: "alice", name: "alice" }),
      state: "expired",
    });
    const events = await readEvents({}, (seen) =>
      seen.some((event) => event.threadId === threadId && event.type === "result"),
    );
    const card = events.filter((event) => event.threadId === threadId && event.type === "card").at(-1);
    expect(card?.type === "card" && card.card.state).toBe("expired");
    const result = events.find((event) => event.threadId === threadId && event.type === "result");
    expect(result?.type === "result" && result.text).toMatch(/expired without a decision/);
  });

  it("refuses posting into a thread that does not exist", async () => {
    const response = await post("/api/threads/th_nope/messages", { user: "alice", text: "hello" });
    expect(response.status).toBe(404);
  });
});
