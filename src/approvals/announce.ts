/**
 * Telling the approvers about a new approval, within the agent's notification limit: the agent
 * object's window (src/tasks/agent-object.ts `approvalOpened`) says whether this approval is posted
 * on its own, replaced by the window's one summary (how many of the agent's approvals wait, and the
 * dashboard link), or not posted (the summary already said that more would come without a post).
 * Whatever happens is written to the task's step log as its `notify` entry. Runs in the background,
 * never throws, never changes the decision.
 */
import type { Env } from "../env";
import { rpcCall } from "../tasks/rpc";
import { type Notice, type NotifyOutcome, notifyApprovers, notifySummary, WEBHOOK_SECRET } from "./notify";
import { type AgentRef, openedSlot } from "./slots";

export interface Announcement {
  env: Env;
  agent: AgentRef;
  digest: string;
  notice: Notice;
  /** The dashboard's URL, for the summary. */
  dashboard: string;
  fetcher: (request: Request) => Promise<Response>;
  /** The app's clock: when the outcome is written to the step log. */
  now: () => Date;
  /** When the approval was opened (epoch ms): the notification window counts from there. */
  opened_at: number;
}

export async function announce(a: Announcement): Promise<void> {
  const { notice } = a;
  const opened = { digest: a.digest, approval_id: notice.approval_id, expires_at: notice.expires_at, now: a.opened_at };
  const verdict = await openedSlot(a.env, a.agent, opened, true);
  const webhook = a.env[WEBHOOK_SECRET];
  const opts = { fetcher: a.fetcher };
  let result: NotifyOutcome;
  if (verdict === null || verdict.notify === "post") {
    result = await notifyApprovers(webhook, notice, opts).catch(() => failedOutcome);
  } else if (verdict.notify === "summary") {
    const { waiting, posted, window_ends } = verdict;
    const summary = { agent: notice.agent, waiting, posted, window_ends, dashboard: a.dashboard };
    const sent = await notifySummary(webhook, summary, opts).catch(() => failedOutcome);
    // Recorded as the summary, so the log says why this approval had no message of its own.
    result = { ...sent, detail: sent.detail === null ? "summary" : `summary: ${sent.detail}` };
  } else {
    const until = new Date(verdict.window_ends).toISOString();
    result = { outcome: "skipped", attempts: 0, detail: `agent notice limit until ${until}` };
  }
  if (result.outcome === "failed") {
    const line = { event: "firebreak.approval_notify_failed", approval_id: notice.approval_id, detail: result.detail };
    console.error(JSON.stringify(line));
  }
  try {
    const ns = a.env.TASKS!;
    await rpcCall(ns.getByName(notice.task_id).noteNotification(notice.approval_id, result, a.now().getTime()));
  } catch {
    // The decision stands either way; the log line above carries a failure.
  }
}

const failedOutcome: NotifyOutcome = { outcome: "failed", attempts: 0, detail: "error" };
