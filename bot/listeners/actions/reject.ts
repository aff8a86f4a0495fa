import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { REJECT_ACTION_ID } from "../../blocks/approval-card.ts";
import type { BotServices } from "../../deps.ts";
import { handleDecisionClick } from "../../handlers/decision.ts";
import { clickFrom } from "./decision-click.ts";

export function register(app: App, services: BotServices): void {
  app.action<BlockAction<ButtonAction>>(REJECT_ACTION_ID, async (args) => {
    await args.ack();
    const click = clickFrom(args, "reject");
    if (!click) return;
    services.tasks.run("reject", () => handleDecisionClick(services, args.client, click));
  });
}
