/**
 * Telling the approvers: a Slack incoming-webhook compatible POST (`text` plus `blocks`) to
 * the URL in the Worker secret FIREBREAK_APPROVAL_WEBHOOK, in the background, with bounded retries:
 * one message per approval, or the agent's summary once it has had its notices for the window
 * (src/approvals/announce.ts decides which). It never changes the decision: the call was refused with
 * `approval.required` before this runs, and the outcome (sent, failed, skipped) is written to the
 * task's step log. The webhook URL is a secret: it is never logged, recorded or put in an error.
 */

import type { NotifyOutcome } from "../tasks/approval-types";

export type { NotifyOutcome };

export const WEBHOOK_SECRET = "FIREBREAK_APPROVAL_WEBHOOK";

export interface Notice {
  approval_id: string;
  /** The approval page. */
  url: string;
  agent: string;
  task_id: string;
  action: string;
  risk: string;
  method: string;
  path: string;
  resource: string;
  expires_at: number;
}

/** The one message of a window in which the agent opened more approvals than are posted one by one. */
export interface Summary {
  agent: string;
  /** Approvals of the agent waiting for a person now, across its tasks. */
  waiting: number;
  /** How many were posted one by one in this window. */
  posted: number;
  /** No more of the agent's approvals are posted before this time (epoch ms). */
  window_ends: number;
  /** The dashboard, which lists waiting approvals grouped by agent. */
  dashboard: string;
}

export interface NotifyOptions {
  fetcher: (request: Request) => Promise<Response>;
  /** Delays before each attempt, ms (default: at once, then 0.5 s, then 2 s: three attempts). */
  delays?: number[];
  timeoutMs?: number;
}

export function notifyApprovers(webhook: unknown, notice: Notice, opts: NotifyOptions): Promise<NotifyOutcome> {
  return post(webhook, slackMessage(notice), opts);
}

export function notifySummary(webhook: unknown, summary: Summary, opts: NotifyOptions): Promise<NotifyOutcome> {
  return post(webhook, summaryMessage(summary), opts);
}

async function post(webhook: unknown, message: object, opts: NotifyOptions): Promise<NotifyOutcome> {
  if (typeof webhook !== "string" || webhook === "") return { outcome: "skipped", attempts: 0, detail: "no webhook" };
  let url: URL;
  try {
    url = new URL(webhook);
  } catch {
    return { outcome: "failed", attempts: 0, detail: "webhook is not a URL" };
  }
  if (url.protocol !== "https:" && url.hostname !== "127.0.0.1" && url.hostname !== "localhost")
    return { outcome: "failed", attempts: 0, detail: "webhook must use https" };
  const body = JSON.stringify(message);
  const delays = opts.delays ?? [0, 500, 2000];
  let detail = "no attempt";
  for (let i = 0; i < delays.length; i++) {
    if (delays[i]! > 0) await new Promise((r) => setTimeout(r, delays[i]));
    try {
      const res = await opts.fetcher(
        new Request(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
        }),
      );
      await res.body?.cancel();
      if (res.ok) return { outcome: "sent", attempts: i + 1, detail: null };
      detail = `http ${res.status}`;
      // A client error other than 429 will not change on retry.
      if (res.status < 500 && res.status !== 429) return { outcome: "failed", attempts: i + 1, detail };
    } catch (e) {
      detail = (e as Error)?.name === "TimeoutError" ? "timeout" : "unreachable";
    }
  }
  return { outcome: "failed", attempts: delays.length, detail };
}

/** Slack mrkdwn: `&`, `<` and `>` are control characters; everything the agent chose is escaped. */
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function slackMessage(n: Notice) {
  const expires = new Date(n.expires_at).toISOString();
  const text = `Approval needed: ${esc(n.agent)} wants ${esc(n.action)} on ${esc(n.resource || "-")} (risk ${esc(n.risk)})`;
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${text}*` } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Agent*\n${esc(n.agent)}` },
          { type: "mrkdwn", text: `*Task*\n${esc(n.task_id)}` },
          { type: "mrkdwn", text: `*Request*\n\`${esc(n.method)} ${esc(n.path)}\`` },
          { type: "mrkdwn", text: `*Expires*\n${expires}` },
        ],
      },
      {
        type: "actions",
        elements: [{ type: "button", text: { type: "plain_text", text: "Review" }, url: n.url }],
      },
    ],
  };
}

export function summaryMessage(s: Summary) {
  const until = new Date(s.window_ends).toISOString().replace(/\.\d{3}Z$/, "Z");
  const text =
    `Approvals waiting: ${esc(s.agent)} has ${s.waiting} approval${s.waiting === 1 ? "" : "s"} waiting for a person. ` +
    `${s.posted} were posted one by one this minute; its further approvals are not posted until ${until}.`;
  return {
    text: `${text} Review them on the dashboard: ${s.dashboard}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${text}*` } },
      {
        type: "actions",
        elements: [{ type: "button", text: { type: "plain_text", text: "Open the dashboard" }, url: s.dashboard }],
      },
    ],
  };
}
