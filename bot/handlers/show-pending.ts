import type { RespondFn, webApi } from "@slack/bolt";
import { describeError } from "../../core/errors.ts";
import { isDirectMessageChannel } from "../../core/identity/access.ts";
import type { ConversationRef, Identity } from "../../core/identity/identity.ts";
import { homeView, pendingBlocks, pendingText, refusedHomeView } from "../blocks/pending.ts";
import type { BotServices } from "../deps.ts";
import { sanitizePlain } from "../sanitize.ts";
import { pendingOverview } from "./pending.ts";

/** `/deputy pending` (also "queue"): the overview, only to the person who asked. */
export function isPendingCommand(text: string): boolean {
  return /^(pending|queue)$/i.test(text.trim());
}

export async function showPending(
  services: BotServices,
  client: webApi.WebClient,
  user: Identity,
  where: ConversationRef,
  respond: RespondFn,
  /** `--cluster X`: only that cluster. */
  cluster?: string,
): Promise<void> {
  try {
    // The same rules as a question asked here: refused, the person sees nothing else.
    const refusal = await services.access.refusal(user, where);
    if (refusal) {
      await respond({ response_type: "ephemeral", text: `:no_entry: ${sanitizePlain(refusal)}` });
      return;
    }
    const overview = await pendingOverview(services, client, user, {
      channel: where.channel,
      health: where,
      ...(cluster !== undefined ? { cluster } : {}),
    });
    await respond({
      response_type: "ephemeral",
      text: pendingText(overview),
      blocks: pendingBlocks(overview),
    });
  } catch (error) {
    services.logger.error({ err: describeError(error) }, "pending overview failed");
    await respond({
      response_type: "ephemeral",
      text: sanitizePlain(`I could not list pending actions: ${describeError(error)}`),
    });
  }
}

/**
 * Publish the user's App Home tab. It has no channel of its own: the person
 * must be allowed to ask at all (the requester group), it lists only what
 * they may see (pendingOverview), and its health line follows the rules of
 * a direct message with Deputy (`homeChannel`, the app's DM with the user).
 */
export async function publishHome(
  services: BotServices,
  client: webApi.WebClient,
  user: Identity,
  homeChannel: string | undefined,
): Promise<void> {
  const dm = homeChannel && isDirectMessageChannel(homeChannel) ? homeChannel : undefined;
  const place: ConversationRef = {
    surface: "slack",
    ...(user.teamId ? { teamId: user.teamId } : {}),
    channel: dm ?? "app-home",
    thread: "app-home",
  };
  const refusal = await services.access.personRefusal(user, place);
  if (refusal) {
    await client.views.publish({ user_id: user.id, view: refusedHomeView(sanitizePlain(refusal)) });
    return;
  }
  const scope = services.access.channellessScope();
  const health = scope === "global" ? "global" : scope === "direct-messages" && dm ? place : undefined;
  const overview = await pendingOverview(services, client, user, { channel: undefined, health });
  await client.views.publish({ user_id: user.id, view: homeView(overview, dm) });
}

/**
 * "Resume writes" from the App Home or a pending list: the same audited
 * service as `/deputy resume-writes` and the alert's button. The button is
 * shown only to approvers, but a click is checked again there (anyone can
 * forge one), and refused or not, it is audited.
 */
export async function resumeWritesFor(services: BotServices, user: Identity): Promise<string> {
  const result = await services.writePause.resume(user);
  services.logger.info({ user, resumed: result.resumed }, "write resume from the pending view");
  return result.text;
}
