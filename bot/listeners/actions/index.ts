import type { App } from "@slack/bolt";
import type { BotServices } from "../../deps.ts";
import * as approve from "./approve.ts";
import * as breakGlass from "./break-glass.ts";
import * as reject from "./reject.ts";
import * as undo from "./undo.ts";
import * as viewChange from "./view-change.ts";
import * as resumeWrites from "./resume-writes.ts";
import * as home from "./home.ts";
import * as memory from "./memory.ts";

export function register(app: App, services: BotServices): void {
  approve.register(app, services);
  breakGlass.register(app, services);
  reject.register(app, services);
  viewChange.register(app, services);
  resumeWrites.register(app, services);
  undo.register(app, services);
  home.register(app, services);
  memory.register(app, services);
}
