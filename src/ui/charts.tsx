/**
 * Charts as inline SVG, rendered on the server: data in, markup out, no script, no library, no CDN.
 * Each chart is a <figure> with a caption, an SVG with <title> and <desc> for assistive technology, and
 * the same numbers as a table under a <details>, so that nothing depends on seeing the colours. Data
 * that adds up to nothing renders a plain "no data" panel rather than empty axes.
 */
import { Table } from "./components";
import { count, formatCount, labelEvery, niceTicks, slug, truncate } from "./scale";

/** The colour classes of src/ui/styles.ts: the three effects, a neutral and the accent. */
export type Tone = "allow" | "deny" | "approval_required" | "other" | "bar";

export interface Series {
  key: string;
  label: string;
  tone?: Tone;
}

/** The effects of a decision, in the order they are stacked (allow at the bottom). */
export const EFFECT_SERIES: Series[] = [
  { key: "allow", label: "allow", tone: "allow" },
  { key: "deny", label: "deny", tone: "deny" },
  { key: "approval_required", label: "approval required", tone: "approval_required" },
];

export interface TimeBucket {
  /** The bucket as the reader should see it on the axis ("10:05", "Mon 3"): the caller knows the width. */
  label: string;
  /** Count per series key; a missing key is 0. */
  values: Record<string, number>;
}

export interface TimeSeriesChartProps {
  title: string;
  buckets: TimeBucket[];
  /** Defaults to the decision effects. */
  series?: Series[];
  /** Unique on the page; derived from the title when absent. */
  id?: string;
  xLabel?: string;
  yLabel?: string;
  emptyText?: string;
  /** The drawing's size in CSS pixels; it shrinks to fit a narrower container, never grows. */
  width?: number;
  height?: number;
}

const M = { top: 12, right: 12, bottom: 46, left: 52 };
const TONES = ["bar", "other"] as const;

function toneOf(s: Series, i: number): Tone {
  return s.tone ?? TONES[i % TONES.length]!;
}

/** Stacked columns, one per time bucket, one colour per series, with a y scale of round numbers. */
export function TimeSeriesChart(props: TimeSeriesChartProps) {
  const id = props.id ?? slug(props.title);
  const series = props.series ?? EFFECT_SERIES;
  const totals = props.buckets.map((b) => series.reduce((sum, s) => sum + count(b.values[s.key]), 0));
  const grand = totals.reduce((a, b) => a + b, 0);
  if (grand === 0) return <EmptyChart id={id} title={props.title} text={props.emptyText} />;

  const ticks = niceTicks(Math.max(...totals));
  const frame = plotFrame(props.width ?? 960, props.height ?? 260, ticks[ticks.length - 1]!);
  const band = frame.plotW / props.buckets.length;
  const column = {
    band,
    barW: Math.max(1, band * 0.72),
    showLabel: labelEvery(props.buckets.length, frame.plotW / 70),
  };
  const bySeries = series.map((s) => `${s.label} ${formatCount(sum(props.buckets, s.key))}`).join(", ");
  const first = props.buckets[0]!.label;
  const last = props.buckets[props.buckets.length - 1]!.label;
  const desc = `${formatCount(grand)} in ${props.buckets.length} intervals from ${first} to ${last}: ${bySeries}.`;

  return (
    <figure class="chart" id={id}>
      <figcaption>{props.title}</figcaption>
      <Legend series={series} />
      <div class="chart-canvas">
        <svg
          viewBox={`0 0 ${frame.W} ${frame.H}`}
          width={frame.W}
          height={frame.H}
          role="img"
          aria-labelledby={`${id}-t ${id}-d`}
        >
          <title id={`${id}-t`}>{props.title}</title>
          <desc id={`${id}-d`}>{desc}</desc>
          <YGrid frame={frame} ticks={ticks} />
          {props.buckets.map((bucket, i) => (
            <Column frame={frame} bucket={bucket} index={i} series={series} {...column} />
          ))}
          <line class="axis-line" x1={M.left} x2={frame.W - M.right} y1={frame.y(0)} y2={frame.y(0)} />
          <AxisTitles frame={frame} xLabel={props.xLabel} yLabel={props.yLabel} />
        </svg>
      </div>
      <ChartData
        columns={["interval", ...series.map((s) => s.label), "total"]}
        rows={props.buckets.map((b, i) => [b.label, ...series.map((s) => count(b.values[s.key])), totals[i]!])}
      />
    </figure>
  );
}

interface Frame {
  W: number;
  H: number;
  plotW: number;
  plotH: number;
  /** The y coordinate of a value, 0 at the bottom of the plot, `top` at its top. */
  y(v: number): number;
}

function plotFrame(W: number, H: number, top: number): Frame {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  return { W, H, plotW, plotH, y: (v) => M.top + plotH - (v / top) * plotH };
}

function YGrid(props: { frame: Frame; ticks: number[] }) {
  const { frame } = props;
  return (
    <g class="y-axis">
      {props.ticks.map((t) => (
        <g>
          <line class="grid-line" x1={M.left} x2={frame.W - M.right} y1={frame.y(t)} y2={frame.y(t)} />
          <text x={M.left - 8} y={frame.y(t)} text-anchor="end" dominant-baseline="middle">
            {formatCount(t)}
          </text>
        </g>
      ))}
    </g>
  );
}

interface ColumnProps {
  frame: Frame;
  bucket: TimeBucket;
  index: number;
  series: Series[];
  band: number;
  barW: number;
  showLabel: (i: number) => boolean;
}

/** One bucket: its series stacked from the bottom in series order, each segment with a tooltip. */
function Column(props: ColumnProps) {
  const { frame, bucket, barW } = props;
  const x = M.left + props.index * props.band + (props.band - barW) / 2;
  let base = 0;
  const segments = props.series.map((s, si) => {
    const v = count(bucket.values[s.key]);
    if (v === 0) return null;
    const [y0, y1] = [frame.y(base), frame.y(base + v)];
    base += v;
    return (
      <rect class={`seg s-${toneOf(s, si)}`} x={x} width={barW} y={y1} height={y0 - y1}>
        <title>{`${bucket.label}: ${s.label} ${v}`}</title>
      </rect>
    );
  });
  return (
    <g class="bucket">
      {segments}
      {props.showLabel(props.index) ? (
        <text x={x + barW / 2} y={frame.H - M.bottom + 16} text-anchor="middle">
          {bucket.label}
        </text>
      ) : null}
    </g>
  );
}

function AxisTitles(props: { frame: Frame; xLabel?: string; yLabel?: string }) {
  const { frame } = props;
  return (
    <g class="axis-titles">
      {props.xLabel ? (
        <text x={M.left + frame.plotW / 2} y={frame.H - 6} text-anchor="middle">
          {props.xLabel}
        </text>
      ) : null}
      {props.yLabel ? (
        <text transform={`translate(14 ${M.top + frame.plotH / 2}) rotate(-90)`} text-anchor="middle">
          {props.yLabel}
        </text>
      ) : null}
    </g>
  );
}

function sum(buckets: TimeBucket[], key: string): number {
  return buckets.reduce((a, b) => a + count(b.values[key]), 0);
}

export interface BarItem {
  label: string;
  value: number;
}

export interface BarChartProps {
  title: string;
  items: BarItem[];
  /** How many bars at most, the largest first (10 unless given). */
  limit?: number;
  id?: string;
  tone?: Tone;
  emptyText?: string;
  /** The drawing's width in CSS pixels (it shrinks to fit, never grows); bars are 28 px apart. */
  width?: number;
}

const ROW = 28;
const LABEL_W = 180;
const LABEL_CHARS = 24;
const VALUE_W = 56;

/** The top N of something (denied actions, agents, reasons) as labelled horizontal bars with values. */
export function HorizontalBarChart(props: BarChartProps) {
  const id = props.id ?? slug(props.title);
  const items = props.items
    .map((it) => ({ label: it.label, value: count(it.value) }))
    .filter((it) => it.value > 0)
    .sort((a, b) => b.value - a.value)
    .slice(0, props.limit ?? 10);
  if (items.length === 0) return <EmptyChart id={id} title={props.title} text={props.emptyText} />;

  const max = items[0]!.value;
  const W = props.width ?? 520;
  const plotW = W - LABEL_W - VALUE_W;
  const height = items.length * ROW + 8;
  const tone = props.tone ?? "bar";
  const desc = items.map((it) => `${it.label}: ${formatCount(it.value)}`).join(", ");
  return (
    <figure class="chart" id={id}>
      <figcaption>{props.title}</figcaption>
      <div class="chart-canvas">
        <svg viewBox={`0 0 ${W} ${height}`} width={W} height={height} role="img" aria-labelledby={`${id}-t ${id}-d`}>
          <title id={`${id}-t`}>{props.title}</title>
          <desc id={`${id}-d`}>{desc}</desc>
          {items.map((it, i) => {
            const mid = 4 + i * ROW + ROW / 2;
            const w = Math.max(2, (it.value / max) * plotW);
            return (
              <g class="bar-row">
                <title>{`${it.label}: ${it.value}`}</title>
                <text class="label" x={LABEL_W - 10} y={mid} text-anchor="end" dominant-baseline="middle">
                  {truncate(it.label, LABEL_CHARS)}
                </text>
                <rect class={`bar s-${tone}`} x={LABEL_W} y={mid - 9} width={w} height={18} rx={2} />
                <text class="value" x={LABEL_W + w + 6} y={mid} dominant-baseline="middle">
                  {formatCount(it.value)}
                </text>
              </g>
            );
          })}
        </svg>
      </div>
      <ChartData columns={["name", "count"]} rows={items.map((it) => [it.label, it.value])} />
    </figure>
  );
}

function Legend(props: { series: Series[] }) {
  return (
    <ul class="legend">
      {props.series.map((s, i) => (
        <li>
          <span class={`swatch s-${toneOf(s, i)}`} />
          {s.label}
        </li>
      ))}
    </ul>
  );
}

/** The chart's numbers as a table: for screen readers, for copying, and for anyone who cannot tell the colours. */
function ChartData(props: { columns: string[]; rows: (string | number)[][] }) {
  const columns = props.columns.map((label, i) => ({
    label,
    value: (row: (string | number)[]) => row[i],
    numeric: i > 0,
  }));
  return (
    <details class="chart-data">
      <summary>Show the numbers</summary>
      <Table columns={columns} rows={props.rows} />
    </details>
  );
}

function EmptyChart(props: { id: string; title: string; text?: string }) {
  return (
    <figure class="chart" id={props.id} data-empty="true">
      <figcaption>{props.title}</figcaption>
      <div class="chart-empty" role="img" aria-label={`${props.title}: no data`}>
        {props.text ?? "No data for this period."}
      </div>
    </figure>
  );
}
