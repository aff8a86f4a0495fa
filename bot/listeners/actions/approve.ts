import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import { APPROVE_ACTION_ID } from "../../blocks/approval-card.ts";
import type { BotServices } from "../../deps.ts";
import { handleDecisionClick } from "../../handlers/decision.ts";
import { clickFrom } from "./decision-click.ts";

export function register(app: App, services: BotServices): void {
  app.action<BlockAction<ButtonAction>>(APPROVE_ACTION_ID, async (args) => {
    await args.ack();
    const click = clickFrom(args, "approve");
    if (!click) return;
    services.tasks.run("approve", () => handleDecisionClick(services, args.client, click));
  });
}
