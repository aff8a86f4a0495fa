import type { App } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import * as askAboutMessage from "./ask-about-message.ts";

export function register(app: App, services: BotServices): void {
  askAboutMessage.register(app, services);
}
