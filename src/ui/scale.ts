/** The arithmetic of the charts, kept apart from the markup so that it is tested on its own. */

/** Axis ticks from 0 to a round top at or above `max`: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(max: number, target = 4): number[] {
  if (!Number.isFinite(max) || max <= 0) return [0, 1];
  const rough = max / target;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  // Counts are whole numbers: a step below 1 would label the axis 0.5, 1, 1.5 decisions.
  const whole = Math.max(1, step);
  const ticks: number[] = [];
  for (let t = 0; t < max + whole; t += whole) {
    ticks.push(t);
    if (t >= max) break;
  }
  return ticks;
}

/** A count as people read it on an axis: 950, 1.2k, 34k, 1.5M. */
export function formatCount(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n * 100) / 100);
  if (abs < 1_000_000) return `${trim(n / 1000)}k`;
  return `${trim(n / 1_000_000)}M`;
}

function trim(n: number): string {
  return (Math.abs(n) < 10 ? n.toFixed(1) : n.toFixed(0)).replace(/\.0$/, "");
}

/** Which of `n` x-axis labels to print so that at most `most` are shown, evenly spaced, last included. */
export function labelEvery(n: number, most = 6): (i: number) => boolean {
  const every = Math.max(1, Math.ceil(n / most));
  return (i) => (n - 1 - i) % every === 0;
}

/** A label cut to `max` characters with an ellipsis; the full text goes in the element's <title>. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** A non-negative finite number, or 0: chart input comes from counters and queries, not from trust. */
export function count(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0;
}

/** An id safe in an attribute and an `aria-labelledby` list. */
export function slug(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return s || "chart";
}
