import type { App } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import * as appMention from "./app-mention.ts";
import * as directMessage from "./direct-message.ts";
import * as threadReply from "./thread-reply.ts";
import * as appHome from "./app-home.ts";

export function register(app: App, services: BotServices): void {
  appMention.register(app, services);
  directMessage.register(app, services);
  threadReply.register(app, services);
  appHome.register(app, services);
}
