/**
 * The operator dashboard: decisions over time and the top denials for a period, the pending
 * approvals grouped by agent and the live tasks with their budget use, and the bundle in force. Server-rendered from
 * the UI kit, no script (docs/ui.md). Every part renders its own empty or unavailable state, so the
 * page is whole whatever the decision source, the directory or a task object says.
 */
import type { Manifest } from "../policy/types";
import {
  Card,
  type Column,
  formatCount,
  HorizontalBarChart,
  KeyValueList,
  Layout,
  StatusBadge,
  Table,
  TimeSeriesChart,
} from "../ui/index";
import { type Figures, PERIODS, type Period } from "./figures";
import type { ApprovalGroup, Live, LiveTask, PendingApproval, Use } from "./live";

export const DASHBOARD_PATH = "/_firebreak/v1/dashboard";
const APPROVALS_PATH = "/_firebreak/v1/approvals";

export interface DashboardModel {
  period: Period;
  figures: Figures;
  live: Live;
  manifest: Manifest;
  /** The operator, `issuer sub`. */
  by: string;
  now: number;
}

/** ISO 8601 to the second, UTC (as the approval page and the step log show times). */
export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** `in 14 min`, `3 h ago`: how far a time is from now, roughly. */
export function relative(ms: number, now: number): string {
  const d = Math.abs(ms - now) / 1000;
  const text =
    d < 60
      ? `${Math.round(d)} s`
      : d < 3600
        ? `${Math.round(d / 60)} min`
        : d < 172_800
          ? `${Math.round(d / 3600)} h`
          : `${Math.round(d / 86_400)} d`;
  return ms >= now ? `in ${text}` : `${text} ago`;
}

/** `19:56:25Z` today (UTC), `11-30 19:56Z` another day, with how far from now underneath; the full time on hover. */
function When(props: { ms: number; now: number }) {
  const full = iso(props.ms);
  const today = full.slice(0, 10) === iso(props.now).slice(0, 10);
  return (
    <time class="when" datetime={full} title={full}>
      {today ? full.slice(11) : `${full.slice(5, 10)} ${full.slice(11, 16)}Z`}{" "}
      <span class="rel muted">{relative(props.ms, props.now)}</span>
    </time>
  );
}

export function DashboardPage(m: DashboardModel) {
  return (
    <Layout
      title="Dashboard"
      lede={
        <>
          Bundle <code>{m.manifest.revision.slice(0, 12)}</code> · as of {iso(m.now)} · signed in as <code>{m.by}</code>
        </>
      }
      footer="Tasks and approvals are listed by the directory (a best-effort view) and checked with each task's own object before they are shown."
    >
      <DecisionsPart period={m.period} figures={m.figures} />
      <ApprovalsPart live={m.live} now={m.now} />
      <TasksPart live={m.live} now={m.now} />
      <BundlePart manifest={m.manifest} />
    </Layout>
  );
}

function PeriodLinks(props: { period: Period }) {
  return (
    <nav class="periods" aria-label="Period">
      {(Object.keys(PERIODS) as Period[]).map((p) => (
        <a href={`${DASHBOARD_PATH}?since=${p}`} aria-current={p === props.period ? "page" : undefined}>
          {p}
        </a>
      ))}
    </nav>
  );
}

const SOURCE_NAMES = { local: "the local store (npm start)", analytics_engine: "Analytics Engine" } as const;

function DecisionsPart(props: { period: Period; figures: Figures }) {
  const p = PERIODS[props.period];
  const f = props.figures;
  const title = `Decisions in ${p.label}`;
  if (f.state !== "ok") {
    return (
      <Card title={title}>
        <p class="notice" id="decisions-unavailable" data-state={f.state}>
          {f.state === "unavailable"
            ? "No decision figures: this run has no decision source (no local store, and no Analytics Engine credentials CF_ACCOUNT_ID and CF_API_TOKEN). Tasks and approvals below do not depend on it."
            : `No decision figures: ${SOURCE_NAMES[f.source]} did not answer (the worker's log has the detail). Tasks and approvals below do not depend on it.`}
        </p>
      </Card>
    );
  }
  return (
    <>
      <Card title={title}>
        <PeriodLinks period={props.period} />
        <Totals figures={f} />
        <TimeSeriesChart
          id="decisions-over-time"
          title={`Decisions every ${p.every}, by effect`}
          buckets={f.buckets}
          xLabel="time (UTC)"
          yLabel="decisions"
          emptyText={`No decisions in ${p.label}.`}
        />
        <p class="muted source">
          From {SOURCE_NAMES[f.source]}, {iso(f.since)} to {iso(f.until)}.
        </p>
      </Card>
      <div class="grid grid-2">
        {[
          { id: "top-denied-actions", title: "Top denied actions", items: f.deniedActions, empty: "No denied calls." },
          { id: "top-denied-agents", title: "Top denied agents", items: f.deniedAgents, empty: "No agent was denied." },
          { id: "top-refusal-reasons", title: "Top refusal reasons", items: f.deniedReasons, empty: "No refusals." },
        ].map((chart, i) => (
          // Two side by side, then the reasons across the whole row: each drawn at the width it gets.
          <Card>
            <HorizontalBarChart
              id={chart.id}
              title={chart.title}
              items={chart.items}
              tone={i < 2 ? "deny" : "other"}
              width={i < 2 ? 470 : 960}
              emptyText={chart.empty}
            />
          </Card>
        ))}
      </div>
      <AsiRefusals items={f.deniedAsi} />
    </>
  );
}

type Counted = Extract<Figures, { state: "ok" }>;

/** Refusals grouped by the OWASP Agentic id of their reason code (src/core/reason-standards.ts). */
function AsiRefusals({ items }: { items: Counted["deniedAsi"] }) {
  return (
    <Card>
      <HorizontalBarChart
        id="refusals-by-asi"
        title="Refusals by OWASP Agentic risk"
        items={items}
        tone="other"
        width={960}
        emptyText="No refusals."
      />
      <p class="muted source" id="asi-note">
        Each refusal's reason code maps to one ASI id of the OWASP Top 10 for Agentic Applications 2026
        (docs/standards.md); "(none)" where no agentic risk applies.
      </p>
    </Card>
  );
}

function Totals({ figures: f }: { figures: Counted }) {
  const total = Object.values(f.totals).reduce((a, b) => a + b, 0);
  const approx = f.estimated ? "≈ " : "";
  return (
    <>
      <ul class="stats" aria-label="Totals">
        <Stat label="decisions" value={`${approx}${formatCount(total)}`} />
        <Stat label="allowed" value={`${approx}${formatCount(f.totals.allow ?? 0)}`} tone="allow" />
        <Stat label="denied" value={`${approx}${formatCount(f.totals.deny ?? 0)}`} tone="deny" />
        <Stat label="approval required" value={`${approx}${formatCount(f.totals.approval_required ?? 0)}`} tone="ask" />
      </ul>
      {f.estimated ? (
        <p class="notice" id="estimate-note">
          These figures are estimates: Analytics Engine sampled some of these decisions, and each count is weighted by
          its sample interval.
        </p>
      ) : null}
    </>
  );
}

function Stat(props: { label: string; value: string; tone?: "allow" | "deny" | "ask" }) {
  return (
    <li class={props.tone ? `stat stat-${props.tone}` : "stat"}>
      <span class="n">{props.value}</span> <span class="k">{props.label}</span>
    </li>
  );
}

/** Why the directory's lists are missing, or null when it answered. */
function DirectoryNote(props: { live: Live }) {
  const d = props.live.directory;
  if (d === "ok") return null;
  return (
    <p class="notice" data-state={`directory-${d}`}>
      {d === "missing"
        ? "This worker has no DIRECTORY binding, so there is no list of tasks and approvals."
        : "The directory did not answer, so tasks and approvals cannot be listed now. Calls are not affected."}
    </p>
  );
}

function ApprovalsPart(props: { live: Live; now: number }) {
  const { live, now } = props;
  const agents = live.groups.length;
  const title = `Pending approvals (${live.approvals.length}${agents > 1 ? ` from ${agents} agents` : ""})`;
  return (
    <Card title={title}>
      <DirectoryNote live={live} />
      {agents === 0 ? (
        <Table<PendingApproval>
          caption="Waiting for a person, by agent"
          rows={[]}
          empty="No approvals are waiting."
          columns={approvalColumns(now)}
        />
      ) : (
        live.groups.map((g) => <AgentApprovals group={g} now={now} />)
      )}
      {live.unchecked > 0 ? (
        <p class="muted">
          {live.unchecked} more listed by the directory could not be checked: their task did not answer.
        </p>
      ) : null}
    </Card>
  );
}

/** One agent's waiting approvals: its count in the caption, its newest first, at most GROUP_ROWS. */
function AgentApprovals(props: { group: ApprovalGroup; now: number }) {
  const g = props.group;
  const cut = g.count > g.shown.length ? `, the newest ${g.shown.length} shown` : "";
  return (
    <section class="approval-group" data-agent={g.agent} data-count={String(g.count)}>
      <Table<PendingApproval>
        caption={`${g.agent}: ${g.count} waiting, newest first${cut}`}
        rows={g.shown}
        columns={approvalColumns(props.now)}
      />
    </section>
  );
}

function approvalColumns(now: number): Column<PendingApproval>[] {
  return [
    { label: "Action", value: (a) => a.view.request.action, mono: true },
    { label: "Resource", value: (a) => a.view.request.resource, mono: true },
    { label: "Task", value: (a) => a.view.task_id, mono: true },
    { label: "Requested", value: (a) => <When ms={a.view.created} now={now} /> },
    { label: "Expires", value: (a) => <When ms={a.view.expires_at} now={now} /> },
    {
      label: "",
      value: (a) => (
        <a class="review" href={`${APPROVALS_PATH}/${a.view.id}`}>
          Review
        </a>
      ),
    },
  ];
}

function TasksPart(props: { live: Live; now: number }) {
  const { live, now } = props;
  const shown = live.tasks.length;
  return (
    <Card title={`Live tasks (${shown})`}>
      <DirectoryNote live={live} />
      <Table<LiveTask>
        caption={
          live.listed.tasks > shown
            ? `Newest ${shown} of ${live.listed.tasks} listed`
            : "Newest first, with their budget use"
        }
        rows={live.tasks}
        empty="No live tasks."
        columns={[
          { label: "Task", value: (t) => <TaskCell task={t} /> },
          { label: "Started", value: (t) => <When ms={t.entry.started} now={now} /> },
          {
            label: "Deadline",
            value: (t) => <When ms={t.state === "live" ? t.deadline : t.entry.deadline} now={now} />,
          },
          {
            label: "Calls",
            value: (t) => (t.state === "live" ? <UseLine use={t.use.calls} /> : <StatusBadge status="unavailable" />),
          },
          { label: "Budgets", value: (t) => (t.state === "live" ? <Budgets task={t} /> : "") },
          { label: "Services", value: (t) => (t.state === "live" ? services(t) : "") },
        ]}
      />
    </Card>
  );
}

/** The task's id, then its profile and purpose, then its agent (as the task object says, when it answered). */
function TaskCell(props: { task: LiveTask }) {
  const t = props.task;
  const [profile, purpose, agent] =
    t.state === "live"
      ? [t.profile, t.purpose, t.agent]
      : [t.entry.profile, t.entry.purpose, `${t.entry.issuer}:${t.entry.sub}`];
  return (
    <div class="task-cell" data-task={t.entry.task_id}>
      <code>{t.entry.task_id}</code>
      <div>
        <strong>{profile}</strong>
        {purpose ? <span class="muted"> · {purpose}</span> : null}
      </div>
      <code class="agent">{agent}</code>
      {t.state === "unavailable" ? <div class="notice">its task object did not answer</div> : null}
    </div>
  );
}

/** One budget: used / cap with a meter (green, amber from 75 %, red from 90 %), or the count alone. */
function UseLine(props: { use: Use; named?: boolean }) {
  const { used, max, name } = props.use;
  return (
    <span class="use" data-use={name}>
      {max !== null && max > 0 ? (
        <meter min={0} max={max} value={Math.min(used, max)} low={max * 0.75} high={max * 0.9} optimum={0} />
      ) : null}
      {props.named ? <code>{name}</code> : null} {formatCount(used)}
      {max === null ? <span class="muted"> · no cap</span> : ` / ${formatCount(max)}`}
    </span>
  );
}

function Budgets(props: { task: Extract<LiveTask, { state: "live" }> }) {
  const u = props.task.use;
  const lines = [...u.per_action, ...u.per_label, ...u.totals];
  if (lines.length === 0) return <span class="muted">no other caps</span>;
  return (
    <ul class="uses">
      {lines.map((use) => (
        <li>
          <UseLine use={use} named />
        </li>
      ))}
    </ul>
  );
}

function services(t: Extract<LiveTask, { state: "live" }>): string {
  const s = t.use.services;
  const touched = s.touched.length === 0 ? "none yet" : s.touched.join(", ");
  return s.max === null ? touched : `${touched} (${s.touched.length} of ${s.max})`;
}

function BundlePart(props: { manifest: Manifest }) {
  const m = props.manifest;
  const c = m.counts;
  return (
    <Card title="Bundle in force">
      <KeyValueList
        label="Bundle in force"
        items={[
          { key: "Revision", value: m.revision, mono: true },
          { key: "Compiler", value: m.compiler_version, mono: true },
          {
            key: "Dev overlay",
            value: m.dev ? (
              <>
                <span class="badge badge-deny">dev</span> yes: compiled with the dev overlay, never deploy it
              </>
            ) : (
              "no"
            ),
          },
          {
            key: "Contents",
            value: `${c.issuers} issuers · ${c.services} services · ${c.actions} actions · ${c.rules} rules · ${c.profiles} profiles`,
          },
        ]}
      />
    </Card>
  );
}
