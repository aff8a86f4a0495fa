import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { describeError } from "../../../core/errors.ts";
import type { Identity } from "../../../core/identity/identity.ts";
import { REFRESH_HOME_ACTION_ID, RESUME_WRITES_ACTION_ID } from "../../blocks/pending.ts";
import type { BotServices } from "../../deps.ts";
import { publishHome, resumeWritesFor } from "../../handlers/show-pending.ts";

/** Buttons of the App Home and the pending list: Refresh, and Resume writes (approvers only). */
export function register(app: App, services: BotServices): void {
  const userOf = (body: BlockAction): Identity => {
    const teamId = body.user.team_id ?? body.team?.id;
    return { kind: "slack", id: body.user.id, ...(teamId ? { teamId } : {}) };
  };
  // Kept in the view by publishHome; checked there to be a direct-message id (a forged one gains nothing).
  const homeChannelOf = (body: BlockAction): string | undefined => body.view?.private_metadata || undefined;
  app.action<BlockAction<ButtonAction>>(REFRESH_HOME_ACTION_ID, async ({ ack, body, client }) => {
    await ack();
    services.tasks.run("app_home_refresh", () =>
      publishHome(services, client, userOf(body), homeChannelOf(body)).catch((error: unknown) =>
        services.logger.warn({ err: describeError(error) }, "App Home refresh failed"),
      ),
    );
  });
  app.action<BlockAction<ButtonAction>>(RESUME_WRITES_ACTION_ID, async ({ ack, body, client, respond }) => {
    await ack();
    const user = userOf(body);
    services.tasks.run("resume_writes", async () => {
      const message = await resumeWritesFor(services, user).catch(
        (error: unknown) => `Write approvals could not be resumed: ${describeError(error)}`,
      );
      if (body.view?.type === "home") {
        await publishHome(services, client, user, homeChannelOf(body)).catch(() => undefined);
        await client.chat.postMessage({ channel: user.id, text: message }).catch(() => undefined);
      } else {
        await respond({ response_type: "ephemeral", replace_original: false, text: message });
      }
    });
  });
}
