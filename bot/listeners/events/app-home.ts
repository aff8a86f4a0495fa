import type { App } from "@slack/bolt";
import { describeError } from "../../../core/errors.ts";
import type { BotServices } from "../../deps.ts";
import { publishHome } from "../../handlers/show-pending.ts";

/** The App Home tab is rendered fresh each time someone opens it. */
export function register(app: App, services: BotServices): void {
  app.event("app_home_opened", async ({ event, client, body }) => {
    if (event.tab !== "home") return;
    const teamId = body.team_id;
    services.tasks.run("app_home", async () => {
      try {
        await publishHome(
          services,
          client,
          { kind: "slack", id: event.user, ...(teamId ? { teamId } : {}) },
          event.channel,
        );
      } catch (error) {
        services.logger.warn({ err: describeError(error) }, "App Home publish failed");
      }
    });
  });
}
