import type { RespondFn, webApi } from "@slack/bolt";
import { resumeWritesOf } from "../../core/anomaly.ts";
import { describeError } from "../../core/errors.ts";
import type { Identity } from "../../core/identity.ts";
import { homeView, pendingBlocks, pendingText } from "../blocks/pending.ts";
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
  respond: RespondFn,
): Promise<void> {
  try {
    const overview = await pendingOverview(services, client, user);
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

/** Publish the user's App Home tab. */
export async function publishHome(
  services: BotServices,
  client: webApi.WebClient,
  user: Identity,
): Promise<void> {
  const overview = await pendingOverview(services, client, user);
  await client.views.publish({ user_id: user.id, view: homeView(overview) });
}

/**
 * "Resume writes" from the App Home or a pending list. The button is shown
 * only to approvers, but a click is checked again: anyone can forge one.
 */
export async function resumeWritesFor(
  services: BotServices,
  client: webApi.WebClient,
  user: Identity,
): Promise<string> {
  if (!(await services.isApprover(user))) {
    services.logger.warn({ user }, "write resume refused: not an approver");
    return "Only an approver can resume write approvals; nothing changed.";
  }
  const lifted = await resumeWritesOf(services.redis, services.redisPrefix, services.clusterNames);
  services.logger.info(
    { user, lifted },
    lifted.length > 0 ? "write approvals resumed" : "write approvals were not paused",
  );
  if (lifted.length === 0) return "Write approvals were not paused.";
  const named = services.clusterNames.length > 1;
  return sanitizePlain(
    lifted
      .map((pause) =>
        named
          ? `Write approvals resumed in cluster ${pause.cluster} (the pause was ${pause.rule}: ${pause.reason}).`
          : `Write approvals resumed (the pause was ${pause.rule}: ${pause.reason}).`,
      )
      .join(" "),
  );
}
