import type { App } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import * as deputy from "./deputy.ts";

export function register(app: App, services: BotServices): void {
  deputy.register(app, services);
}
