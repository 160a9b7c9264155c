/**
 * The one stylesheet of Firebreak's pages, inlined in every page's <head>. It is a constant, so the
 * Content-Security-Policy allows it by its SHA-256 hash (src/ui/page.ts) and nothing else: no style
 * attributes, no other inline styles, no stylesheet from anywhere. Colours of effects and statuses live
 * here once, as classes, and the SVG charts use the same classes.
 */
import { createHash } from "node:crypto";

export const STYLESHEET = `
:root {
  --bg: #f4f5f7; --surface: #ffffff; --text: #1c2230; --muted: #5a6375; --line: #dde1e8; --soft: #eef0f4;
  --accent: #1f4fb8; --accent-text: #ffffff;
  --allow: #2e7d4f; --allow-bg: #e3f3e9; --deny: #b3261e; --deny-bg: #fbe7e5;
  --ask: #a35a00; --ask-bg: #fdf0dc; --idle: #5a6375; --idle-bg: #eceef2;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.5; color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", "Liberation Mono", monospace;
  font-size: 0.9em; overflow-wrap: break-word; }
.topbar { background: var(--text); color: #fff; padding: 0.6rem 1.5rem; display: flex; align-items: baseline;
  gap: 1.5rem; flex-wrap: wrap; }
.brand { font-weight: 700; letter-spacing: 0.02em; }
.topbar nav { display: flex; gap: 1rem; flex-wrap: wrap; }
.topbar nav a { color: #c9d3e6; text-decoration: none; }
.topbar nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #fff; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.1rem; margin: 0 0 0.75rem; }
.lede { color: var(--muted); margin: 0 0 1.5rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; margin-bottom: 1rem; }
.grid > .card { margin-bottom: 0; }
.card { background: var(--surface); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem;
  margin-bottom: 1rem; min-width: 0; }
/* The card's padding is its only inner edge: a paragraph first or last adds no margin to it. */
.card > :first-child { margin-top: 0; }
.card > :last-child { margin-bottom: 0; }
.muted { color: var(--muted); }
footer { max-width: 72rem; margin: 0 auto; padding: 0 1.5rem 2rem; color: var(--muted); font-size: 0.85rem; }

dl.kv { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: 0.35rem 1.25rem; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }

.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.5rem; }
th, td { text-align: left; padding: 0.45rem 0.75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td { overflow-wrap: break-word; }
th { color: var(--muted); font-weight: 600; font-size: 0.85rem; background: var(--soft); }
td.num, th.num { text-align: right; }
tbody tr:last-child td { border-bottom: none; }
td.empty { color: var(--muted); text-align: center; padding: 1rem; }

.badge { display: inline-block; padding: 0.05rem 0.55rem; border-radius: 999px; font-size: 0.8rem;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge-allow, .badge-approved { color: var(--allow); background: var(--allow-bg); }
.badge-deny, .badge-denied { color: var(--deny); background: var(--deny-bg); }
.badge-approval_required, .badge-pending { color: var(--ask); background: var(--ask-bg); }
.badge-expired, .badge-unknown { color: var(--idle); background: var(--idle-bg); }

.actions { display: flex; gap: 0.75rem; flex-wrap: wrap; margin-top: 1rem; }
.notice { color: var(--ask); background: var(--ask-bg); border-radius: 6px; padding: 0.6rem 0.9rem; }
form.inline { display: inline; margin: 0; }
button { font: inherit; font-weight: 600; padding: 0.5rem 1.25rem; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--surface); color: var(--text); }
button.primary { background: var(--allow); border-color: var(--allow); color: #fff; }
button.danger { background: var(--surface); border-color: var(--deny); color: var(--deny); }
button:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }

.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: 0.75rem; margin: 0 0 1rem;
  padding: 0; list-style: none; }
.stat { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.85rem; background: var(--soft); }
.stat .n { display: block; font-size: 1.6rem; font-weight: 700; line-height: 1.2; font-variant-numeric: tabular-nums; }
.stat .k { color: var(--muted); font-size: 0.85rem; }
.stat-allow .n { color: var(--allow); }
.stat-deny .n { color: var(--deny); }
.stat-ask .n { color: var(--ask); }
.periods { display: flex; gap: 0.35rem; margin: 0 0 1rem; }
.periods a { padding: 0.15rem 0.75rem; border: 1px solid var(--line); border-radius: 999px; text-decoration: none;
  font-size: 0.85rem; }
.periods a[aria-current="page"] { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
/* Two charts a row; an odd last one takes the whole row. */
.grid-2 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.grid-2 > .card:last-child:nth-child(odd) { grid-column: 1 / -1; }
@media (max-width: 50rem) { .grid-2 { grid-template-columns: 1fr; } }
.grid-2 figure.chart svg { min-width: 0; }
time.when { white-space: nowrap; }
time.when .rel { display: block; font-size: 0.8rem; }
.task-cell .agent { display: block; color: var(--muted); }
.task-cell .notice { margin-top: 0.35rem; padding: 0.2rem 0.5rem; font-size: 0.85rem; }
p.source { font-size: 0.85rem; margin: 0.5rem 0 0; }
meter { width: 4.5rem; height: 0.7rem; vertical-align: -0.05rem; margin-right: 0.4rem; }
ul.uses { list-style: none; margin: 0; padding: 0; }
ul.uses li { white-space: nowrap; font-size: 0.85rem; }
.use { white-space: nowrap; font-variant-numeric: tabular-nums; }
.task-cell > code:first-child { display: block; }

figure.chart { margin: 0; }
figure.chart figcaption { font-weight: 600; font-size: 0.9rem; color: var(--muted); margin-bottom: 0.5rem; }
.chart-canvas { overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; min-width: 30rem; height: auto; }
.legend { display: flex; gap: 1rem; flex-wrap: wrap; margin: 0 0 0.25rem; padding: 0; list-style: none;
  font-size: 0.85rem; color: var(--muted); }
.swatch { display: inline-block; width: 0.75rem; height: 0.75rem; border-radius: 2px; margin-right: 0.35rem;
  vertical-align: -0.05rem; }
.chart-empty { border: 1px dashed var(--line); border-radius: 6px; padding: 2rem 1rem; text-align: center;
  color: var(--muted); background: var(--soft); }
details.chart-data { margin-top: 0.5rem; font-size: 0.85rem; }
details.chart-data summary { color: var(--muted); cursor: pointer; }
svg text { font-family: inherit; font-size: 12px; fill: var(--muted); }
svg text.value { fill: var(--text); font-variant-numeric: tabular-nums; }
svg text.label { fill: var(--text); }
svg .grid-line { stroke: var(--line); stroke-width: 1; }
svg .axis-line { stroke: #9aa3b2; stroke-width: 1; }
.s-allow { fill: var(--allow); background: var(--allow); }
.s-deny { fill: var(--deny); background: var(--deny); }
.s-approval_required { fill: var(--ask); background: var(--ask); }
.s-other { fill: var(--idle); background: var(--idle); }
.s-bar { fill: var(--accent); background: var(--accent); }
`;

/** The CSP source expression that allows exactly this stylesheet (and no other inline style). */
export const STYLESHEET_HASH = `'sha256-${createHash("sha256").update(STYLESHEET, "utf8").digest("base64")}'`;
