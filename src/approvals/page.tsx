/**
 * The approval page, for the person asked to decide: the request (method, action, resource,
 * declared arguments, risk), the agent, the task's purpose and its history so far, and Approve / Deny
 * buttons that POST with the approval's form token. Server-rendered, no script (docs/ui.md).
 */

import type { ApprovalView } from "../tasks/approval-types";
import type { StepView, TaskView } from "../tasks/task-object";
import { ButtonForm, Card, KeyValueList, Layout, StatusBadge, Table } from "../ui/index";

export interface PageModel {
  approval: ApprovalView;
  task: TaskView;
  /** The last steps of the task's log, oldest first. */
  recent: StepView[];
  /** Set when this person may decide now; null shows why not (`notice`). */
  csrf: string | null;
  notice: string | null;
  base: string;
}

/** ISO 8601 to the second, UTC: what the log records, without noise. */
const iso = (ms: number | null) => (ms === null ? "—" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"));

/** What a log entry came to: `reserved`, `refused: budget.exhausted`, `200`, `skipped: no webhook`. */
const outcome = (s: StepView) =>
  [s.outcome, s.reason].filter(Boolean).join(": ") || (s.status === null ? "" : String(s.status));

export function ApprovalPage({ approval: a, task, recent, csrf, notice, base }: PageModel) {
  return (
    <Layout
      title={`Approve ${a.request.action}?`}
      lede={
        <>
          <StatusBadge status={a.status} /> {a.requester.issuer}:{a.requester.sub} asks to run{" "}
          <code>{a.request.action}</code> on <code>{a.request.resource || "—"}</code>
        </>
      }
      footer={`Approval ${a.id} · expires ${iso(a.expires_at)}`}
    >
      <div class="grid">
        <Card title="The request">
          <KeyValueList label="The request" items={requestItems(a)} />
        </Card>
        <Card title="The agent and its task">
          <KeyValueList label="The agent and its task" items={taskItems(a, task)} />
        </Card>
      </div>
      <Decision approval={a} csrf={csrf} notice={notice} base={base} />
      <Card title="What the task did so far">
        <Table caption="The task's latest steps" rows={recent} empty="No steps yet." columns={STEP_COLUMNS} />
      </Card>
    </Layout>
  );
}

type Item = { key: string; value: string; mono?: boolean };

/** What the upstream will act on: the path and query, the body as it parses it, the headers that choose. */
function requestItems(a: ApprovalView): Item[] {
  const r = a.request;
  const query = r.query.map(([k, v]) => `${k}=${v}`).join("&");
  return [
    { key: "Method", value: `${r.method} ${r.path}${query ? `?${query}` : ""}`, mono: true },
    { key: "Action", value: r.action, mono: true },
    { key: "Kind", value: r.kind },
    { key: "Risk", value: r.risk },
    { key: "Resource", value: r.resource || "—", mono: true },
    { key: "Arguments", value: JSON.stringify(r.args), mono: true },
    // A request of several steps is approved whole: each one, as the upstream will run it.
    ...(r.steps ?? []).map((s, i) => ({
      key: `Step ${i + 1} of ${r.steps?.length}`,
      value: `${s.at} → ${s.action} ${s.resource ? `on ${s.resource} ` : ""}${JSON.stringify(s.args)}`,
      mono: true,
    })),
    ...(r.media_type ? [{ key: "Body read as", value: r.media_type, mono: true }] : []),
    ...Object.entries(r.headers ?? {}).map(([name, value]) => ({ key: name, value, mono: true })),
    { key: "Body sha256", value: r.body_sha256, mono: true },
    { key: "Asked by rules", value: a.rules.join(", "), mono: true },
  ];
}

function taskItems(a: ApprovalView, task: TaskView): Item[] {
  const calls = task.counters.calls ?? 0;
  const limit = task.budgets.calls;
  return [
    { key: "Agent", value: `${a.requester.issuer}:${a.requester.sub}`, mono: true },
    { key: "Task", value: a.task_id, mono: true },
    { key: "Profile", value: task.task.profile },
    { key: "Purpose", value: task.task.purpose || "—" },
    { key: "Task state", value: task.task.state },
    { key: "Calls so far", value: limit === null ? String(calls) : `${calls} of ${limit}` },
    { key: "Services touched", value: task.services.join(", ") || "none" },
    { key: "Data read", value: task.labels_read.join(", ") || "none" },
    { key: "Requested", value: iso(a.created) },
    { key: "Expires", value: iso(a.expires_at) },
  ];
}

function Decision({ approval: a, csrf, notice, base }: Omit<PageModel, "task" | "recent">) {
  return (
    <Card title="Decision">
      {a.decided_by ? (
        <p class="decided">
          {a.status === "denied" ? "Denied" : "Approved"} by <code>{a.decided_by}</code> at {iso(a.decided_at)}
          {a.used_at !== null ? `; used at ${iso(a.used_at)}` : ""}.
        </p>
      ) : null}
      {notice ? <p class="notice">{notice}</p> : null}
      {csrf ? (
        <div class="actions">
          <ButtonForm action={`${base}/${a.id}/approve`} label="Approve" csrfToken={csrf} variant="primary" />
          <ButtonForm action={`${base}/${a.id}/deny`} label="Deny" csrfToken={csrf} variant="danger" />
        </div>
      ) : null}
    </Card>
  );
}

const STEP_COLUMNS: Parameters<typeof Table<StepView>>[0]["columns"] = [
  { label: "#", value: "seq", numeric: true },
  { label: "When", value: (s) => iso(s.ts) },
  { label: "Step", value: "kind" },
  { label: "Action", value: (s) => s.action ?? "", mono: true },
  { label: "Resource", value: (s) => s.resource ?? "", mono: true },
  { label: "Outcome", value: outcome },
  { label: "ASI", value: "asi", mono: true },
];

/** A page that says why there is nothing to decide here (not signed in, not an approver, unknown). */
export function MessagePage(props: { title: string; message: string }) {
  return (
    <Layout title={props.title}>
      <Card>
        <p>{props.message}</p>
      </Card>
    </Layout>
  );
}
