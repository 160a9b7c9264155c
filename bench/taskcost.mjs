#!/usr/bin/env node
// Where the task path's cost goes (issue 3): the Firebreak worker bundled several times, each time
// with one part of admission taken out (or, for the task-token cache, a proposed change put in) at
// bundle time (src/ is not touched). Every variant is its own worker with its own Durable Objects;
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
import { memoryDurableObjectsDir, replaceImport, signToken, startVariants } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(cliArg("seconds", 1.5));
const ROUNDS = Number(cliArg("rounds", 10));
const RATE = Number(cliArg("rate", 200));
const HOT = process.argv.includes("--hot");
const C = 50;

const src = (p) => JSON.stringify(join(ROOT, "src", p));

/**
 * The proposed change (docs/benchmarks.md, "Proposed src changes"): verified task tokens remembered
 * per isolate like workload tokens (src/identity/token-cache.ts): the exact token string, for the same
 * imported key set, audience and issuer, at most 60 s, exp and nbf re-checked on every use.
 */
const TASK_TOKEN_CACHE = `
export * from ${src("identity/task-token.ts")};
import { TASK_CLOCK_TOLERANCE_S, verifyTaskToken as verifyUncached } from ${src("identity/task-token.ts")};
const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;
const verified = new Map();
export async function verifyTaskToken(token, keys, opts) {
  const set = "ok" in keys ? (keys.ok ? keys.keys : null) : keys;
  const t = opts.now.getTime();
  const s = t / 1000;
  const e = set === null ? undefined : verified.get(token);
  if (e) {
    const c = e.claims;
    if (e.keys === set && e.audience === opts.audience && e.issuer === opts.issuer && t - e.storedAt < TTL_MS &&
        c.exp > s - TASK_CLOCK_TOLERANCE_S && c.nbf <= s + TASK_CLOCK_TOLERANCE_S) return { ok: true, claims: c };
    verified.delete(token);
  }
  const r = await verifyUncached(token, keys, opts);
  if (r.ok && set !== null) {
    if (verified.size >= MAX_ENTRIES) verified.delete(verified.keys().next().value);
    verified.set(token, { keys: set, audience: opts.audience, issuer: opts.issuer, claims: r.claims, storedAt: t });
  }
  return r;
}`;

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
    const refusal = liveness(this.store, task, step.now) ?? check(this.store, task.profile, step);
    this.store.head();
    if (refusal) return { ok: false, ...refusal };`;

const VARIANTS = [
  {
    name: "tc-token-cache",
    what: "verified task tokens cached (proposed): no EdDSA verification on a repeated token",
    plugins: [replaceImport(ROOT, "task-token-cache", join("identity", "caller.ts"), "./task-token", TASK_TOKEN_CACHE)],
  },
  {
    name: "tc-no-view",
    what: "no view() RPC before decide (the fixture's rule lookups-early-in-a-task reads task.calls)",
    plugins: [
      replaceImport(
        ROOT,
        "no-view",
        join("gateway", "pipeline.ts"),
        "./admit",
        `export * from ${src("gateway/admit.ts")};\nexport async function taskView() { return null; }`,
      ),
    ],
  },
  {
    name: "tc-no-settle",
    what: "no settle RPC after the upstream answered",
    plugins: [
      replaceImport(
        ROOT,
        "no-settle",
        join("gateway", "pipeline.ts"),
        "./admit",
        `export * from ${src("gateway/admit.ts")};
import { admit as real } from ${src("gateway/admit.ts")};
export async function admit(step, task, env) {
  const r = await real(step, task, env);
  return r.ok ? { ok: true, admission: { taskId: r.admission.taskId, settle: async () => null } } : r;
}`,
      ),
    ],
  },
  {
    name: "tc-no-hash",
    what: "step log entries not hashed (canonical JSON + SHA-256 of each appended entry)",
    plugins: [
      replaceImport(
        ROOT,
        "no-hash",
        join("tasks", "task-store.ts"),
        "./hash-chain",
        `export * from ${src("tasks/hash-chain.ts")};
import { GENESIS } from ${src("tasks/hash-chain.ts")};
export function chainHash() { return GENESIS; }`,
      ),
    ],
  },
  {
    name: "tc-no-timers",
    what: "setTimeout/clearTimeout are no-ops: no 5-s bound on the three RPCs (nor on the upstream fetch)",
    banner: "globalThis.setTimeout = () => 0; globalThis.clearTimeout = () => {};",
  },
  {
    name: "tc-one-write",
    what: "admit and settle do their reads and one counter upsert each (one commit each, few statements)",
    object: `
  admit(step) {
    return this.ctx.storage.transactionSync(() => {${ADMIT_READS}
      this.store.addCounter("calls", 1);
      return { ok: true, seq: 1 };
    });
  }
  settle(seq) {
    this.ctx.storage.transactionSync(() => { this.store.task(); this.store.step(seq); this.store.addCounter("settled", 1); });
  }`,
  },
  {
    name: "tc-no-writes",
    what: "admit and settle do their reads only: no write, no commit",
    object: `
  admit(step) {
    return this.ctx.storage.transactionSync(() => {${ADMIT_READS}
      return { ok: true, seq: 1 };
    });
  }
  settle(seq) {
    this.ctx.storage.transactionSync(() => { this.store.task(); this.store.step(seq); });
  }`,
  },
  {
    name: "tc-rpc-only",
    what: "view, admit and settle answer at once: the three RPCs and nothing in the object",
    object: `
  view() { return { state: "live", deadline: Date.now() + 3600_000, calls: 0, services: [], labels_read: [] }; }
  admit() { return { ok: true, seq: 1 }; }
  settle() {}`,
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
  const w = await startVariants({ repoRoot: ROOT, outDir: tmp, variants, durableObjectsDir: doDir });
  mf = w.mf;
  const workerdPid = findWorkerdPid();
  const token = await signToken(w.keys);
  const workload = { authorization: `Bearer ${token}` };
  // The pass-through and Firebreak with a workload token (no task), then the real task path and each
  // variant with tasks of their own.
  const rows = [
    { row: "passthrough", url: w.urls.passthrough, opts: { headers: workload } },
    { row: "firebreak-no-task", url: w.urls.firebreak, opts: { headers: workload } },
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
  const WHAT = { passthrough: "baseline", "firebreak-no-task": "Firebreak, workload token", tasks: "full task path" };
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
