import { createAnthropicModel } from "../../../bot/agent/model.ts";
import { createAgentRunner } from "../../../bot/agent/run-agent-turn.ts";
import type { AgentRunner } from "../../../bot/deps.ts";
import type { Logger } from "../../../core/logger.ts";
import type { AnthropicFake } from "../../fakes/anthropic.ts";
import type { SlackFake } from "../../fakes/slack.ts";

/** The settings that point a bot at the Slack fake over HTTP (any free port). */
export function slackFakeEnv(slack: SlackFake): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_SOCKET_MODE: "false",
    SLACK_API_URL: slack.apiUrl,
    SLACK_PORT: "0",
  };
}

/** The real agent loop and Anthropic SDK, talking to the scripted model. */
export function scriptedAgent(model: AnthropicFake, logger: Logger): AgentRunner {
  return createAgentRunner({
    model: createAnthropicModel({ apiKey: model.apiKey, baseUrl: model.url }),
    modelName: "claude-test",
    limits: { maxIterations: 8, maxSeconds: 60, maxTokens: 200_000, maxOutputTokens: 1024 },
    logger,
  });
}
