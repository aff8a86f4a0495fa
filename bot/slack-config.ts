import type { Config } from "../core/config/config.ts";
import { DeputyError } from "../core/errors.ts";

/**
 * Checks of the Slack settings that need no SDK, so `deputy bot` names a
 * missing variable before it loads anything heavy or starts anything.
 */
export function requiredSetting(value: string | undefined, name: string, why: string): string {
  if (!value) throw new DeputyError("CONFIG_INVALID", `${name} is required ${why}`);
  return value;
}

export function assertSlackConfig(slack: Config["slack"]): void {
  requiredSetting(slack.botToken, "SLACK_BOT_TOKEN", "to run the Slack app");
  if (slack.socketMode) {
    requiredSetting(slack.appToken, "SLACK_APP_TOKEN", "in Socket Mode (or set SLACK_SOCKET_MODE=false)");
  } else {
    requiredSetting(slack.signingSecret, "SLACK_SIGNING_SECRET", "in HTTP mode");
  }
}
