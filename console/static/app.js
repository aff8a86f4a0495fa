// Deputy's local console. Plain browser JavaScript, no build, no external
// assets. Everything shown here may come from the cluster or the model, which
// attackers can influence: text is only ever inserted as text nodes.
"use strict";

const state = {
  status: null,
  user: null,
  threads: new Map(),
  order: [],
  selected: null,
  toolEls: new Map(),
  cardEls: new Map(),
  notices: new Map(),
  epoch: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function colorFor(name) {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) | 0;
  const palette = ["#7c3aed", "#0f766e", "#c2410c", "#1d4ed8", "#be185d", "#4d7c0f"];
  return palette[Math.abs(hash) % palette.length];
}

function avatar(name) {
  return el(
    "span",
    { class: "avatar", dataset: { who: name } },
    String(name || "?")
      .slice(0, 1)
      .toUpperCase(),
  );
}

function paintAvatar(node, color) {
  node.style.background = color;
  return node;
}

function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString();
}

// ---------- API ----------

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = {};
  try {
    payload = await response.json();
  } catch {
    payload = {};
  }
  return { ok: response.ok, status: response.status, body: payload };
}

function errorText(result) {
  if (result.body && result.body.error) return result.body.error.message;
  if (result.body && result.body.message) return result.body.message;
  return `request failed (HTTP ${result.status})`;
}

// ---------- identity ----------

function renderIdentity() {
  const box = $("identity");
  box.replaceChildren(el("span", { class: "identity-label" }, "Acting as"));
  for (const user of state.status.users) {
    const checked = user.id === state.user;
    const button = el(
      "button",
      {
        type: "button",
        role: "radio",
        "aria-checked": checked ? "true" : "false",
        dataset: { user: user.id },
        title: `Act as ${user.id} (${user.roles.join(", ")})`,
        onclick: () => selectUser(user.id),
      },
      paintAvatar(avatar(user.id), colorFor(user.id)),
      el("span", { class: "who" }, user.id),
      el("span", { class: "role" }, user.roles.join(" · ")),
    );
    box.append(button);
  }
}

function selectUser(id) {
  state.user = id;
  try {
    localStorage.setItem("deputy.user", id);
  } catch {
    // storage may be unavailable; the choice still holds for this page
  }
  renderIdentity();
  $("composer-input").placeholder = `Message Deputy as ${id} — e.g. troubleshoot shop/checkout`;
}

// ---------- threads ----------

function threadOf(id) {
  let thread = state.threads.get(id);
  if (!thread) {
    thread = {
      id,
      title: id,
      kind: "conversation",
      startedBy: undefined,
      events: [],
      busy: false,
      unread: 0,
    };
    state.threads.set(id, thread);
    state.order.unshift(id);
  }
  return thread;
}

function renderThreadList() {
  const conversations = $("thread-list");
  const triage = $("triage-list");
  conversations.replaceChildren();
  triage.replaceChildren();
  for (const id of state.order) {
    const thread = state.threads.get(id);
    const button = el(
      "button",
      {
        type: "button",
        "aria-current": state.selected === id ? "true" : "false",
        dataset: { thread: id },
        title: thread.title,
        onclick: () => selectThread(id),
      },
      thread.unread > 0 && state.selected !== id ? el("span", { class: "count" }, thread.unread) : null,
      thread.kind === "triage" ? "⚠ " : "# ",
      thread.title,
    );
    (thread.kind === "triage" ? triage : conversations).append(el("li", {}, button));
  }
  if (triage.childElementCount === 0) {
    triage.append(el("li", { class: "none" }, el("span", { class: "thread-meta" }, "  nothing yet")));
  }
}

function selectThread(id) {
  state.selected = id;
  state.toolEls.clear();
  state.cardEls.clear();
  const messages = $("messages");
  messages.replaceChildren();
  $("composer-error").hidden = true;
  if (id === null) {
    $("thread-title").textContent = "New thread";
    $("thread-meta").textContent = "your first message starts a thread";
    messages.append(emptyState());
    $("working").hidden = true;
    $("composer").hidden = false;
  } else {
    const thread = threadOf(id);
    thread.unread = 0;
    $("thread-title").textContent = thread.title;
    $("thread-meta").textContent = thread.startedBy ? `started by ${thread.startedBy.id}` : "";
    $("composer").hidden = thread.kind === "triage";
    for (const event of thread.events) renderEvent(event);
    $("working").hidden = !thread.busy;
    messages.scrollTop = messages.scrollHeight;
  }
  renderThreadList();
  if (id) history.replaceState(null, "", `#${id}`);
  else history.replaceState(null, "", location.pathname);
}

function emptyState() {
  const examples = (state.status ? state.status.directCommands : []).map((command) =>
    el(
      "li",
      {},
      el(
        "code",
        {
          title: "Put this in the message box",
          onclick: () => {
            $("composer-input").value = command;
            $("composer-input").focus();
          },
        },
        command,
      ),
    ),
  );
  return el(
    "div",
    { class: "empty", id: "empty" },
    el("p", {}, "Ask Deputy about the cluster, or run a direct command:"),
    el("ul", { class: "examples" }, examples),
    el(
      "p",
      {},
      "Writes never run straight away: they become approval cards that a different person must approve.",
    ),
  );
}

// ---------- rendering events ----------

function richText(text) {
  // Fenced cluster data (tags carry a per-result nonce) and ``` blocks become
  // preformatted boxes; everything stays a text node, whatever it contains.
  const source = String(text);
  const pattern =
    /<untrusted-data-([a-z0-9]+) source="([^"]*)">\n([\s\S]*?)\n?<\/untrusted-data-\1>|```[^\n]*\n([\s\S]*?)```/g;
  const nodes = [];
  let last = 0;
  for (const match of source.matchAll(pattern)) {
    nodes.push(source.slice(last, match.index));
    if (match[1] !== undefined) {
      nodes.push(
        el(
          "figure",
          { class: "untrusted" },
          el("figcaption", {}, `cluster data · ${match[2]} · untrusted, shown as text`),
          el("pre", {}, match[3]),
        ),
      );
    } else {
      nodes.push(el("pre", {}, match[4].replace(/\n$/, "")));
    }
    last = match.index + match[0].length;
  }
  nodes.push(source.slice(last));
  return nodes;
}

function messageEl(event) {
  const isUser = event.role === "user";
  const name =
    isUser && event.author ? event.author.id : event.role === "system" ? "Deputy · notice" : "Deputy";
  const color = isUser && event.author ? colorFor(event.author.id) : "#1f6f5c";
  return el(
    "div",
    { class: `msg ${event.role}`, dataset: { seq: event.seq, role: event.role } },
    paintAvatar(avatar(isUser ? name : "D"), color),
    el(
      "div",
      { class: "msg-body" },
      el(
        "div",
        { class: "msg-head" },
        el("span", { class: "msg-author" }, name),
        el("span", { class: "msg-time" }, timeOf(event.time)),
      ),
      el("div", { class: "msg-text" }, richText(event.text)),
    ),
  );
}

function argsText(args) {
  return Object.entries(args || {})
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

function toolEl(event) {
  const stateText =
    event.status === "running"
      ? "running…"
      : `${event.status === "ok" ? "done" : "failed"}${event.durationMs !== undefined ? ` in ${event.durationMs} ms` : ""}`;
  const summary = el(
    "summary",
    {},
    "⚙ ",
    el("span", { class: "tool-name" }, event.tool),
    " ",
    el("span", { class: "tool-args" }, argsText(event.arguments)),
    " — ",
    el("span", { class: "tool-state" }, stateText),
  );
  const body = event.output ? el("div", { class: "tool-output" }, event.output) : null;
  return el(
    "details",
    { class: "tool", dataset: { status: event.status, tool: event.tool, call: event.callId } },
    summary,
    body,
  );
}

function expiryText(card) {
  const left = Math.round((new Date(card.expiresAt).getTime() - Date.now()) / 1000);
  if (card.state !== "pending") return `expires ${new Date(card.expiresAt).toLocaleTimeString()}`;
  if (left <= 0) return "expired";
  const minutes = Math.floor(left / 60);
  const seconds = String(left % 60).padStart(2, "0");
  return `in ${minutes}:${seconds} (${new Date(card.expiresAt).toLocaleTimeString()})`;
}

function stateLabel(card) {
  switch (card.state) {
    case "pending":
      return "pending approval";
    case "approved":
    case "executing":
      return "running";
    default:
      return card.state;
  }
}

function cardEl(card) {
  const pending = card.state === "pending";
  const rows = [
    ["Tool", el("code", {}, card.tool)],
    ["Target", card.target],
    [
      "Preview",
      el(
        "ul",
        { class: "preview" },
        card.preview.map((line) => el("li", {}, line)),
      ),
    ],
    ["Reason", card.reason || "—"],
    [
      "Risk",
      card.risk.flags.length === 0
        ? card.risk.level
        : el(
            "ul",
            { class: "flags" },
            card.risk.flags.map((flag) => el("li", { dataset: { rule: flag.rule } }, flag.message)),
          ),
    ],
    ["Requested by", card.requester.name || card.requester.id],
    ["Approvers", card.approvers.length > 0 ? card.approvers.join(", ") : "—"],
    ["Expires", el("span", { class: "expires" }, expiryText(card))],
  ];
  if (card.decidedBy) {
    rows.push([
      card.state === "rejected" ? "Rejected by" : "Approved by",
      `${card.decidedBy.name || card.decidedBy.id}${card.decidedAt ? ` at ${timeOf(card.decidedAt)}` : ""}`,
    ]);
  }
  if (card.outcome) {
    const facts = [card.outcome.message];
    if (card.outcome.kubeStatus !== undefined) facts.push(`API status ${card.outcome.kubeStatus}`);
    if (card.outcome.leaseId) facts.push(`OpenBao lease ${card.outcome.leaseId} (revoked)`);
    if (card.outcome.durationMs !== undefined) facts.push(`${card.outcome.durationMs} ms`);
    rows.push(["Outcome", facts.join(" · ")]);
  }
  const dl = el(
    "dl",
    {},
    rows.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
  );
  const notice = el("div", { class: "card-notice", role: "alert", hidden: true });
  const remembered = state.notices.get(card.actionId);
  if (remembered && pending) {
    notice.hidden = false;
    notice.dataset.kind = remembered.kind;
    notice.textContent = remembered.text;
  }
  const actions = el(
    "div",
    { class: "card-actions" },
    pending
      ? [
          el(
            "button",
            { type: "button", class: "approve", onclick: () => decide(card, "approve", root) },
            "Approve",
          ),
          el(
            "button",
            { type: "button", class: "reject", onclick: () => decide(card, "reject", root) },
            "Reject",
          ),
        ]
      : null,
    el("button", { type: "button", class: "story", onclick: () => showStory(card.actionId) }, "Audit story"),
  );
  const root = el(
    "div",
    {
      class: "card",
      dataset: { action: card.actionId, state: card.state, risk: card.risk.level },
      "aria-label": `Approval card ${card.actionId}`,
    },
    el(
      "div",
      { class: "card-title" },
      el("span", {}, pending ? "Approval needed: " : "Action: ", card.summary),
      el("span", { class: "card-state" }, stateLabel(card)),
      card.risk.level === "high" ? el("span", { class: "card-risk" }, "high risk") : null,
    ),
    el(
      "div",
      { class: "thread-meta" },
      `${card.actionId} · digest ${card.digest.slice(0, 12)} · cluster ${card.cluster}`,
    ),
    dl,
    pending
      ? el(
          "div",
          { class: "card-hint" },
          `${card.approvers.length > 0 ? card.approvers.join(", ") : "An approver"}: please review. The requester cannot approve their own request.`,
        )
      : null,
    actions,
    notice,
  );
  root._card = card;
  return root;
}

function resultEl(event) {
  return el(
    "div",
    { class: "result", dataset: { status: event.status, action: event.actionId } },
    event.text,
  );
}

function triageEl(event) {
  return el(
    "div",
    { class: "triage", dataset: { seq: event.seq, object: event.object || "" } },
    el(
      "div",
      { class: "msg-head" },
      el("span", { class: "triage-title" }, event.title),
      el("span", { class: "msg-time" }, timeOf(event.time)),
    ),
    el("div", { class: "msg-text" }, richText(event.text)),
  );
}

function renderEvent(event) {
  const messages = $("messages");
  const empty = $("empty");
  if (empty && event.type !== "thread" && event.type !== "busy") empty.remove();
  switch (event.type) {
    case "message":
      messages.append(messageEl(event));
      break;
    case "tool_call": {
      const node = toolEl(event);
      const existing = state.toolEls.get(event.callId);
      if (existing) existing.replaceWith(node);
      else messages.append(node);
      state.toolEls.set(event.callId, node);
      break;
    }
    case "progress":
      messages.append(el("div", { class: "tool" }, event.text));
      break;
    case "card": {
      const node = cardEl(event.card);
      const existing = state.cardEls.get(event.card.actionId);
      if (existing) existing.replaceWith(node);
      else messages.append(node);
      state.cardEls.set(event.card.actionId, node);
      break;
    }
    case "result":
      messages.append(resultEl(event));
      break;
    case "triage":
      messages.append(triageEl(event));
      break;
    case "busy":
      $("working").hidden = !event.busy;
      break;
    default:
      break;
  }
}

function apply(event) {
  const thread = threadOf(event.threadId);
  if (event.type === "thread") {
    thread.title = event.title;
    thread.kind = event.kind;
    thread.startedBy = event.startedBy;
    renderThreadList();
    if (state.selected === thread.id) {
      $("thread-title").textContent = thread.title;
    }
    return;
  }
  if (event.type === "busy") thread.busy = event.busy;
  thread.events.push(event);
  if (state.selected === thread.id) {
    const messages = $("messages");
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    renderEvent(event);
    if (atBottom || event.type === "card") messages.scrollTop = messages.scrollHeight;
  } else if (event.type !== "busy") {
    thread.unread += 1;
    renderThreadList();
  }
}

// ---------- actions ----------

async function decide(card, decision, root) {
  // As on the Slack card: a high-risk approval asks once more.
  if (
    decision === "approve" &&
    card.risk.level === "high" &&
    !confirm(`High-risk change: approve ${card.tool} on ${card.target} (digest ${card.digest.slice(0, 12)})?`)
  ) {
    return;
  }
  const buttons = root.querySelectorAll(".card-actions button.approve, .card-actions button.reject");
  buttons.forEach((button) => (button.disabled = true));
  const notice = root.querySelector(".card-notice");
  notice.hidden = true;
  const result = await api("POST", `/api/actions/${encodeURIComponent(card.actionId)}/decision`, {
    user: state.user,
    decision,
    digest: card.digest,
  });
  if (result.ok) {
    state.notices.delete(card.actionId);
    return;
  }
  const refused = result.body && result.body.status === "refused";
  const text = refused ? `${state.user} cannot ${decision} this: ${result.body.message}` : errorText(result);
  const kind = result.status === 409 ? "info" : "error";
  state.notices.set(card.actionId, { text, kind });
  const current = state.cardEls.get(card.actionId) || root;
  const target = current.querySelector(".card-notice");
  target.hidden = false;
  target.dataset.kind = kind;
  target.textContent = text;
  current.querySelectorAll(".card-actions button").forEach((button) => (button.disabled = false));
}

async function showStory(actionId) {
  const dialog = $("story-dialog");
  const list = $("story-lines");
  $("story-title").textContent = `Audit story · ${actionId}`;
  list.replaceChildren(el("li", {}, "loading…"));
  if (!dialog.open) dialog.showModal();
  const result = await api("GET", `/api/actions/${encodeURIComponent(actionId)}/story`);
  if (!result.ok) {
    list.replaceChildren(el("li", {}, errorText(result)));
    return;
  }
  const lines = result.body.lines || [];
  list.replaceChildren(
    ...(lines.length > 0 ? lines.map((line) => el("li", {}, line)) : [el("li", {}, "no audit events yet")]),
  );
}

async function send(event) {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  const errorBox = $("composer-error");
  errorBox.hidden = true;
  $("send").disabled = true;
  const thread = state.selected ? state.threads.get(state.selected) : null;
  const result =
    thread && thread.kind === "conversation"
      ? await api("POST", `/api/threads/${encodeURIComponent(thread.id)}/messages`, {
          user: state.user,
          text,
        })
      : await api("POST", "/api/threads", { user: state.user, text });
  $("send").disabled = false;
  if (!result.ok) {
    errorBox.textContent = errorText(result);
    errorBox.hidden = false;
    return;
  }
  input.value = "";
  if (!thread) selectThread(result.body.threadId);
}

// ---------- start ----------

function connect() {
  const pill = $("conn-pill");
  const source = new EventSource("/api/events");
  source.onopen = () => {
    pill.dataset.state = "on";
    pill.textContent = "live";
  };
  source.onerror = () => {
    pill.dataset.state = "lost";
    pill.textContent = "reconnecting…";
  };
  source.addEventListener("hello", (message) => {
    const { epoch } = JSON.parse(message.data);
    // A restarted console numbers its events from 1 again: start over.
    if (state.epoch && state.epoch !== epoch) location.reload();
    state.epoch = epoch;
  });
  source.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    apply(event);
  };
}

async function start() {
  const result = await api("GET", "/api/status");
  if (!result.ok) {
    $("model-banner").hidden = false;
    $("model-banner").textContent = `The console cannot load its status: ${errorText(result)}`;
    return;
  }
  state.status = result.body;
  $("cluster-pill").textContent = `cluster ${state.status.cluster}`;
  const model = $("model-pill");
  if (state.status.model.enabled) {
    model.dataset.state = "on";
    model.textContent = `model ${state.status.model.name}`;
  } else {
    model.dataset.state = "off";
    model.textContent = "no model";
    const banner = $("model-banner");
    banner.hidden = false;
    banner.textContent =
      "No model is configured (ANTHROPIC_API_KEY is not set): free-form questions are not answered. " +
      `Direct commands work, through the same tools and approvals: ${state.status.directCommands.join("  ·  ")}`;
  }
  let saved = null;
  try {
    saved = localStorage.getItem("deputy.user");
  } catch {
    saved = null;
  }
  const users = state.status.users.map((user) => user.id);
  selectUser(users.includes(saved) ? saved : users[0]);
  $("composer").addEventListener("submit", send);
  $("composer-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("new-thread").addEventListener("click", () => selectThread(null));
  const wanted = location.hash.slice(1);
  selectThread(null);
  connect();
  if (wanted) setTimeout(() => state.threads.has(wanted) && selectThread(wanted), 300);
  setInterval(() => {
    for (const node of state.cardEls.values()) {
      const expires = node.querySelector(".expires");
      if (expires && node._card) expires.textContent = expiryText(node._card);
    }
  }, 1000);
}

start();
