import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { AnyObjectSchema, SchemaOutput } from "@modelcontextprotocol/sdk/server/zod-compat.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  ErrorCode,
  McpError,
  type Implementation,
  type Notification,
  type Request,
  type Result,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { conversationScope } from "../core/identity/access.ts";
import type { CallerClaims } from "../core/identity/caller-auth.ts";
import { META_KEYS } from "../core/actions/meta.ts";
import { DeputyError } from "../core/errors.ts";
import {
  conversationSchema,
  identitySchema,
  sameIdentity,
  type ConversationRef,
} from "../core/identity/identity.ts";
import type { McpDeps } from "./deps.ts";
import { toolError, type CallerContext } from "./tool.ts";

/**
 * The one place every MCP request passes, whatever its kind (tools,
 * resources, prompts, completions, and any registered later): before a
 * handler runs, the caller in `_meta` is parsed and checked against what the
 * transport vouches for (the bot's signed assertion over HTTP), and the
 * verified conversation's channel scope is resolved (DEPUTY_CHANNEL_NAMESPACES).
 * A request the gate refuses never reaches its handler; a handler gets the
 * caller and deps narrowed to that scope from `accessOf(extra)`, which fails
 * for a request that did not pass the gate.
 */

/**
 * How far the transport vouches for `_meta`: stdio and in-memory callers are
 * the local user or this process (trusted); an HTTP caller is trusted only
 * for what its verified assertion claims; an unauthenticated loopback caller
 * in local mode may read, but names nobody (writes then need a requester).
 */
export type CallerTrust =
  { kind: "trusted" } | { kind: "verified"; claims: CallerClaims } | { kind: "anonymous" };

export interface RequestAccess {
  caller: CallerContext;
  /** The server's deps with `namespaceScope` set to the conversation's channel scope. */
  deps: McpDeps;
}

type Extra = RequestHandlerExtra<ServerRequest | Request, ServerNotification | Notification>;

const callerSchema = z.object({
  [META_KEYS.requester]: identitySchema.optional(),
  [META_KEYS.conversation]: conversationSchema.optional(),
  [META_KEYS.prompt]: z.string().max(8000).optional(),
  [META_KEYS.reason]: z.string().max(2000).optional(),
});

/** The caller context from a request's `_meta`, or a sentence saying what is wrong with it. */
export function parseCaller(meta: unknown): { caller: CallerContext } | { problem: string } {
  const parsed = callerSchema.safeParse(meta ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join(".") || "_meta"}: ${i.message}`)
      .join("; ");
    return { problem: `the caller identity in _meta is invalid (${problems})` };
  }
  const m = parsed.data;
  return {
    caller: {
      requester: m[META_KEYS.requester],
      conversation: m[META_KEYS.conversation],
      prompt: m[META_KEYS.prompt],
      reason: m[META_KEYS.reason],
    },
  };
}

/** The caller context `_meta` gives, checked against what the transport vouches for. */
export function applyCallerTrust(
  caller: CallerContext,
  trust: CallerTrust,
): { caller: CallerContext } | { problem: string } {
  if (trust.kind === "trusted") return { caller };
  if (trust.kind === "anonymous")
    return { caller: { ...caller, requester: undefined, conversation: undefined } };
  const { requester, conversation } = trust.claims;
  if (caller.requester && (!requester || !sameIdentity(caller.requester, requester))) {
    return { problem: "the requester in _meta is not the one the caller's signed assertion names" };
  }
  // A conversation the assertion does not vouch for would otherwise lose its channel's scope.
  if (caller.conversation && !sameConversation(caller.conversation, conversation)) {
    return { problem: "the conversation in _meta is not the one the caller's signed assertion names" };
  }
  return { caller: { ...caller, requester, conversation } };
}

function sameConversation(a: ConversationRef, b: ConversationRef | undefined): boolean {
  return b !== undefined && a.surface === b.surface && a.channel === b.channel && a.thread === b.thread;
}

export type GateVerdict =
  { ok: true; access: RequestAccess } | { ok: false; rule: string; message: string; caller?: CallerContext };

/** Who is asking, from where, and what that conversation may see; or why the request is refused. */
export function resolveAccess(meta: unknown, trust: CallerTrust, deps: McpDeps): GateVerdict {
  const parsed = parseCaller(meta);
  const trusted = "caller" in parsed ? applyCallerTrust(parsed.caller, trust) : parsed;
  if ("problem" in trusted) return { ok: false, rule: "invalid-caller", message: trusted.problem };
  const { caller } = trusted;
  const scope = conversationScope(deps.config.access, caller.conversation);
  if (scope.kind === "refused") return { ok: false, rule: scope.rule, message: scope.message, caller };
  return {
    ok: true,
    access: { caller, deps: scope.kind === "scoped" ? { ...deps, namespaceScope: scope.scope } : deps },
  };
}

const granted = new WeakMap<object, RequestAccess>();

/** The access the gate resolved for this request; throws for a request that bypassed the gate. */
export function accessOf(extra: object): RequestAccess {
  const access = granted.get(extra);
  if (!access)
    throw new DeputyError("INTERNAL", "an MCP request reached its handler without passing the request gate");
  return access;
}

/**
 * An MCP Server whose every request handler runs behind the gate: the
 * SDK's own registration path is the one wrapped, so a handler registered
 * anywhere (here, a resource module, a test) cannot skip it.
 */
export class GatedServer extends Server {
  private gate: { deps: McpDeps; trust: CallerTrust } | undefined;

  constructor(
    info: Implementation,
    options: ConstructorParameters<typeof Server>[1],
    gate: { deps: McpDeps; trust: CallerTrust },
  ) {
    super(info, options);
    this.gate = gate;
  }

  override setRequestHandler<T extends AnyObjectSchema>(
    requestSchema: T,
    handler: (
      request: SchemaOutput<T>,
      extra: Extra,
    ) => ServerResult | Result | Promise<ServerResult | Result>,
  ): void {
    super.setRequestHandler(requestSchema, (request, extra) => {
      // Set after super() returns: the base constructor registers initialize and ping first.
      const gate = this.gate;
      if (!gate) throw new McpError(ErrorCode.InternalError, "the MCP server is not ready");
      const message = request as { method: string; params?: { _meta?: unknown; name?: unknown } };
      const verdict = resolveAccess(message.params?._meta, gate.trust, gate.deps);
      if (!verdict.ok) return refuse(gate.deps, message, verdict);
      granted.set(extra, verdict.access);
      return handler(request, extra);
    });
  }
}

/** A refused request: audited; a tool call gets an isError result (MCP's tool error), others a JSON-RPC error. */
function refuse(
  deps: McpDeps,
  request: { method: string; params?: { name?: unknown } },
  verdict: Extract<GateVerdict, { ok: false }>,
): ServerResult {
  const tool =
    request.method === "tools/call" && typeof request.params?.name === "string"
      ? request.params.name
      : undefined;
  deps.audit.record({
    kind: "tool_call",
    tool: tool ?? request.method,
    decision: "refused",
    rule: verdict.rule,
    outcome: "error",
    message: verdict.message.slice(0, 500),
    cluster: deps.config.kube.clusterName,
    ...(verdict.caller?.requester ? { actor: verdict.caller.requester } : {}),
    ...(verdict.caller?.conversation ? { conversation: verdict.caller.conversation } : {}),
  });
  const sentence = `${tool ?? request.method} refused: ${verdict.message.replace(/\.$/, "")}.`;
  if (tool) return toolError(sentence, { error: { code: "POLICY_DENIED", rule: verdict.rule } });
  throw new McpError(ErrorCode.InvalidRequest, sentence);
}
