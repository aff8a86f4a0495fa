import { createHmac } from "node:crypto";
import { Agent, request } from "node:http";

/**
 * The load generator for bench/slack.bench.ts, run as its own process so the
 * latency it measures is not inflated by the app's background work sharing an
 * event loop with the client (Slack is another machine, after all). It fires
 * `count` signed app_mention events at once and prints one JSON line:
 * per-request latency, status, event id and message ts.
 *
 *   node bench/slack-load.ts <url> <signingSecret> <count> <channel> <botUserId> <teamId> [round]
 *
 * `round` keeps event ids of repeated bursts apart (Slack's are unique).
 */
interface Sent {
  latencyMs: number;
  status: number;
  eventId: string;
  ts: string;
}

function post(
  agent: Agent,
  url: URL,
  body: string,
  secret: string,
): Promise<{ status: number; latencyMs: number }> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "x-slack-request-timestamp": timestamp,
          "x-slack-signature": signature,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, latencyMs: performance.now() - started }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const [target, secret, countText, channel, botUserId, teamId, round = "0"] = process.argv.slice(2);
  if (!target || !secret || !countText || !channel || !botUserId || !teamId) {
    throw new Error("usage: slack-load.ts <url> <signingSecret> <count> <channel> <botUserId> <teamId>");
  }
  const count = Number(countText);
  const url = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: count });
  const base = Math.floor(Date.now() / 1000);
  const events = Array.from({ length: count }, (_, i) => {
    const ts = `${base}.${String(100000 + i).padStart(6, "0")}`;
    const eventId = `EvLOAD${base}R${round}N${i}`;
    const body = JSON.stringify({
      team_id: teamId,
      api_app_id: "A0DEPUTY",
      type: "event_callback",
      event_id: eventId,
      event_time: base,
      event: {
        type: "app_mention",
        user: `U0LOAD${i}`,
        text: `<@${botUserId}> why is checkout crashing? (${i})`,
        ts,
        channel,
        team: teamId,
        event_ts: ts,
      },
    });
    return { body, eventId, ts };
  });
  const results = await Promise.all(
    events.map(async (event): Promise<Sent> => {
      const { status, latencyMs } = await post(agent, url, event.body, secret);
      return { status, latencyMs, eventId: event.eventId, ts: event.ts };
    }),
  );
  agent.destroy();
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`slack-load: ${String(error)}\n`);
  process.exitCode = 1;
});
