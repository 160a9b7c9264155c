#!/usr/bin/env node
// `npm run bench`: one process, one run (docs/benchmarks.md).
//   1. micro: classify + decide on generated bundles of 10, 100, 1,000 and 10,000 rules (this process)
//   2. http:  a bare pass-through worker and Firebreak's full path, both in Miniflare against the same
//             fake upstream worker, loaded by autocannon (programmatic, in this process) at c=1 and c=50
// Prints a table and writes bench/results/latest.json. Targets are reported, never asserted; a
// measurement in which any request was not 2xx fails the run.
//   node bench/run.mjs [--seconds 10] [--warmup 3] [--skip-micro] [--skip-http]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { cpuNow, findWorkerdPid, measure, otherCores, waitForQuiet } from "./load.mjs";
import { runMicro } from "./micro.mjs";
import { ALLOWED_PATH, bundleFirebreak, signToken, startWorkers, writeJson } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const num = (name, d) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : d);
const SECONDS = num("seconds", 10);
const WARMUP_SECONDS = num("warmup", 3);
const CONCURRENCY = [1, 50];
const RULE_COUNTS = [10, 100, 1000, 10000];
/** A measurement during which other processes used more than this many cores is repeated once. */
const BUSY_CORES = 0.25;
const QUIET_BUDGET_S = 60;

const TARGETS = {
  throughput_ratio_c50_min: 0.85,
  decide_us_p50_at_1000_max: 5,
  decide_10000_over_10_max: 2,
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
    http_seconds: SECONDS,
    warmup_seconds: WARMUP_SECONDS,
    concurrency: CONCURRENCY,
    rule_counts: RULE_COUNTS,
    request: `GET ${ALLOWED_PATH} (ES256 token, sub agent-1, inline JWKS)`,
    load_generator: "autocannon (programmatic) in the same Node process as Miniflare; workerd is a child process",
  },
  targets: TARGETS,
};

// ------------------------------------------------------------------------------------------ micro
let micro = null;
if (!argv.includes("--skip-micro")) {
  log("\nclassify + decide (Node, median of 2,000 samples of 100 calls each, sizes interleaved)");
  micro = await runMicro(ROOT, RULE_COUNTS, log);
  out.decide_us_p50 = Object.fromEntries(RULE_COUNTS.map((n) => [String(n), micro[String(n)].classify_decide_us.p50]));
  out.micro = micro;
}

// ------------------------------------------------------------------------------------------- http
let http = null;
if (!argv.includes("--skip-http")) {
  const tmp = mkdtempSync(join(tmpdir(), "firebreak-bench-http-"));
  let mf;
  try {
    const { compilePolicies } = await import(join(ROOT, "src/compiler/compile.ts"));
    const compiled = compilePolicies(join(ROOT, "test/fixtures/policies/gateway"));
    if (!compiled.ok)
      throw new Error(`test/fixtures/policies/gateway does not compile:\n${compiled.problems.format()}`);
    const bundlePath = join(tmp, "bundle.json");
    writeFileSync(bundlePath, JSON.stringify(compiled.bundle));
    const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp);
    const keys = JSON.parse(readFileSync(join(ROOT, "test/fixtures/keys.json"), "utf8"));
    const w = await startWorkers({ firebreakScript, keys });
    mf = w.mf;
    const workerdPid = findWorkerdPid();
    const headers = { authorization: `Bearer ${await signToken(keys)}` };
    await checkAnswers(w.urls, headers);

    log(`\nHTTP (autocannon, ${SECONDS} s per measurement after ${WARMUP_SECONDS} s of warm-up)`);
    http = {};
    let quietBudget = QUIET_BUDGET_S;
    const logLinesBefore = w.stdio.decisionLines;
    let firebreakRequests = 0;
    for (const c of CONCURRENCY) {
      http[`c${c}`] = {};
      for (const name of ["passthrough", "firebreak"]) {
        let m;
        for (let attempt = 1; ; attempt++) {
          quietBudget -= await waitForQuiet(workerdPid, BUSY_CORES / 2, Math.max(0, Math.min(20, quietBudget)));
          const wu = await measure({ url: w.urls[name], connections: c, seconds: WARMUP_SECONDS, headers });
          m = await measure({ url: w.urls[name], connections: c, seconds: SECONDS, headers, workerdPid });
          if (name === "firebreak") firebreakRequests += wu.requests_2xx + m.requests_2xx;
          m.attempt = attempt;
          const busy = m.cpu_utilisation.other_processes;
          if (busy === null || busy <= BUSY_CORES || attempt === 2) break;
          log(`  ${name} c=${c}: other processes used ${busy} cores during the measurement; measuring again`);
        }
        http[`c${c}`][name] = m;
        log(
          `  ${name.padEnd(11)} c=${String(c).padEnd(2)} ${m.req_per_s.toFixed(0).padStart(6)} req/s  ` +
            `p50 ${m.latency_ms.p50.toFixed(3)} ms  p99 ${m.latency_ms.p99.toFixed(3)} ms  ` +
            `workerd ${m.cpu_us_per_request.workerd} us CPU/req  (other load ${m.cpu_utilisation.other_processes} cores)`,
        );
      }
      http[`c${c}`].ratio = http[`c${c}`].firebreak.req_per_s / http[`c${c}`].passthrough.req_per_s;
    }
    await new Promise((r) => setTimeout(r, 500)); // let the last log lines cross the pipe
    http.decision_log_lines = w.stdio.decisionLines - logLinesBefore;
    http.firebreak_requests = firebreakRequests;
    out.throughput_ratio_c50 = round(http.c50.ratio, 3);
    out.throughput_ratio_c1 = round(http.c1.ratio, 3);
    out.http = http;
  } finally {
    await mf?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------- summary
out.targets_met = {};
if (http) out.targets_met.throughput_ratio_c50 = out.throughput_ratio_c50 >= TARGETS.throughput_ratio_c50_min;
if (micro) {
  out.decide_10000_over_10 = round(out.decide_us_p50["10000"] / out.decide_us_p50["10"], 2);
  out.targets_met.decide_us_p50_at_1000 = out.decide_us_p50["1000"] <= TARGETS.decide_us_p50_at_1000_max;
  out.targets_met.decide_10000_over_10 = out.decide_10000_over_10 <= TARGETS.decide_10000_over_10_max;
}
out.elapsed_s = Math.round((Date.now() - started) / 1000);
out.table = table(out);
log(`\n${out.table}`);
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
writeJson(join(ROOT, "bench/results/latest.json"), out);
log(`\nwrote bench/results/latest.json (${out.elapsed_s} s)`);

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
}

function table(o) {
  const lines = [];
  if (o.http) {
    lines.push("| concurrency | worker | req/s | p50 ms | p99 ms | workerd CPU us/req | Firebreak / pass-through |");
    lines.push("|---|---|---:|---:|---:|---:|---:|");
    for (const c of CONCURRENCY) {
      const h = o.http[`c${c}`];
      for (const name of ["passthrough", "firebreak"]) {
        const m = h[name];
        lines.push(
          `| ${c} | ${name} | ${m.req_per_s.toFixed(0)} | ${m.latency_ms.p50.toFixed(3)} | ${m.latency_ms.p99.toFixed(3)} | ` +
            `${m.cpu_us_per_request.workerd ?? "n/a"} | ${name === "firebreak" ? h.ratio.toFixed(3) : ""} |`,
        );
      }
    }
    lines.push("");
  }
  if (o.micro) {
    lines.push(
      "| rules | classify+decide p50 us | classify p50 us | decide p50 us | rules scanned (sub + any) | compile ms |",
    );
    lines.push("|---:|---:|---:|---:|---:|---:|");
    for (const n of RULE_COUNTS) {
      const m = o.micro[String(n)];
      lines.push(
        `| ${n} | ${m.classify_decide_us.p50.toFixed(3)} | ${m.classify_us.p50.toFixed(3)} | ${m.decide_us.p50.toFixed(3)} | ` +
          `${m.scanned_for_request.by_sub} + ${m.scanned_for_request.any} | ${m.compile_ms.toFixed(0)} |`,
      );
    }
    lines.push("");
  }
  const t = [];
  if (o.http)
    t.push(
      `ratio at c=50 ${o.throughput_ratio_c50.toFixed(3)} (target >= 0.85: ${yes(o.targets_met.throughput_ratio_c50)})`,
    );
  if (o.micro) {
    t.push(
      `classify+decide p50 at 1,000 rules ${o.decide_us_p50["1000"]} us (target <= 5: ${yes(o.targets_met.decide_us_p50_at_1000)})`,
    );
    t.push(`10,000 / 10 rules ${o.decide_10000_over_10}x (target <= 2: ${yes(o.targets_met.decide_10000_over_10)})`);
  }
  lines.push(`Targets: ${t.join("; ")}`);
  return lines.join("\n");
}

function yes(b) {
  return b ? "met" : "NOT met";
}

function round(x, d) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
