#!/usr/bin/env node
// The task row of `npm run bench` for two source trees at once: this repository and another checkout
// (`--before <dir>`, e.g. a copy of the tree taken before a change), each bundled as Firebreak's worker
// with its own fixture bundle, in ONE workerd with the pass-through and the floor, measured in
// rotating slices so that both trees see the same mix of fast and slow phases of this shared machine.
// A task per connection (50 tasks per tree), c=50. `--rate N`: N req/s offered (compare workerd CPU
// per request); `--rate 0` (default): as fast as it goes (compare req/s, as `npm run bench` does).
//   node bench/ab-tasks.mjs --before /tmp/before [--rounds 10] [--seconds 1] [--rate 0] [--hot]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { register } from "tsx/esm/api";
import { cliArg, findWorkerdPid, measure, median, rotate } from "./load.mjs";
import { inspectTask, startTasks } from "./tasks.mjs";
import {
  bundleFirebreak,
  FLOOR_HEADER,
  gatewayFixture,
  memoryDurableObjectsDir,
  signToken,
  startWorkers,
} from "./workers.mjs";

register();
const ROOT = resolve(import.meta.dirname, "..");
const BEFORE = cliArg("before", null);
if (!BEFORE) throw new Error("--before <dir>: the other source tree");
const ROUNDS = Number(cliArg("rounds", 10));
const SECONDS = Number(cliArg("seconds", 1));
const RATE = Number(cliArg("rate", 0)) || undefined;
const HOT = process.argv.includes("--hot");
const C = 50;

const tmp = mkdtempSync(join(tmpdir(), "firebreak-ab-"));
const doDir = memoryDurableObjectsDir();
let mf;
try {
  // Each tree with the bundle its own compiler makes (the bundle format may differ between them).
  for (const d of ["after", "before"]) mkdirSync(join(tmp, d));
  const after = await gatewayFixture(ROOT, join(tmp, "after"));
  const before = await gatewayFixture(resolve(BEFORE), join(tmp, "before"));
  const firebreakScript = await bundleFirebreak(ROOT, after.bundlePath, join(tmp, "after"));
  const beforeScript = await bundleFirebreak(resolve(BEFORE), before.bundlePath, join(tmp, "before"), {
    name: "before",
  });
  const w = await startWorkers({
    repoRoot: ROOT,
    firebreakScript,
    keys: after.keys,
    variants: [{ name: "before", script: beforeScript }],
    floorWorker: true,
    durableObjectsDir: doDir,
  });
  mf = w.mf;
  const workerdPid = findWorkerdPid();
  const token = await signToken(after.keys);
  const workload = { authorization: `Bearer ${token}` };
  const n = HOT ? 1 : C;
  const tasks = {
    after: await startTasks(new URL("/", w.urls.firebreak), token, n),
    before: await startTasks(new URL("/", w.urls.before), token, n),
  };
  const floor = Array.from({ length: C }, (_, i) => ({ ...workload, [FLOOR_HEADER]: `ab-${i}` }));
  const rows = [
    { row: "passthrough", url: w.urls.passthrough, opts: { headers: workload } },
    { row: "floor", url: w.urls.floor, opts: { clientHeaders: floor } },
    { row: "before", url: w.urls.before, opts: { clientHeaders: tasks.before.map((t) => t.headers) } },
    { row: "after", url: w.urls.firebreak, opts: { clientHeaders: tasks.after.map((t) => t.headers) } },
  ];
  for (const r of rows) {
    const res = await fetch(r.url, { headers: r.opts.headers ?? r.opts.clientHeaders[0] });
    if (res.status !== 200) throw new Error(`${r.row} answered ${res.status}: ${await res.text()}`);
    await measure({ url: r.url, connections: C, seconds: 2, ...r.opts });
  }
  const results = await rotate(rows, { rounds: ROUNDS, seconds: SECONDS, rate: RATE, workerdPid, connections: C });
  // Both trees' tasks must have admitted the calls: their objects count them, and their logs verify.
  for (const [name, set] of Object.entries(tasks)) {
    const base = new URL("/", name === "after" ? w.urls.firebreak : w.urls.before);
    let counted = 0;
    for (const t of set) {
      const seen = await inspectTask(base, t);
      if (!seen.logOk) throw new Error(`${name}: task ${t.id}'s log does not verify`);
      counted += seen.calls;
    }
    const ok = results[name].reduce((s, m) => s + m.requests_2xx, 0);
    if (counted < ok) throw new Error(`${name}: the tasks counted ${counted} calls for ${ok} 2xx answers`);
  }
  const of = (row, f) => median(results[row].map(f));
  const cpu = (row) => of(row, (m) => m.cpu_us_per_request.workerd);
  const rps = (row) => of(row, (m) => m.req_per_s);
  const other = (row) => Math.max(...results[row].map((m) => m.cpu_utilisation.other_processes ?? 0));
  console.log(
    `c=${C}, ${HOT ? "one hot task" : "a task per connection"}, ${RATE ? `${RATE} req/s offered` : "saturated"}, ` +
      `${ROUNDS} rounds x ${SECONDS} s; medians over rounds`,
  );
  for (const row of Object.keys(results)) {
    const ratios = row === "before" || row === "after" ? ratiosOf(results, row) : "";
    console.log(
      `${row.padEnd(12)} ${rps(row).toFixed(0).padStart(6)} req/s  ${cpu(row).toFixed(0).padStart(5)} us CPU/req  ` +
        `other load ${other(row).toFixed(2)}${ratios}`,
    );
  }
  console.log(`after - before: ${(cpu("after") - cpu("before")).toFixed(0)} us of workerd CPU per call`);
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
  if (doDir) rmSync(doDir, { recursive: true, force: true });
}

/** The row's req/s over the pass-through's and the floor's, round by round, then the median. */
function ratiosOf(results, row) {
  const by = (ref) => median(results[row].map((m, i) => m.req_per_s / results[ref][i].req_per_s)).toFixed(3);
  return `  / pass-through ${by("passthrough")}  / floor ${by("floor")}`;
}
