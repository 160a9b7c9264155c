#!/usr/bin/env node
// `npm run bench`: one process, one run (docs/benchmarks.md).
//   1. http:  a bare pass-through worker and Firebreak's full path, both in Miniflare against the same
//             fake upstream worker, loaded by autocannon (programmatic, in this process) at c=1 and c=50;
//             Firebreak with a workload token (no task) and with task tokens (admission in the task's
//             Durable Object: a task per connection, and all connections on one hot task); the floor (the
//             pass-through plus one Durable Object write per call, one object per connection); Durable
//             Object round trips per task call, counted inside the Firebreak worker (bench/rpc-count.mjs)
//   2. micro: classify + decide on generated bundles of 10, 100, 1,000 and 10,000 rules (this process,
//             after workerd has stopped); the cost of a typical GraphQL document and MCP message
// Prints a table and writes bench/results/latest.json. Targets are reported, never asserted; a
// measurement in which any request was not 2xx fails the run, and so does a task path whose calls
// were not all admitted by their tasks (bench/tasks.mjs).
//   node bench/run.mjs [--seconds 10] [--warmup 3] [--skip-micro] [--skip-http] [--skip-fresh-tokens]
//                      [--skip-tasks] [--skip-floor] [--no-rpc-count] [--out bench/results/latest.json]
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { runBundle } from "./bundle.mjs";
import { runGraphql } from "./graphql.mjs";
import { findWorkerdPid, slice, summarise, waitForQuiet } from "./load.mjs";
import { runMcp } from "./mcp.mjs";
import { runMicro } from "./micro.mjs";
import { labelOf, round, table } from "./report.mjs";
import { perCall, readCounts, tagRow } from "./rpc-count.mjs";
import { BENCH_PROFILE, checkTaskPath, countAdmitted, startTasks, timeStarts } from "./tasks.mjs";
import {
  ALLOWED_PATH,
  bundleFirebreak,
  countingVariant,
  FLOOR_HEADER,
  floorRows,
  freshTokens,
  gatewayFixture,
  memoryDurableObjectsDir,
  signToken,
  startWorkers,
  writeJson,
} from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const num = (name, d) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : d);
const SECONDS = num("seconds", 10);
const SLICES = 10;
const SLICE_SECONDS = SECONDS / SLICES;
const WARMUP_SECONDS = num("warmup", 3);
const CONCURRENCY = [1, 50];
const RULE_COUNTS = [10, 100, 1000, 10000];
/** A round during which other processes used more than this many cores is measured again. */
const BUSY_CORES = 0.25;
const QUIET_BUDGET_S = 60;
const FRESH_TOKENS = !argv.includes("--skip-fresh-tokens");
const TASKS = !argv.includes("--skip-tasks");
/** The floor row is shaped like the task row (one object per task of it), so it runs with the task rows. */
const FLOOR = TASKS && !argv.includes("--skip-floor");
/** Firebreak bundled with its Durable Object calls counted (bench/rpc-count.mjs); off: the bare worker. */
const RPC_COUNT = !argv.includes("--no-rpc-count");
/** Where the JSON goes (a short trial run can keep the committed latest.json as it is). */
const OUT = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : "bench/results/latest.json";

const TARGETS = {
  throughput_ratio_c50_min: 0.85,
  throughput_ratio_c50_tasks_min: 0.5,
  throughput_ratio_c50_tasks_vs_floor_min: 0.8,
  do_round_trips_per_task_call_max: 1,
  decide_us_p50_at_1000_max: 5,
  decide_10000_over_10_max: 1.2,
  compile_ms_10000_max: 1000,
  bundle_gzip_kb_max: 300,
  bundle_load_ms_max: 10,
};

const log = (...a) => console.log(...a);
const started = Date.now();
const pkg = (name) => JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
const machine = {
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model ?? "unknown",
  memory_gb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  miniflare: pkg("miniflare"),
  workerd: pkg("workerd"),
  autocannon: pkg("autocannon"),
};
log(`Firebreak bench — ${new Date().toISOString()}`);
log(
  `${machine.cpus} x ${machine.cpu_model}, node ${machine.node}, miniflare ${machine.miniflare}, workerd ${machine.workerd}`,
);

const out = {
  date: new Date().toISOString(),
  machine,
  config: {
    http_seconds_per_worker: SECONDS,
    http_slices: SLICES,
    warmup_seconds: WARMUP_SECONDS,
    concurrency: CONCURRENCY,
    rule_counts: RULE_COUNTS,
    request: `GET ${ALLOWED_PATH} (ES256 token, sub agent-1, inline JWKS)`,
    task_request: TASKS
      ? `the same request with a task token (EdDSA) of profile ${BENCH_PROFILE}, started by POST /_firebreak/v1/tasks`
      : null,
    floor: FLOOR
      ? "the pass-through plus one native RPC, before the forward, to a SQLite-backed Durable Object addressed by " +
        `name (${FLOOR_HEADER}: one object per connection, as many as the task row has tasks) that inserts one row ` +
        "in a transactionSync and commits"
      : null,
    rpc_count: RPC_COUNT
      ? "on: every Firebreak row is measured with the worker wrapped by bench/rpc-count.mjs (Durable Object calls " +
        "counted per request, by row)"
      : "off (--no-rpc-count)",
    load_generator: "autocannon (programmatic) in the same Node process as Miniflare; workerd is a child process",
  },
  targets: TARGETS,
};

// ------------------------------------------------------------------------------------------- http
let http = null;
if (!argv.includes("--skip-http")) {
  const tmp = mkdtempSync(join(tmpdir(), "firebreak-bench-http-"));
  const doDir = memoryDurableObjectsDir();
  out.config.durable_object_storage = doDir
    ? "tmpfs (/dev/shm)"
    : "Miniflare's default (a temporary directory on disk)";
  let mf;
  try {
    const { bundlePath, keys } = await gatewayFixture(ROOT, tmp);
    // Counting on: the real worker's default export wrapped, its Durable Object classes unchanged.
    const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp, RPC_COUNT ? await countingVariant(ROOT) : {});
    const w = await startWorkers({
      repoRoot: ROOT,
      firebreakScript,
      keys,
      freshTokenWorker: FRESH_TOKENS,
      floorWorker: FLOOR,
      durableObjectsDir: doDir,
    });
    mf = w.mf;
    const workerdPid = findWorkerdPid();
    const workloadToken = await signToken(keys);
    const headers = { authorization: `Bearer ${workloadToken}` };
    if (RPC_COUNT) await tagRow(w.urls.firebreak, "setup");
    const passthroughBody = await checkAnswers(w.urls, headers);
    if (FLOOR) await checkFloor(w.urls.floor, headers);

    log(
      `\nHTTP (autocannon; ${SECONDS} s per worker in ${SLICES} slices of ${SLICE_SECONDS} s, workers alternating, ` +
        `after ${WARMUP_SECONDS} s of warm-up each)`,
    );
    http = { voided: [], repeated_busy: [] };
    let quietBudget = QUIET_BUDGET_S;
    const logLinesBefore = w.stdio.decisionLines;
    let firebreakRequests = 0;
    const fresh = freshTokens(keys);
    // Task tokens from the real API; the tasks run in the `firebreak` worker (its Durable Objects).
    const base = new URL("/", w.urls.firebreak);
    let tasks = null;
    if (TASKS) {
      const check = await checkTaskPath(w.urls.firebreak, workloadToken, passthroughBody);
      firebreakRequests += check.calls_2xx;
      const many = await startTasks(base, workloadToken, 50);
      const [one, hot] = await startTasks(base, workloadToken, 2);
      tasks = {
        check,
        sets: { c1: { tasks: [one], ok: 0 }, c50: { tasks: many, ok: 0 }, c50_hot: { tasks: [hot], ok: 0 } },
      };
      // The counting wrapper must be in the task path: the check's admitted calls went through it.
      if (RPC_COUNT) {
        const setup = (await readCounts(w.urls.firebreak)).setup;
        const seen = Object.values(setup?.calls?.TASKS ?? {}).reduce((a, m) => a + m.before + m.unawaited, 0);
        if (seen < check.calls_2xx)
          throw new Error(`the counting wrapper saw ${seen} task object calls for ${check.calls_2xx} task calls`);
      }
    }
    // The floor: one object per connection, as many as the task row at that concurrency has tasks.
    const floorSets = {};
    if (FLOOR) {
      for (const c of CONCURRENCY) {
        const names = tasks.sets[`c${c}`].tasks.map((_, i) => `c${c}-conn-${i}`);
        floorSets[`c${c}`] = { names, ok: 0, clientHeaders: names.map((n) => ({ ...headers, [FLOOR_HEADER]: n })) };
      }
    }
    /** The workers measured at concurrency c, by result key; `tally` counts 2xx answers of a task set. */
    const targetsAt = (c) => ({
      passthrough: { name: "passthrough", opts: { headers } },
      firebreak: { name: "firebreak", opts: { headers } },
      ...(c === 50 && FRESH_TOKENS
        ? { firebreak_fresh_tokens: { name: "firebreak-fresh", opts: { authorization: () => `Bearer ${fresh()}` } } }
        : {}),
      ...(tasks
        ? {
            firebreak_tasks: {
              name: "firebreak",
              tally: tasks.sets[`c${c}`],
              opts: { clientHeaders: tasks.sets[`c${c}`].tasks.map((t) => t.headers) },
            },
            ...(c === 50
              ? {
                  firebreak_hot_task: {
                    name: "firebreak",
                    tally: tasks.sets.c50_hot,
                    opts: { headers: tasks.sets.c50_hot.tasks[0].headers },
                  },
                }
              : {}),
          }
        : {}),
      ...(FLOOR
        ? {
            floor: {
              name: "floor",
              tally: floorSets[`c${c}`],
              opts: { clientHeaders: floorSets[`c${c}`].clientHeaders },
            },
          }
        : {}),
    });
    if (FRESH_TOKENS) {
      const check = await fetch(w.urls["firebreak-fresh"], { headers: { authorization: `Bearer ${fresh()}` } });
      if (check.status !== 200) throw new Error(`a fresh token was answered ${check.status}: ${await check.text()}`);
      firebreakRequests += 1;
    }

    /** Requests answered 2xx (autocannon) per counting row (`tag`), against the wrapper's own count. */
    const taggedOk = {};
    /**
     * One slice of target `t` at concurrency c. Measured again (once) when connections failed without
     * any non-2xx answer (seen once in ~40 runs: 12 socket errors in 20,000 requests); a non-2xx
     * answer, or a second failure, ends the run.
     */
    const once = async (key, t, c, seconds, withCpu) => {
      const tag = `${withCpu ? "" : "warmup:"}c${c}:${key}`;
      // The counting wrapper puts every request that arrives from now on in this slice's row.
      if (RPC_COUNT && t.name === "firebreak") await tagRow(w.urls.firebreak, tag);
      for (let attempt = 1; ; attempt++) {
        try {
          const s = await slice({
            url: w.urls[t.name],
            connections: c,
            seconds,
            ...t.opts,
            workerdPid: withCpu ? workerdPid : null,
          });
          if (t.name.startsWith("firebreak")) firebreakRequests += s.ok;
          if (t.tally) t.tally.ok += s.ok;
          taggedOk[tag] = (taggedOk[tag] ?? 0) + s.ok;
          return s;
        } catch (e) {
          if (attempt === 2 || !e.connectionErrorsOnly) throw e;
          http.voided.push({ key, concurrency: c, error: e.message });
          log(`  ${key} c=${c}: ${e.message}; measuring again`);
        }
      }
    };

    // The machine's speed drifts (other tenants; phases of seconds), so the workers compared take
    // turns in short slices: each sees the same mix of fast and slow phases. A round in which other
    // processes used more than BUSY_CORES is measured again (at most twice per concurrency).
    for (const c of CONCURRENCY) {
      const targets = targetsAt(c);
      const keys_ = Object.keys(targets);
      for (const key of keys_) await once(key, targets[key], c, WARMUP_SECONDS, false);
      const slices = Object.fromEntries(keys_.map((k) => [k, []]));
      let repeats = 0;
      for (let r = 0; r < SLICES; r++) {
        quietBudget -= await waitForQuiet(workerdPid, BUSY_CORES / 2, Math.max(0, Math.min(10, quietBudget)));
        const got = {};
        for (const key of keys_) got[key] = await once(key, targets[key], c, SLICE_SECONDS, true);
        const busy = Math.max(...Object.values(got).map((g) => g.otherCores ?? 0));
        if (busy > BUSY_CORES && repeats < 2) {
          repeats++;
          http.repeated_busy.push({ concurrency: c, round: r, other_cores: busy });
          r--;
          continue;
        }
        for (const key of keys_) slices[key].push(got[key]);
      }
      const h = {};
      http[`c${c}`] = h;
      for (const key of keys_) h[key] = summarise(slices[key]);
      compare(h, slices);
      for (const key of keys_) {
        const m = h[key];
        log(
          `  ${labelOf(key, c).padEnd(46)} c=${String(c).padEnd(2)} ${m.req_per_s.toFixed(0).padStart(6)} req/s  ` +
            `p50 ${m.latency_ms.p50.toFixed(3)} ms  p99 ${m.latency_ms.p99.toFixed(3)} ms  ` +
            `workerd ${m.cpu_us_per_request.workerd} us CPU/req  (other load ${m.cpu_utilisation.other_processes} cores)`,
        );
      }
      log(
        `  ratio c=${c}: ${h.ratio.toFixed(3)} (by round: ${h.ratio_by_round.join(", ")}); ` +
          `workerd CPU per request, pass-through / Firebreak: ${h.cpu_ratio.toFixed(3)}`,
      );
      if (h.ratio_tasks !== undefined) {
        log(
          `  ratio c=${c} with tasks: ${h.ratio_tasks.toFixed(3)} (by round: ${h.ratio_tasks_by_round.join(", ")}); ` +
            `by CPU ${h.cpu_ratio_tasks.toFixed(3)}` +
            (h.ratio_hot_task === undefined ? "" : `; one hot task ${h.ratio_hot_task.toFixed(3)}`),
        );
      }
      if (h.ratio_tasks_vs_floor !== undefined) {
        log(
          `  ratio c=${c} with tasks over the floor: ${h.ratio_tasks_vs_floor.toFixed(3)} ` +
            `(by round: ${h.ratio_tasks_vs_floor_by_round.join(", ")}); by CPU ${h.cpu_ratio_tasks_vs_floor.toFixed(3)}; ` +
            `floor / pass-through ${h.ratio_floor.toFixed(3)}`,
        );
      }
    }
    // Later calls (none counted from here on) go to a row of their own: the inspections below call the objects.
    if (RPC_COUNT) await tagRow(w.urls.firebreak, "after-measuring");
    // Let the last log lines cross the pipe, and background work (ctx.waitUntil) of the last calls end.
    await new Promise((r) => setTimeout(r, 500));
    // One decision log line per Firebreak request (2xx ones counted; a voided attempt may add more lines).
    http.decision_log_lines = w.stdio.decisionLines - logLinesBefore;
    http.firebreak_requests_2xx = firebreakRequests;
    if (tasks) {
      http.tasks = { profile: BENCH_PROFILE, check: tasks.check, admitted: {} };
      for (const [name, set] of Object.entries(tasks.sets)) {
        http.tasks.admitted[name] = await countAdmitted(base, set.tasks, set.ok);
      }
      http.task_start = await timeStarts(base, workloadToken);
      const ts = http.task_start;
      log(
        `  task start (p50 of ${ts.starts}): ${ts.p50_ms_plain} ms; with a GitHub App and an OAuth token minted ` +
          `${ts.p50_ms_minting} ms (+${ts.added_p50_ms} ms)`,
      );
      log(
        `  admission: ${Object.entries(http.tasks.admitted)
          .map(([n, a]) => `${n} ${a.calls_counted} calls counted by ${a.tasks} task(s) for ${a.requests_2xx} 2xx`)
          .join("; ")}; step logs verified`,
      );
    }
    if (FLOOR) {
      http.floor = { objects: {}, rows_written: {} };
      for (const [name, set] of Object.entries(floorSets)) {
        const rows = await floorRows(w.urls.floor, set.names);
        // Every 2xx answer of the floor wrote one row first (the excess: calls in flight when a slice stopped).
        if (rows < set.ok)
          throw new Error(`the floor's ${set.names.length} objects hold ${rows} rows for ${set.ok} 2xx`);
        http.floor.objects[name] = set.names.length;
        http.floor.rows_written[name] = { requests_2xx: set.ok, rows };
      }
    }
    if (RPC_COUNT) http.do_round_trips = roundTrips(await readCounts(w.urls.firebreak), taggedOk);
    if (http.do_round_trips) {
      for (const c of CONCURRENCY) {
        for (const [key, f] of Object.entries(http.do_round_trips[`c${c}`] ?? {})) {
          if (key === "firebreak") continue;
          const by = Object.entries(f.by_binding)
            .map(([b, x]) => `${b} ${x.before}/${x.unawaited}/${x.after}`)
            .join(", ");
          log(
            `  Durable Object round trips per call, ${labelOf(key, c)} c=${c}: ${f.before_answer} before the answer, ` +
              `${f.total} in all (before/unawaited/after: ${by || "none"}; ${f.requests} requests)`,
          );
        }
      }
    }
    summariseHttp(out, http);
    out.http = http;
  } finally {
    await mf?.dispose();
    rmSync(tmp, { recursive: true, force: true });
    if (doDir) rmSync(doDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------ micro
let micro = null;
if (!argv.includes("--skip-micro")) {
  log("\nclassify + decide (Node, median of 2,000 samples of 100 calls each, sizes interleaved)");
  micro = await runMicro(ROOT, RULE_COUNTS, log);
  out.decide_us_p50 = Object.fromEntries(RULE_COUNTS.map((n) => [String(n), micro[String(n)].classify_decide_us.p50]));
  out.micro = micro;
}

// -------------------------------------------------------------------------------------- protocols
if (!argv.includes("--skip-micro")) {
  log("\nGraphQL documents (first call of an isolate, then each document; Node)");
  out.graphql = await runGraphql(ROOT, log);
  log("\nMCP messages (a tools/call, warm; Node)");
  out.mcp = await runMcp(ROOT, log);
}

// ----------------------------------------------------------------------------------------- bundle
log("\nthe shipped bundle (policies/, every catalog)");
out.bundle = await runBundle(ROOT, log);

// ---------------------------------------------------------------------------------------- summary
out.targets_met = {};
out.targets_met.bundle_gzip_kb = out.bundle.gzip_bytes / 1024 <= TARGETS.bundle_gzip_kb_max;
out.targets_met.bundle_load_ms = out.bundle.load_ms.cold <= TARGETS.bundle_load_ms_max;
if (http) out.targets_met.throughput_ratio_c50 = out.throughput_ratio_c50 >= TARGETS.throughput_ratio_c50_min;
if (http?.tasks) {
  out.targets_met.throughput_ratio_c50_tasks = out.throughput_ratio_c50_tasks >= TARGETS.throughput_ratio_c50_tasks_min;
}
if (out.throughput_ratio_c50_tasks_vs_floor !== undefined) {
  out.targets_met.throughput_ratio_c50_tasks_vs_floor =
    out.throughput_ratio_c50_tasks_vs_floor >= TARGETS.throughput_ratio_c50_tasks_vs_floor_min;
}
if (out.do_round_trips_per_task_call !== undefined) {
  out.targets_met.do_round_trips_per_task_call = Object.values(out.do_round_trips_per_task_call).every(
    (n) => n <= TARGETS.do_round_trips_per_task_call_max,
  );
}
if (micro) {
  out.decide_10000_over_10 = round(out.decide_us_p50["10000"] / out.decide_us_p50["10"], 2);
  out.targets_met.decide_us_p50_at_1000 = out.decide_us_p50["1000"] <= TARGETS.decide_us_p50_at_1000_max;
  out.targets_met.decide_10000_over_10 = out.decide_10000_over_10 <= TARGETS.decide_10000_over_10_max;
  out.compile_ms_10000 = Math.round(micro["10000"].compile_ms);
  out.targets_met.compile_ms_10000 = out.compile_ms_10000 <= TARGETS.compile_ms_10000_max;
}
out.elapsed_s = Math.round((Date.now() - started) / 1000);
out.table = table(out, CONCURRENCY, RULE_COUNTS);
log(`\n${out.table}`);
const outPath = resolve(ROOT, OUT);
mkdirSync(dirname(outPath), { recursive: true });
writeJson(outPath, out);
log(`\nwrote ${OUT} (${out.elapsed_s} s)`);

// ------------------------------------------------------------------------------------------------

async function checkAnswers(urls, headers) {
  const bodies = {};
  for (const [name, url] of Object.entries(urls)) {
    const res = await fetch(url, { headers });
    bodies[name] = await res.text();
    if (res.status !== 200) throw new Error(`${name} answered ${res.status} before measuring: ${bodies[name]}`);
    if (name === "firebreak" && res.headers.get("firebreak-decision") !== "allow") {
      throw new Error(`firebreak did not allow the benchmark request: ${res.headers.get("firebreak-decision")}`);
    }
  }
  if (bodies.firebreak !== bodies.passthrough)
    throw new Error("firebreak and the pass-through answered different bodies");
  if (bodies.floor !== undefined && bodies.floor !== bodies.passthrough)
    throw new Error("the floor and the pass-through answered different bodies");
  return bodies.passthrough;
}

/** Before measuring: a floor call on a new object answers 200 and leaves exactly one row in it. */
async function checkFloor(url, headers) {
  const res = await fetch(url, { headers: { ...headers, [FLOOR_HEADER]: "check" } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`the floor answered ${res.status}`);
  const rows = await floorRows(url, ["check"]);
  if (rows !== 1) throw new Error(`a floor call on a new object left ${rows} rows in it, not 1`);
}

/**
 * The counting wrapper's rows (bench/rpc-count.mjs) of the measured Firebreak slices, per call, by
 * concurrency and row key. Its own count of requests is the denominator; it must be at least the 2xx
 * answers autocannon saw in those slices (in-flight requests at a slice's end are answered later),
 * or the wrapper was not in their path.
 */
function roundTrips(rows, taggedOk) {
  const out = {};
  for (const [tag, row] of Object.entries(rows)) {
    const m = /^c(\d+):(.+)$/.exec(tag);
    if (!m) continue;
    if (row.requests < (taggedOk[tag] ?? 0))
      throw new Error(`the counting wrapper saw ${row.requests} requests of ${tag} for ${taggedOk[tag]} 2xx answers`);
    out[`c${m[1]}`] = { ...out[`c${m[1]}`], [m[2]]: perCall(row) };
  }
  out.other_rows = Object.fromEntries(
    Object.entries(rows)
      .filter(([tag]) => !/^c\d+:/.test(tag))
      .map(([tag, row]) => [tag, perCall(row)]),
  );
  return out;
}

/** Ratios of one concurrency level: each Firebreak row over the pass-through measured in the same rounds. */
function compare(h, slices) {
  const pass = h.passthrough;
  const rate = (s) => s.ok / s.seconds;
  const byRound = (key) => slices[key].map((f, i) => round(rate(f) / rate(slices.passthrough[i]), 3));
  h.ratio = h.firebreak.req_per_s / pass.req_per_s;
  // The same comparison through workerd's CPU per request (workerd is the bottleneck): steadier.
  h.cpu_ratio = pass.cpu_us_per_request.workerd / h.firebreak.cpu_us_per_request.workerd;
  h.ratio_by_round = byRound("firebreak");
  if (h.firebreak_fresh_tokens) h.ratio_fresh_tokens = h.firebreak_fresh_tokens.req_per_s / pass.req_per_s;
  if (h.firebreak_tasks) {
    h.ratio_tasks = h.firebreak_tasks.req_per_s / pass.req_per_s;
    h.cpu_ratio_tasks = pass.cpu_us_per_request.workerd / h.firebreak_tasks.cpu_us_per_request.workerd;
    h.ratio_tasks_by_round = byRound("firebreak_tasks");
  }
  if (h.firebreak_hot_task) {
    h.ratio_hot_task = h.firebreak_hot_task.req_per_s / pass.req_per_s;
    h.cpu_ratio_hot_task = pass.cpu_us_per_request.workerd / h.firebreak_hot_task.cpu_us_per_request.workerd;
    h.ratio_hot_task_by_round = byRound("firebreak_hot_task");
  }
  if (h.floor) {
    const floor = h.floor;
    h.ratio_floor = floor.req_per_s / pass.req_per_s;
    h.cpu_ratio_floor = pass.cpu_us_per_request.workerd / floor.cpu_us_per_request.workerd;
    h.ratio_floor_by_round = byRound("floor");
    // Firebreak's task rows over the floor measured in the same rounds.
    const overFloor = (key) => slices[key].map((f, i) => round(rate(f) / rate(slices.floor[i]), 3));
    if (h.firebreak_tasks) {
      h.ratio_tasks_vs_floor = h.firebreak_tasks.req_per_s / floor.req_per_s;
      h.cpu_ratio_tasks_vs_floor = floor.cpu_us_per_request.workerd / h.firebreak_tasks.cpu_us_per_request.workerd;
      h.ratio_tasks_vs_floor_by_round = overFloor("firebreak_tasks");
    }
    if (h.firebreak_hot_task) {
      h.ratio_hot_task_vs_floor = h.firebreak_hot_task.req_per_s / floor.req_per_s;
      h.ratio_hot_task_vs_floor_by_round = overFloor("firebreak_hot_task");
    }
  }
}

/** The headline HTTP figures, at the top of latest.json. */
function summariseHttp(o, h) {
  const cpu = (m) => m?.cpu_us_per_request.workerd;
  o.throughput_ratio_c50 = round(h.c50.ratio, 3);
  o.throughput_ratio_c1 = round(h.c1.ratio, 3);
  o.cpu_ratio_c50 = round(h.c50.cpu_ratio, 3);
  o.firebreak_added_workerd_cpu_us_c50 = round(cpu(h.c50.firebreak) - cpu(h.c50.passthrough), 1);
  if (!h.tasks) return;
  o.throughput_ratio_c50_tasks = round(h.c50.ratio_tasks, 3);
  o.throughput_ratio_c50_hot_task = round(h.c50.ratio_hot_task, 3);
  o.throughput_ratio_c1_tasks = round(h.c1.ratio_tasks, 3);
  o.cpu_ratio_c50_tasks = round(h.c50.cpu_ratio_tasks, 3);
  o.cpu_ratio_c50_hot_task = round(h.c50.cpu_ratio_hot_task, 3);
  // What admission adds to Firebreak's path (task token + task object), over the no-task path.
  o.tasks_added_workerd_cpu_us_c50 = round(cpu(h.c50.firebreak_tasks) - cpu(h.c50.firebreak), 1);
  if (h.c50.floor) {
    o.throughput_ratio_c50_tasks_vs_floor = round(h.c50.ratio_tasks_vs_floor, 3);
    o.throughput_ratio_c50_hot_task_vs_floor = round(h.c50.ratio_hot_task_vs_floor, 3);
    o.throughput_ratio_c1_tasks_vs_floor = round(h.c1.ratio_tasks_vs_floor, 3);
    o.cpu_ratio_c50_tasks_vs_floor = round(h.c50.cpu_ratio_tasks_vs_floor, 3);
    o.throughput_ratio_c50_floor = round(h.c50.ratio_floor, 3);
    // One Durable Object write per call over the pass-through; Firebreak's task path over that.
    o.floor_added_workerd_cpu_us_c50 = round(cpu(h.c50.floor) - cpu(h.c50.passthrough), 1);
    o.tasks_over_floor_workerd_cpu_us_c50 = round(cpu(h.c50.firebreak_tasks) - cpu(h.c50.floor), 1);
  }
  const rt = h.do_round_trips;
  if (rt) {
    // Per task row: Durable Object calls the answer waited for, and all of them (bench/rpc-count.mjs).
    const rows = {
      c50_tasks: rt.c50?.firebreak_tasks,
      c50_hot_task: rt.c50?.firebreak_hot_task,
      c1_task: rt.c1?.firebreak_tasks,
    };
    const present = Object.entries(rows).filter(([, f]) => f);
    o.do_round_trips_per_task_call = Object.fromEntries(present.map(([k, f]) => [k, f.before_answer]));
    o.do_round_trips_per_task_call_total = Object.fromEntries(present.map(([k, f]) => [k, f.total]));
    o.do_round_trips_per_task_call_by_binding = Object.fromEntries(present.map(([k, f]) => [k, f.by_binding]));
  }
  o.workerd_cpu_us_per_request = Object.fromEntries(
    CONCURRENCY.map((c) => [
      `c${c}`,
      Object.fromEntries(
        Object.entries(h[`c${c}`])
          .filter(([, m]) => m?.cpu_us_per_request)
          .map(([k, m]) => [k, cpu(m)]),
      ),
    ]),
  );
}
