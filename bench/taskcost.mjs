#!/usr/bin/env node
// Where the task path's cost goes (issues 3 and 13): the Firebreak worker bundled several times, each
// time with one part of admission taken out at bundle time (src/ is not touched). Every variant is its own worker with its own Durable Objects;
// each gets 50 tasks started through its own API, and the load carries their task tokens (one task
// per connection, or all on one task with --hot). The figure to read is workerd CPU per request, at
// the same offered load for every worker (as bench/ablate.mjs does), over rotating short slices.
// The objects' SQLite files are on tmpfs, as in `npm run bench` (on disk, the answers at c=50 take
// seconds: bench/opcost.mjs --disk measures a commit there).
//   node bench/taskcost.mjs [--seconds 1.5] [--rounds 10] [--rate 200] [--hot] [--only a,b] [--verbose]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { cliArg, findWorkerdPid, measure, printRotation, rotate } from "./load.mjs";
import { inspectTask, startTasks } from "./tasks.mjs";
import { FLOOR_HEADER, memoryDurableObjectsDir, replaceImport, signToken, startVariants } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(cliArg("seconds", 1.5));
const ROUNDS = Number(cliArg("rounds", 10));
const RATE = Number(cliArg("rate", 200));
const HOT = process.argv.includes("--hot");
const C = 50;

const src = (p) => JSON.stringify(join(ROOT, "src", p));

/** The task object with some of its work taken out (a subclass; the class name is the binding's). */
const taskObject = (body) => `
export * from ${src("tasks/task-object.ts")};
import { TaskObject as Real } from ${src("tasks/task-object.ts")};
import { check, liveness } from ${src("tasks/admission.ts")};
export class TaskObject extends Real {
${body}
}`;

/** What admit reads before it writes: the task row, liveness, every budget check, the log head. */
const ADMIT_READS = `
    const task = this.store.task();
    if (!task) return { ok: false, reason: "task.unknown" };
    const step = steps[0];
    const refusal = liveness(this.store, task, step.now) ?? check(this.store, task.profile, step);
    this.store.head();
    if (refusal) return { ok: false, ...refusal };`;

/** src/gateway/admit.ts with `admit` replaced (the pipeline imports it from there). */
const gatewayAdmit = (name, body) =>
  replaceImport(
    ROOT,
    name,
    join("gateway", "pipeline.ts"),
    "./admit",
    `export * from ${src("gateway/admit.ts")};
import { admit as real, NO_ADMISSION } from ${src("gateway/admit.ts")};
${body}`,
  );

const VARIANTS = [
  {
    name: "tc-no-settle",
    what: "no settle at all: nothing held, carried or sent after the upstream answered",
    plugins: [
      gatewayAdmit(
        "no-settle",
        `export async function admit(steps, task, env, background) {
  const r = await real(steps, task, env, background);
  return r.ok ? { ...r, admission: { taskId: r.admission.taskId, settle: () => undefined } } : r;
}`,
      ),
    ],
  },
  {
    name: "tc-no-object",
    what: "no Durable Object call at all: the task path's gateway side only (admitted without asking)",
    plugins: [
      gatewayAdmit("no-object", "export async function admit() { return { ok: true, admission: NO_ADMISSION }; }"),
    ],
  },
  {
    name: "tc-no-hash",
    what: "step log entries not hashed (SHA-256 of each appended entry)",
    plugins: [
      replaceImport(
        ROOT,
        "no-hash",
        join("tasks", "task-store.ts"),
        "./hash-chain",
        `export * from ${src("tasks/hash-chain.ts")};
import { GENESIS } from ${src("tasks/hash-chain.ts")};
export function chainHashText() { return GENESIS; }`,
      ),
    ],
  },
  {
    name: "tc-no-timers",
    what: "setTimeout/clearTimeout are no-ops: no RPC bound, no carry wait, no upstream timeout",
    banner: "globalThis.setTimeout = () => 0; globalThis.clearTimeout = () => {};",
  },
  {
    name: "tc-no-settle-entry",
    what: "a settle marks its call settled and records success, with no log entry of its own (no INSERT, no hash)",
    plugins: [
      replaceImport(
        ROOT,
        "no-settle-entry",
        join("tasks", "task-object.ts"),
        "./settle",
        `export * from ${src("tasks/settle.ts")};
import { HeldSettles as Real } from ${src("tasks/settle.ts")};
export class HeldSettles extends Real {
  apply(store, n) {
    const task = store.task();
    if (!task || n === 0) return;
    for (let i = 0; i < n; i++) {
      const h = this.notes[i];
      for (const seq of h.seqs) {
        const call = store.openCall(seq);
        if (call === undefined) continue;
        store.markSettled(seq, h.status);
        store.recordSuccess(call.action, call.resource, JSON.parse(call.labels));
      }
    }
  }
}`,
      ),
    ],
  },
  {
    name: "tc-no-rpc-timer",
    what: "the admit RPC not bounded in time (no withTimeout around it)",
    plugins: [
      replaceImport(
        ROOT,
        "no-rpc-timer",
        join("gateway", "admit.ts"),
        "../tasks/rpc",
        `export * from ${src("tasks/rpc.ts")};
export function rpcCall(p) { return Promise.resolve(p); }`,
      ),
    ],
  },
  {
    name: "tc-native-timers",
    what: "workerd's own timers (compatibility flag no_nodejs_global_timers), not Node's Timeout objects",
    compatibilityFlags: ["nodejs_compat", "no_nodejs_global_timers"],
  },
  {
    name: "tc-no-log",
    what: "no console.log of the decision record",
    banner: "console.log = () => {};",
  },
  {
    name: "tc-one-write",
    what: "admitAll does its reads and one counter upsert (one commit, few statements); settles dropped",
    object: `
  admitAll(steps) {
    return this.ctx.storage.transactionSync(() => {${ADMIT_READS}
      this.store.addCounter("calls", 1);
      this.store.flush();
      return { ok: true, seqs: [1] };
    });
  }
  settleMany() {}`,
  },
  {
    name: "tc-rpc-only",
    what: "admitAll and settleMany answer at once: the RPCs and nothing in the object",
    object: `
  admitAll() { return { ok: true, seqs: [1] }; }
  settleMany() {}`,
  },
];
for (const v of VARIANTS) {
  if (v.object) {
    v.plugins = [replaceImport(ROOT, v.name, "index.ts", "./tasks/task-object", taskObject(v.object))];
  }
}

const only = cliArg("only", null)?.split(",");
const variants = VARIANTS.filter((v) => !only || only.includes(v.name));
const tmp = mkdtempSync(join(tmpdir(), "firebreak-taskcost-"));
const doDir = memoryDurableObjectsDir();
let mf;
try {
  const w = await startVariants({ repoRoot: ROOT, outDir: tmp, variants, durableObjectsDir: doDir, floorWorker: true });
  mf = w.mf;
  const workerdPid = findWorkerdPid();
  const token = await signToken(w.keys);
  const workload = { authorization: `Bearer ${token}` };
  // The pass-through and Firebreak with a workload token (no task), then the real task path and each
  // variant with tasks of their own.
  const rows = [
    { row: "passthrough", url: w.urls.passthrough, opts: { headers: workload } },
    { row: "firebreak-no-task", url: w.urls.firebreak, opts: { headers: workload } },
    {
      row: "floor",
      url: w.urls.floor,
      opts: {
        clientHeaders: Array.from({ length: HOT ? 1 : C }, (_, i) => ({ ...workload, [FLOOR_HEADER]: `tc-${i}` })),
      },
    },
  ];
  const tasksOf = {};
  for (const name of ["firebreak", ...variants.map((v) => v.name)]) {
    const tasks = await startTasks(new URL("/", w.urls[name]), token, HOT ? 1 : C);
    tasksOf[name] = tasks;
    const row = name === "firebreak" ? "tasks" : name;
    rows.push({ row, url: w.urls[name], opts: { clientHeaders: tasks.map((t) => t.headers) } });
  }
  for (const r of rows) {
    const res = await fetch(r.url, { headers: r.opts.headers ?? r.opts.clientHeaders[0] });
    if (res.status !== 200) throw new Error(`${r.row} answered ${res.status}: ${await res.text()}`);
    await measure({ url: r.url, connections: C, seconds: 2, ...r.opts });
  }
  const results = await rotate(rows, { rounds: ROUNDS, seconds: SECONDS, rate: RATE, workerdPid, connections: C });
  // The real task path must have been admitted: its objects count the calls.
  const base = new URL("/", w.urls.firebreak);
  let counted = 0;
  for (const t of tasksOf.firebreak) counted += (await inspectTask(base, t)).calls;
  console.log(
    `c=${C} at ${RATE} req/s offered, ${HOT ? "all connections on one task" : "a task per connection"}, ` +
      `${ROUNDS} rounds x ${SECONDS} s, objects' SQLite ${doDir ? "on tmpfs" : "on disk"}; medians over rounds ` +
      `(the real task path counted ${counted} calls)`,
  );
  const WHAT = {
    passthrough: "baseline",
    "firebreak-no-task": "Firebreak, workload token",
    tasks: "full task path",
    floor: "pass-through + one Durable Object write",
  };
  const cpu = printRotation(results, {
    reference: "tasks",
    whatOf: (row) => VARIANTS.find((v) => v.name === row)?.what ?? WHAT[row],
    verbose: process.argv.includes("--verbose"),
  });
  console.log(
    `Admission adds ${(cpu.tasks - cpu["firebreak-no-task"]).toFixed(0)} us of workerd CPU per request to Firebreak's path.`,
  );
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
  if (doDir) rmSync(doDir, { recursive: true, force: true });
}
