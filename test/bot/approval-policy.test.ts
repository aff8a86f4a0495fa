import { randomBytes } from "node:crypto";
import { AppsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APPROVE_ACTION_ID,
  BREAK_GLASS_ACTION_ID,
  BREAK_GLASS_REASON_BLOCK,
  BREAK_GLASS_REASON_INPUT,
  BREAK_GLASS_VIEW_ID,
} from "../../bot/blocks/approval-card.ts";
import { slackAlertSink } from "../../bot/unprompted.ts";
import { drainAlertQueue, type AlertDrain } from "../../core/observability/alerts.ts";
import { parseApprovalPolicy } from "../../core/actions/approval-policy.ts";
import { text, toolUse } from "../fakes/anthropic.ts";
import type { FakeMessage } from "../fakes/slack.ts";
import { freshDeployment } from "../helpers/deployments.ts";
import { adminKubeConfig } from "../helpers/testenv.ts";
import { prepareWriteEnv } from "../executor/write-env.ts";
import { startBotOverFakes, type BotOverFakes } from "./helpers/over-fakes.ts";

/**
 * An approval policy file, seen from Slack: the card names the rule, who may
 * approve and how many; each approval's click updates the count on the card
 * ("1 of 2 approvals: @bob") until the quorum runs the change; Break glass
 * opens a modal whose reason is required, runs the change alone, and the
 * alert channel hears of it. The real bot, MCP server, executor, Redis and
 * API server; Slack and the model are the fakes.
 */
const ALICE = "U0POLALICE";
const BOB = "U0POLBOB";
const CAROL = "U0POLCAROL";
const ERIN = "U0POLERIN";
const CHANNEL = "C0POLICY";
const ALERTS = "C0ALERTS";
const SRE = "S0POLSRE";
const COMMANDERS = "S0POLIC";
const NS = "deputy-w-exec";
const NAME = `policy-card-${randomBytes(3).toString("hex")}`;

const policy = parseApprovalPolicy(
  `version: 1
groups:
  sre: ${SRE}
  commanders: ${COMMANDERS}
rules:
  - name: two SREs scale
    when: action.tool == "scale_deployment"
    approve:
      groups: [sre]
      count: 2
      breakGlass: commanders
  - name: bob approves the rest
    when: "true"
    approve:
      users: [${BOB}]
`,
  "approval-policy.yaml",
);

let fakes: BotOverFakes;
let alertDrain: AlertDrain | undefined;
const replicas = async (): Promise<number | undefined> =>
  (await adminKubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: NAME, namespace: NS }))
    .spec?.replicas;

async function proposeScale(to: number): Promise<FakeMessage> {
  const { slack, model, bot } = fakes;
  model.setScript([
    toolUse("scale_deployment", { namespace: NS, name: NAME, replicas: to, reason: "more traffic" }),
    text("It waits for approvals."),
  ]);
  const sent = await slack.mention({
    user: ALICE,
    text: `scale ${NAME} in ${NS} to ${to}`,
    channel: CHANNEL,
  });
  await bot.idle();
  const card = slack
    .thread(CHANNEL, sent.ts)
    .find(
      (m) => m.user === slack.botUserId && !m.ephemeralTo && JSON.stringify(m.blocks ?? []).includes('"act_'),
    );
  expect(card, "an approval card").toBeDefined();
  return card!;
}
/** Everything the bot said in the card's thread. */
const threadText = (card: FakeMessage): string =>
  fakes.slack
    .thread(card.channel, card.thread_ts ?? card.ts)
    .filter((m) => m.user === fakes.slack.botUserId && !m.ephemeralTo)
    .map((m) => m.text)
    .join("\n");
const current = (card: FakeMessage): FakeMessage =>
  fakes.slack.messages.find((m) => m.ts === card.ts && m.channel === card.channel && !m.ephemeralTo)!;

beforeAll(async () => {
  await prepareWriteEnv();
  await freshDeployment(NS, NAME);
  fakes = await startBotOverFakes({
    name: "bot-policy",
    executor: { approvers: [] },
    policy,
    slack: { userGroups: { [SRE]: [ALICE, BOB, CAROL], [COMMANDERS]: [ERIN] } },
  });
  await fakes.executor();
  alertDrain = drainAlertQueue({
    redis: fakes.redis,
    prefix: fakes.prefix,
    sink: slackAlertSink(fakes.bot.client, ALERTS),
    logger: fakes.captured.logger,
  });
}, 180_000);

afterAll(async () => {
  await alertDrain?.close();
  await fakes?.close();
  await adminKubeConfig()
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: NAME, namespace: NS })
    .catch(() => undefined);
});

describe("an approval policy on the card", () => {
  it("shows the rule and who may approve, and each approval's click updates the count until the quorum runs it", async () => {
    const { slack, bot, store } = fakes;
    const card = await proposeScale(2);
    const shown = JSON.stringify(card.blocks);
    expect(shown).toContain("rule *two SREs scale*: 2 approvals from different people");
    expect(shown).toContain(`<!subteam^${SRE}>`);
    expect(shown).toContain("0 of 2 approvals");
    expect(shown).toContain(BREAK_GLASS_ACTION_ID);

    await slack.click({ user: BOB, message: card, actionId: APPROVE_ACTION_ID });
    await bot.idle();
    const afterOne = JSON.stringify(current(card).blocks);
    expect(afterOne).toContain(`1 of 2 approvals: <@${BOB}>`);
    expect(afterOne).toContain(APPROVE_ACTION_ID);
    expect(slack.messages.filter((m) => m.ephemeralTo === BOB).at(-1)?.text).toContain(
      "1 of 2 approvals: U0POLBOB",
    );
    expect(await replicas()).toBe(1);

    await slack.click({ user: CAROL, message: current(card), actionId: APPROVE_ACTION_ID });
    await bot.idle();
    const decided = JSON.stringify(current(card).blocks);
    expect(decided).not.toContain(APPROVE_ACTION_ID);
    expect(decided).toContain(`approved by <@${CAROL}>`);
    // The card keeps the rule and who approved, also once the follow-up has redrawn it.
    expect(decided).toContain(
      `Approval policy, rule *two SREs scale*: 2 of 2 approvals: <@${BOB}>, <@${CAROL}>`,
    );
    expect(decided).toMatch(/Watching the effect|Undo/);
    // The thread says who approved under which rule.
    expect(threadText(card)).toContain(
      `Approval policy, rule *two SREs scale*: 2 of 2 approvals: <@${BOB}>, <@${CAROL}>`,
    );
    expect(await replicas()).toBe(2);
    const actionId = /"(act_[A-Za-z0-9_-]+)\|/.exec(shown)![1]!;
    expect(await store.executions(actionId)).toBe(1);
  });

  it("break glass: the modal needs a reason; with one, the change runs alone and the alert channel hears of it", async () => {
    const { slack, bot } = fakes;
    const card = await proposeScale(3);
    await slack.click({ user: ERIN, message: card, actionId: BREAK_GLASS_ACTION_ID });
    await bot.idle();
    const modal = slack.views.filter((v) => v.method === "views.open").at(-1)!.view as Record<
      string,
      unknown
    >;
    expect(modal.callback_id).toBe(BREAK_GLASS_VIEW_ID);

    const reasonOf = (value: string) => ({
      [BREAK_GLASS_REASON_BLOCK]: { [BREAK_GLASS_REASON_INPUT]: { type: "plain_text_input", value } },
    });
    const empty = await slack.submitView({ user: ERIN, view: modal, values: reasonOf(" ") });
    await bot.idle();
    expect(JSON.parse(empty.body)).toMatchObject({
      response_action: "errors",
      errors: { [BREAK_GLASS_REASON_BLOCK]: expect.stringContaining("cannot wait") },
    });
    expect(await replicas()).toBe(2);

    const reason = "checkout is down and both SREs are unreachable";
    await slack.submitView({ user: ERIN, view: modal, values: reasonOf(reason) });
    await bot.idle();
    expect(await replicas()).toBe(3);
    expect(JSON.stringify(current(card).blocks)).toContain(`approved by <@${ERIN}>`);
    expect(threadText(card)).toMatch(
      new RegExp(
        `rule \\*two SREs scale\\*: 1 of 2 approvals: <@${ERIN}> · :rotating_light: \\*break-glass\\* approval, alerted for review`,
      ),
    );
    const alert = await slack.waitFor(() =>
      slack.messages.find((m) => m.channel === ALERTS && m.text.includes("Break-glass")),
    );
    expect(alert.text).toContain(
      `Break-glass: ${ERIN} approved scale_deployment on Deployment ${NS}/${NAME}`,
    );
    expect(alert.text).toContain(reason);
  });
});
