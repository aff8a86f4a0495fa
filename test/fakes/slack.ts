import { createHash, createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A local Slack: it sends events, slash commands and interactions to the
 * app's Bolt HTTP receiver signed exactly like Slack (v0 HMAC-SHA256 over
 * `v0:<timestamp>:<body>`, X-Slack-Request-Timestamp), and serves the Web API
 * methods the app calls, recording every call. Messages posted or updated
 * through the Web API are kept per channel so tests can read a thread.
 *
 * Also the surfaces beyond messages: views.publish (App Home) and views.open
 * are recorded per user, chat.getPermalink answers, files.uploadV2's three
 * steps (files.getUploadURLExternal, a POST of the bytes to the returned
 * upload URL, files.completeUploadExternal) keep each uploaded file with its
 * content, and message shortcuts and app_home_opened can be sent.
 *
 * Socket Mode too: apps.connections.open hands out a ws:// URL on this server,
 * which speaks just enough WebSocket (RFC 6455 text, ping/pong, close) to send
 * envelopes and receive the app's acks, as Slack's socket servers do.
 */

export interface WebApiCall {
  method: string;
  args: Record<string, unknown>;
  token: string | undefined;
  at: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  thread_ts: string | undefined;
  text: string;
  blocks: unknown[] | undefined;
  user: string;
  /** chat.postEphemeral: only this user sees it. */
  ephemeralTo?: string;
  updates: number;
}

export interface FakeView {
  method: "views.publish" | "views.open";
  /** views.publish: whose App Home; views.open: the trigger it answered. */
  user: string | undefined;
  triggerId: string | undefined;
  view: Record<string, unknown>;
}

export interface FakeFile {
  id: string;
  filename: string;
  title: string | undefined;
  /** The bytes posted to the upload URL, as UTF-8. */
  content: string;
  length: number;
  channel: string | undefined;
  threadTs: string | undefined;
  initialComment: string | undefined;
  completed: boolean;
}

/**
 * Slack's own limit for acknowledging an event, command or click: later, it
 * shows the user an error and (for events) sends the request again.
 */
export const SLACK_ACK_DEADLINE_MS = 3000;

export interface SendResult {
  status: number;
  body: string;
  latencyMs: number;
}

export interface SignOptions {
  /** Seconds since the epoch to sign with (stale timestamps are refused). */
  timestamp?: number;
  /** Sign with this secret instead (a forged request). */
  secret?: string;
  /** Send this signature header verbatim. */
  signature?: string;
  retryNum?: number;
  retryReason?: string;
}

export interface SlackFakeOptions {
  signingSecret?: string;
  botToken?: string;
  teamId?: string;
  botUserId?: string;
  /** Members of user groups, for usergroups.users.list. */
  userGroups?: Record<string, string[]>;
  /** Members of channels, for conversations.members (a channel not listed: channel_not_found). */
  channelMembers?: Record<string, string[]>;
  /** App-level token accepted by apps.connections.open (Socket Mode). */
  appToken?: string;
  /** Scopes of the bot token, sent as Slack does in `x-oauth-scopes` on every Web API answer. */
  scopes?: string[];
}

export interface SocketAck {
  envelopeId: string;
  payload: Record<string, unknown> | undefined;
  latencyMs: number;
}

export interface SlackFake {
  /** Base for the Web API: pass `${apiUrl}` as SLACK_API_URL. */
  apiUrl: string;
  appToken: string;
  /** Socket Mode connections the app has open. */
  readonly socketConnections: number;
  /** Wait until the app has connected over Socket Mode. */
  waitForSocket(timeoutMs?: number): Promise<void>;
  /** Deliver an envelope over Socket Mode; resolves with the app's ack. */
  sendOverSocket(
    type: "events_api" | "slash_commands" | "interactive",
    payload: Record<string, unknown>,
    options?: { retryAttempt?: number },
  ): Promise<SocketAck>;
  signingSecret: string;
  botToken: string;
  teamId: string;
  botUserId: string;
  calls: WebApiCall[];
  messages: FakeMessage[];
  responseUrlPosts: { id: string; body: Record<string, unknown> }[];
  userGroups: Record<string, string[]>;
  /** Members of channels (change freely): conversations.members answers from it, two per page. */
  channelMembers: Record<string, string[]>;
  views: FakeView[];
  files: FakeFile[];
  /** The App Home a user was last shown. */
  homeOf(user: string): Record<string, unknown> | undefined;
  /** The user opens the app's Home tab (an app_home_opened event). */
  openHome(user: string, options?: SignOptions): Promise<SendResult & { eventId: string }>;
  /** Click a button on a view (the App Home or a modal) the app published. */
  clickView(
    options: { user: string; view: Record<string, unknown>; actionId: string } & SignOptions,
  ): Promise<SendResult & { payload: string }>;
  /** Submit a modal the app opened, with the given `state.values`; the body is the app's ack. */
  submitView(
    options: {
      user: string;
      view: Record<string, unknown>;
      values: Record<string, Record<string, unknown>>;
    } & SignOptions,
  ): Promise<SendResult & { payload: string }>;
  /** A message shortcut ("…" menu on a message) run by `user` on `message`. */
  shortcut(
    options: {
      user: string;
      callbackId: string;
      message: { channel: string; ts: string; thread_ts?: string; text: string; user?: string };
    } & SignOptions,
  ): Promise<SendResult & { payload: string }>;
  /** Where signed requests go: the app's Bolt HTTP endpoint. */
  setTarget(url: string): void;
  /** Where signed requests go now. */
  readonly target: string;
  sign(body: string, options?: SignOptions): Record<string, string>;
  /** Raw POST of a body with the given headers to the target. */
  post(body: string, contentType: string, headers: Record<string, string>): Promise<SendResult>;
  sendEvent(
    event: Record<string, unknown>,
    options?: SignOptions & { eventId?: string },
  ): Promise<SendResult & { eventId: string }>;
  mention(
    options: {
      user: string;
      text: string;
      channel?: string;
      threadTs?: string;
      ts?: string;
      eventId?: string;
    } & SignOptions,
  ): Promise<SendResult & { eventId: string; ts: string }>;
  sendCommand(
    options: { user: string; text: string; channel?: string; command?: string } & SignOptions,
  ): Promise<SendResult & { responseUrlId: string }>;
  /** Click a button on a message the app posted. */
  click(
    options: {
      user: string;
      message: FakeMessage;
      actionId: string;
      actionTs?: string;
      /** The team id the click's payload carries (Enterprise Grid, Slack Connect); default the fake's. */
      teamId?: string;
    } & SignOptions,
  ): Promise<SendResult & { payload: string }>;
  /** Resend an exact interaction payload (a replay). */
  replay(payload: string, options?: SignOptions): Promise<SendResult>;
  thread(channel: string, threadTs: string): FakeMessage[];
  /**
   * Make the next `times` calls of a Web API method fail: with HTTP `status`
   * (the SDK may retry those) or, by default, Slack's `{ ok: false, error }`.
   */
  failNext(method: string, failure?: { error?: string; status?: number; times?: number }): void;
  callsOf(method: string): WebApiCall[];
  waitFor<T>(probe: () => T | undefined | false, options?: { timeoutMs?: number; what?: string }): Promise<T>;
  close(): Promise<void>;
}

async function readRaw(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The Web API accepts JSON or form bodies; nested values arrive JSON-encoded in forms. */
function parseArgs(contentType: string | undefined, body: string): Record<string, unknown> {
  if (contentType?.includes("application/json"))
    return body ? (JSON.parse(body) as Record<string, unknown>) : {};
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    if ((value.startsWith("[") || value.startsWith("{")) && key !== "text") {
      try {
        args[key] = JSON.parse(value);
        continue;
      } catch {
        // not JSON: keep the string
      }
    }
    args[key] = value;
  }
  return args;
}

export async function startSlackFake(options: SlackFakeOptions = {}): Promise<SlackFake> {
  const signingSecret = options.signingSecret ?? randomBytes(16).toString("hex");
  const botToken = options.botToken ?? `xoxb-test-${randomBytes(8).toString("hex")}`;
  const teamId = options.teamId ?? "T0TEAM";
  const botUserId = options.botUserId ?? "U0DEPUTY";
  const appToken = options.appToken ?? `xapp-test-${randomBytes(8).toString("hex")}`;
  const sockets = new Set<Socket>();
  const pendingAcks = new Map<string, { started: number; resolve: (ack: SocketAck) => void }>();
  const userGroups = options.userGroups ?? {};
  const channelMembers = options.channelMembers ?? {};
  const calls: WebApiCall[] = [];
  const messages: FakeMessage[] = [];
  const responseUrlPosts: { id: string; body: Record<string, unknown> }[] = [];
  const failures = new Map<string, { error: string; status: number | undefined; times: number }>();
  const views: FakeView[] = [];
  const files: FakeFile[] = [];
  let fileCounter = 0;
  let target = "";
  let tsCounter = 0;
  let base = "";
  const nextTs = (): string => {
    tsCounter++;
    return `${1_800_000_000 + Math.floor(tsCounter / 1_000_000)}.${String(tsCounter % 1_000_000).padStart(6, "0")}`;
  };

  const methods: Record<string, (args: Record<string, unknown>) => Record<string, unknown>> = {
    "apps.connections.open": () => ({
      ok: true,
      url: `${base.replace("http://", "ws://")}/socket?ticket=${randomBytes(6).toString("hex")}`,
    }),
    "auth.test": () => ({
      ok: true,
      url: "https://fake.slack.com/",
      team: "Fake",
      user: "deputy",
      team_id: teamId,
      user_id: botUserId,
      bot_id: "B0DEPUTY",
    }),
    "chat.postMessage": (args) => {
      const channel = String(args.channel ?? "");
      if (!channel) return { ok: false, error: "channel_not_found" };
      if (channel.startsWith("CNOTIN")) return { ok: false, error: "not_in_channel" };
      const message: FakeMessage = {
        channel,
        ts: nextTs(),
        thread_ts: typeof args.thread_ts === "string" ? args.thread_ts : undefined,
        text: String(args.text ?? ""),
        blocks: Array.isArray(args.blocks) ? args.blocks : undefined,
        user: botUserId,
        updates: 0,
      };
      messages.push(message);
      return {
        ok: true,
        channel,
        ts: message.ts,
        message: { ...message, type: "message", bot_id: "B0DEPUTY" },
      };
    },
    "chat.update": (args) => {
      const message = messages.find((m) => m.channel === args.channel && m.ts === args.ts && !m.ephemeralTo);
      if (!message) return { ok: false, error: "message_not_found" };
      if (typeof args.text === "string") message.text = args.text;
      message.blocks = Array.isArray(args.blocks) ? args.blocks : message.blocks;
      message.updates++;
      return { ok: true, channel: message.channel, ts: message.ts, text: message.text };
    },
    "chat.postEphemeral": (args) => {
      const message: FakeMessage = {
        channel: String(args.channel ?? ""),
        ts: nextTs(),
        thread_ts: typeof args.thread_ts === "string" ? args.thread_ts : undefined,
        text: String(args.text ?? ""),
        blocks: Array.isArray(args.blocks) ? args.blocks : undefined,
        user: botUserId,
        ephemeralTo: String(args.user ?? ""),
        updates: 0,
      };
      messages.push(message);
      return { ok: true, message_ts: message.ts };
    },
    "conversations.replies": (args) => ({
      ok: true,
      messages: messages
        .filter(
          (m) =>
            m.channel === args.channel && !m.ephemeralTo && (m.ts === args.ts || m.thread_ts === args.ts),
        )
        .map((m) => ({ type: "message", ts: m.ts, thread_ts: m.thread_ts, user: m.user, text: m.text })),
      has_more: false,
    }),
    "chat.getPermalink": (args) => {
      const message = messages.find((m) => m.channel === args.channel && m.ts === args.message_ts);
      if (!message) return { ok: false, error: "message_not_found" };
      return {
        ok: true,
        channel: message.channel,
        permalink: `https://fake.slack.com/archives/${message.channel}/p${message.ts.replace(".", "")}`,
      };
    },
    "views.publish": (args) => {
      const view = (args.view ?? {}) as Record<string, unknown>;
      if (view.type !== "home") return { ok: false, error: "invalid_arguments" };
      // Slack's limit for a Home tab.
      if (((view.blocks as unknown[] | undefined)?.length ?? 0) > 100)
        return { ok: false, error: "invalid_blocks" };
      views.push({ method: "views.publish", user: String(args.user_id ?? ""), triggerId: undefined, view });
      return { ok: true, view: { id: `V${views.length}`, ...view } };
    },
    "views.open": (args) => {
      const view = (args.view ?? {}) as Record<string, unknown>;
      if (!args.trigger_id) return { ok: false, error: "invalid_trigger_id" };
      views.push({ method: "views.open", user: undefined, triggerId: String(args.trigger_id), view });
      return { ok: true, view: { id: `V${views.length}`, ...view } };
    },
    "files.getUploadURLExternal": (args) => {
      const length = Number(args.length);
      if (!args.filename || !Number.isInteger(length) || length < 1) {
        return { ok: false, error: "invalid_arguments" };
      }
      const id = `F${String(++fileCounter).padStart(8, "0")}`;
      files.push({
        id,
        filename: String(args.filename),
        title: undefined,
        content: "",
        length,
        channel: undefined,
        threadTs: undefined,
        initialComment: undefined,
        completed: false,
      });
      return { ok: true, upload_url: `${base}/upload/${id}`, file_id: id };
    },
    "files.completeUploadExternal": (args) => {
      const listed = (Array.isArray(args.files) ? args.files : []) as { id?: string; title?: string }[];
      const found = listed.map((entry) => files.find((file) => file.id === entry.id));
      if (listed.length === 0 || found.some((file) => !file)) return { ok: false, error: "file_not_found" };
      for (const [index, file] of found.entries()) {
        file!.completed = true;
        file!.title = listed[index]!.title;
        file!.channel = typeof args.channel_id === "string" ? args.channel_id : undefined;
        file!.threadTs = typeof args.thread_ts === "string" ? args.thread_ts : undefined;
        file!.initialComment = typeof args.initial_comment === "string" ? args.initial_comment : undefined;
      }
      return {
        ok: true,
        files: found.map((file) => ({ id: file!.id, title: file!.title, name: file!.filename })),
      };
    },
    "usergroups.users.list": (args) => {
      const users = userGroups[String(args.usergroup ?? "")];
      return users ? { ok: true, users } : { ok: false, error: "no_such_subteam" };
    },
    "conversations.members": (args) => {
      const members = channelMembers[String(args.channel ?? "")];
      if (!members) return { ok: false, error: "channel_not_found" };
      // Small pages, so that a client reading only the first one misses members.
      const start = Number(args.cursor ?? 0) || 0;
      const next = start + 2 < members.length ? String(start + 2) : "";
      return { ok: true, members: members.slice(start, start + 2), response_metadata: { next_cursor: next } };
    },
    "users.info": (args) => ({
      ok: true,
      user: { id: args.user, team_id: teamId, name: String(args.user).toLowerCase() },
    }),
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const rawBody = await readRaw(req);
      const body = rawBody.toString("utf8");
      const url = new URL(req.url ?? "/", "http://fake");
      res.setHeader("content-type", "application/json");
      if (url.pathname.startsWith("/upload/")) {
        // Step 2 of files.uploadV2: the bytes, multipart, to the URL step 1 handed out.
        const file = files.find((f) => f.id === url.pathname.slice("/upload/".length));
        if (!file) {
          res.statusCode = 404;
          res.end("not found");
          return;
        }
        const form = await new Request("http://fake/upload", {
          method: "POST",
          headers: { "content-type": req.headers["content-type"] ?? "" },
          body: new Uint8Array(rawBody),
        }).formData();
        const part = [...form.values()].find((value) => typeof value !== "string");
        file.content = part ? await part.text() : String(form.get("body") ?? "");
        res.setHeader("content-type", "text/plain");
        res.end(`OK - ${file.content.length}`);
        return;
      }
      if (url.pathname.startsWith("/response/")) {
        responseUrlPosts.push({
          id: url.pathname.slice("/response/".length),
          body: JSON.parse(body || "{}") as Record<string, unknown>,
        });
        res.end(JSON.stringify({ ok: true }));
        return;
      }
      const method = url.pathname.replace(/^\/api\//, "");
      const args = parseArgs(req.headers["content-type"], body);
      const token =
        /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ??
        (typeof args.token === "string" ? args.token : undefined);
      calls.push({ method, args, token, at: Date.now() });
      if (token !== (method === "apps.connections.open" ? appToken : botToken)) {
        res.end(JSON.stringify({ ok: false, error: "invalid_auth" }));
        return;
      }
      if (options.scopes && method !== "apps.connections.open") {
        res.setHeader("x-oauth-scopes", options.scopes.join(","));
      }
      const failure = failures.get(method);
      if (failure) {
        if (--failure.times <= 0) failures.delete(method);
        if (failure.status !== undefined) res.statusCode = failure.status;
        res.end(JSON.stringify({ ok: false, error: failure.error }));
        return;
      }
      const handler = methods[method];
      res.end(JSON.stringify(handler ? handler(args) : { ok: false, error: "unknown_method" }));
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ ok: false, error: String(error) }));
    });
  });
  server.on("upgrade", (req, socket: Socket) => {
    const key = req.headers["sec-websocket-key"];
    if (!req.url?.startsWith("/socket") || typeof key !== "string") {
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const frame = readFrame(buffered);
        if (!frame) break;
        buffered = buffered.subarray(frame.length);
        if (frame.opcode === 0x9) socket.write(encodeFrame(0xa, frame.payload));
        else if (frame.opcode === 0x8) socket.end(encodeFrame(0x8, Buffer.alloc(0)));
        else if (frame.opcode === 0x1) {
          const message = JSON.parse(frame.payload.toString("utf8")) as {
            envelope_id?: string;
            payload?: Record<string, unknown>;
          };
          const waiting = message.envelope_id ? pendingAcks.get(message.envelope_id) : undefined;
          if (waiting && message.envelope_id) {
            pendingAcks.delete(message.envelope_id);
            waiting.resolve({
              envelopeId: message.envelope_id,
              payload: message.payload,
              latencyMs: performance.now() - waiting.started,
            });
          }
        }
      }
    });
    socket.write(
      encodeFrame(
        0x1,
        Buffer.from(
          JSON.stringify({
            type: "hello",
            num_connections: sockets.size,
            connection_info: { app_id: "A0DEPUTY" },
          }),
        ),
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function sign(body: string, sign: SignOptions = {}): Record<string, string> {
    const timestamp = String(sign.timestamp ?? Math.floor(Date.now() / 1000));
    const hmac = createHmac("sha256", sign.secret ?? signingSecret)
      .update(`v0:${timestamp}:${body}`)
      .digest("hex");
    const headers: Record<string, string> = {
      "X-Slack-Request-Timestamp": timestamp,
      "X-Slack-Signature": sign.signature ?? `v0=${hmac}`,
    };
    if (sign.retryNum !== undefined) {
      headers["X-Slack-Retry-Num"] = String(sign.retryNum);
      headers["X-Slack-Retry-Reason"] = sign.retryReason ?? "http_timeout";
    }
    return headers;
  }

  async function post(
    body: string,
    contentType: string,
    headers: Record<string, string>,
  ): Promise<SendResult> {
    if (!target) throw new Error("slack fake: setTarget(url) first");
    const started = performance.now();
    const response = await fetch(target, {
      method: "POST",
      headers: { "content-type": contentType, ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text, latencyMs: performance.now() - started };
  }

  const fake: SlackFake = {
    apiUrl: `${base}/api/`,
    appToken,
    get socketConnections() {
      return sockets.size;
    },
    async waitForSocket(timeoutMs = 10_000) {
      await fake.waitFor(() => sockets.size > 0, { timeoutMs, what: "a Socket Mode connection" });
    },
    sendOverSocket(type, payload, socketOptions = {}) {
      const socket = [...sockets][0];
      if (!socket) return Promise.reject(new Error("slack fake: no Socket Mode connection"));
      const envelopeId = randomBytes(8).toString("hex");
      const envelope = {
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: type !== "events_api",
        ...(type === "events_api"
          ? {
              retry_attempt: socketOptions.retryAttempt ?? 0,
              retry_reason: socketOptions.retryAttempt ? "timeout" : "",
            }
          : {}),
      };
      return new Promise<SocketAck>((resolve) => {
        pendingAcks.set(envelopeId, { started: performance.now(), resolve });
        socket.write(encodeFrame(0x1, Buffer.from(JSON.stringify(envelope))));
      });
    },
    signingSecret,
    botToken,
    teamId,
    botUserId,
    calls,
    messages,
    responseUrlPosts,
    userGroups,
    channelMembers,
    views,
    files,
    homeOf(user) {
      return views.filter((v) => v.method === "views.publish" && v.user === user).at(-1)?.view;
    },
    openHome(user, opts = {}) {
      return fake.sendEvent(
        { type: "app_home_opened", user, channel: `D0${user}`, tab: "home", event_ts: nextTs() },
        opts,
      );
    },
    async clickView(opts) {
      const blocks = (opts.view.blocks ?? []) as {
        type: string;
        block_id?: string;
        elements?: { action_id?: string; value?: string }[];
      }[];
      const block = blocks.find(
        (b) => b.type === "actions" && b.elements?.some((e) => e.action_id === opts.actionId),
      );
      const button = block?.elements?.find((e) => e.action_id === opts.actionId);
      if (!block || !button) throw new Error(`slack fake: no button ${opts.actionId} on the view`);
      const payload = JSON.stringify({
        type: "block_actions",
        user: { id: opts.user, username: opts.user.toLowerCase(), team_id: teamId },
        api_app_id: "A0DEPUTY",
        token: "legacy-verification-token",
        container: { type: "view", view_id: "V0HOME" },
        trigger_id: `${Date.now()}.${randomBytes(4).toString("hex")}`,
        team: { id: teamId, domain: "fake" },
        view: {
          id: "V0HOME",
          type: opts.view.type,
          blocks: opts.view.blocks,
          private_metadata: opts.view.private_metadata ?? "",
          hash: "h",
        },
        actions: [
          {
            type: "button",
            action_id: button.action_id,
            block_id: block.block_id,
            value: button.value,
            text: { type: "plain_text", text: opts.actionId },
            action_ts: `${(Date.now() / 1000).toFixed(6)}`,
          },
        ],
      });
      const result = await fake.replay(payload, opts);
      return { ...result, payload };
    },
    async submitView(opts) {
      const payload = JSON.stringify({
        type: "view_submission",
        team: { id: teamId, domain: "fake" },
        user: { id: opts.user, username: opts.user.toLowerCase(), team_id: teamId },
        api_app_id: "A0DEPUTY",
        token: "legacy-verification-token",
        trigger_id: `${Date.now()}.${randomBytes(4).toString("hex")}`,
        view: {
          id: "V0MODAL",
          type: "modal",
          callback_id: opts.view.callback_id,
          private_metadata: opts.view.private_metadata ?? "",
          blocks: opts.view.blocks,
          state: { values: opts.values },
          hash: "h",
        },
        response_urls: [],
      });
      const result = await fake.replay(payload, opts);
      return { ...result, payload };
    },
    async shortcut(opts) {
      const payload = JSON.stringify({
        type: "message_action",
        callback_id: opts.callbackId,
        trigger_id: `${Date.now()}.${randomBytes(4).toString("hex")}`,
        action_ts: `${(Date.now() / 1000).toFixed(6)}`,
        team: { id: teamId, domain: "fake" },
        user: {
          id: opts.user,
          username: opts.user.toLowerCase(),
          team_id: teamId,
          name: opts.user.toLowerCase(),
        },
        channel: { id: opts.message.channel, name: "ops" },
        message_ts: opts.message.ts,
        message: {
          type: "message",
          user: opts.message.user ?? "U0SOMEONE",
          ts: opts.message.ts,
          text: opts.message.text,
          ...(opts.message.thread_ts ? { thread_ts: opts.message.thread_ts } : {}),
        },
        response_url: `${base}/response/${randomBytes(6).toString("hex")}`,
        token: "legacy-verification-token",
      });
      const result = await fake.replay(payload, opts);
      return { ...result, payload };
    },
    setTarget(url) {
      target = url;
    },
    get target() {
      return target;
    },
    sign,
    post,
    async sendEvent(event, opts = {}) {
      const eventId = opts.eventId ?? `Ev${randomBytes(6).toString("hex").toUpperCase()}`;
      const body = JSON.stringify({
        token: "legacy-verification-token",
        team_id: teamId,
        api_app_id: "A0DEPUTY",
        event,
        type: "event_callback",
        event_id: eventId,
        event_time: Math.floor(Date.now() / 1000),
        authorizations: [{ team_id: teamId, user_id: botUserId, is_bot: true }],
      });
      const result = await post(body, "application/json", sign(body, opts));
      return { ...result, eventId };
    },
    async mention(opts) {
      const ts = opts.ts ?? nextTs();
      const channel = opts.channel ?? "C0CHANNEL";
      const event = {
        type: "app_mention",
        user: opts.user,
        text: `<@${botUserId}> ${opts.text}`,
        ts,
        channel,
        team: teamId,
        event_ts: ts,
        ...(opts.threadTs ? { thread_ts: opts.threadTs } : {}),
      };
      messages.push({
        channel,
        ts,
        thread_ts: opts.threadTs,
        text: event.text,
        blocks: undefined,
        user: opts.user,
        updates: 0,
      });
      const result = await fake.sendEvent(event, opts);
      return { ...result, ts };
    },
    async sendCommand(opts) {
      const responseUrlId = randomBytes(6).toString("hex");
      const body = new URLSearchParams({
        token: "legacy-verification-token",
        team_id: teamId,
        team_domain: "fake",
        channel_id: opts.channel ?? "C0CHANNEL",
        channel_name: "ops",
        user_id: opts.user,
        user_name: opts.user.toLowerCase(),
        command: opts.command ?? "/deputy",
        text: opts.text,
        api_app_id: "A0DEPUTY",
        response_url: `${base}/response/${responseUrlId}`,
        trigger_id: `${Date.now()}.${randomBytes(4).toString("hex")}`,
      }).toString();
      const result = await post(body, "application/x-www-form-urlencoded", sign(body, opts));
      return { ...result, responseUrlId };
    },
    async click(opts) {
      const elements = (opts.message.blocks ?? []).flatMap((block) => {
        const b = block as {
          type: string;
          block_id?: string;
          elements?: { action_id?: string; value?: string }[];
        };
        return b.type === "actions"
          ? (b.elements ?? []).map((element) => ({ ...element, block_id: b.block_id }))
          : [];
      });
      const button = elements.find((element) => element.action_id === opts.actionId);
      if (!button) throw new Error(`slack fake: no button ${opts.actionId} on message ${opts.message.ts}`);
      const payload = JSON.stringify({
        type: "block_actions",
        user: { id: opts.user, username: opts.user.toLowerCase(), team_id: opts.teamId ?? teamId },
        api_app_id: "A0DEPUTY",
        token: "legacy-verification-token",
        container: {
          type: "message",
          message_ts: opts.message.ts,
          channel_id: opts.message.channel,
          is_ephemeral: false,
          thread_ts: opts.message.thread_ts,
        },
        trigger_id: `${Date.now()}.${randomBytes(4).toString("hex")}`,
        team: { id: teamId, domain: "fake" },
        channel: { id: opts.message.channel, name: "ops" },
        message: {
          type: "message",
          ts: opts.message.ts,
          thread_ts: opts.message.thread_ts,
          text: opts.message.text,
          blocks: opts.message.blocks,
          user: botUserId,
        },
        response_url: `${base}/response/${randomBytes(6).toString("hex")}`,
        actions: [
          {
            type: "button",
            action_id: button.action_id,
            block_id: button.block_id,
            value: button.value,
            text: { type: "plain_text", text: opts.actionId },
            action_ts: opts.actionTs ?? `${(Date.now() / 1000).toFixed(6)}`,
          },
        ],
      });
      const result = await fake.replay(payload, opts);
      return { ...result, payload };
    },
    async replay(payload, opts = {}) {
      const body = new URLSearchParams({ payload }).toString();
      return post(body, "application/x-www-form-urlencoded", sign(body, opts));
    },
    thread(channel, threadTs) {
      return messages.filter((m) => m.channel === channel && (m.ts === threadTs || m.thread_ts === threadTs));
    },
    failNext(method, failure = {}) {
      failures.set(method, {
        error: failure.error ?? "internal_error",
        status: failure.status,
        times: failure.times ?? 1,
      });
    },
    callsOf(method) {
      return calls.filter((call) => call.method === method);
    },
    async waitFor(probe, waitOptions = {}) {
      const deadline = Date.now() + (waitOptions.timeoutMs ?? 15_000);
      for (;;) {
        const value = probe();
        if (value !== undefined && value !== false) return value;
        if (Date.now() > deadline)
          throw new Error(`slack fake: timed out waiting for ${waitOptions.what ?? "a condition"}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

/** One WebSocket frame from the client (always masked), or undefined until complete. */
function readFrame(data: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (data.length < 2) return undefined;
  const opcode = data[0]! & 0x0f;
  const masked = (data[1]! & 0x80) !== 0;
  let length = data[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    length = Number(data.readBigUInt64BE(2));
    offset = 10;
  }
  const maskLength = masked ? 4 : 0;
  if (data.length < offset + maskLength + length) return undefined;
  const mask = data.subarray(offset, offset + maskLength);
  const payload = Buffer.from(data.subarray(offset + maskLength, offset + maskLength + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
  return { opcode, payload, length: offset + maskLength + length };
}

/** A server-to-client frame (unmasked, FIN set). */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const header =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : payload.length < 65536
        ? Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 127]),
            (() => {
              const size = Buffer.alloc(8);
              size.writeBigUInt64BE(BigInt(payload.length));
              return size;
            })(),
          ]);
  return Buffer.concat([header, payload]);
}
