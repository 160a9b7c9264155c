// Micro-benchmark of classify + decide (stages 3-4 of the pipeline) on generated bundles of 10, 100,
// 1,000 and 10,000 rules, in this Node process. Needs tsx registered (bench/run.mjs does it).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DECIDED, writePolicySet } from "./policies.mjs";

const BATCH = 100; // iterations per timed sample: hrtime resolution and call overhead vanish in the division
const ROUNDS = 20;
const SAMPLES_PER_ROUND = 100; // per size and per function: 2,000 samples (200,000 calls) each in all
const WARMUP_ITERATIONS = 50_000;

export async function runMicro(repoRoot, sizes = [10, 100, 1000, 10000], log = console.log) {
  const { compilePolicies } = await import(join(repoRoot, "src/compiler/compile.ts"));
  const { loadBundle } = await import(join(repoRoot, "src/policy/load.ts"));
  const { route } = await import(join(repoRoot, "src/request/route.ts"));
  const { classify, resourceOf } = await import(join(repoRoot, "src/request/classify.ts"));
  const { extractArgs } = await import(join(repoRoot, "src/request/facts.ts"));
  const { decide } = await import(join(repoRoot, "src/policy/evaluate.ts"));
  const { candidateRules } = await import(join(repoRoot, "src/policy/rule-index.ts"));

  const tmp = mkdtempSync(join(tmpdir(), "firebreak-bench-"));
  const cases = [];
  try {
    for (const n of sizes) cases.push(prepare(n));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  // Every bundle is warmed up before any is measured, and the sizes are measured in interleaved
  // rounds: the JIT sees all four bundles before the first sample, so no size is measured with code
  // optimised for another's shapes, and slow drifts of the machine are spread over all sizes.
  for (const c of cases) for (const fn of Object.values(c.fns)) warm(fn);
  const samples = new Map(cases.map((c) => [c, { total: [], classify: [], decide: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      const s = samples.get(c);
      s.total.push(...sample(c.fns.total));
      s.classify.push(...sample(c.fns.classify));
      s.decide.push(...sample(c.fns.decide));
    }
  }
  const out = {};
  for (const c of cases) {
    const s = samples.get(c);
    const r = {
      ...c.info,
      classify_decide_us: stats(s.total),
      round_p50s_us: Array.from(
        { length: ROUNDS },
        (_, i) => stats(s.total.slice(i * SAMPLES_PER_ROUND, (i + 1) * SAMPLES_PER_ROUND)).p50,
      ),
      classify_us: stats(s.classify),
      decide_us: stats(s.decide),
    };
    out[String(c.n)] = r;
    log(
      `  ${String(c.n).padStart(6)} rules: classify+decide p50 ${r.classify_decide_us.p50.toFixed(3)} us ` +
        `(classify ${r.classify_us.p50.toFixed(3)}, decide ${r.decide_us.p50.toFixed(3)}); ` +
        `rules scanned ${r.scanned_for_request.by_sub} by sub + ${r.scanned_for_request.any} any; ` +
        `compile ${r.compile_ms.toFixed(0)} ms`,
    );
  }
  return out;

  function prepare(n) {
    const dir = join(tmp, `rules-${n}`, "policies");
    const shape = writePolicySet(repoRoot, dir, n);
    let t0 = performance.now();
    const compiled = compilePolicies(dir);
    const compileMs = performance.now() - t0;
    if (!compiled.ok) throw new Error(`generated ${n}-rule policies do not compile:\n${compiled.problems.format()}`);
    if (compiled.bundle.rules.length !== n) throw new Error(`expected ${n} rules, got ${compiled.bundle.rules.length}`);
    const json = JSON.parse(JSON.stringify(compiled.bundle)); // as the worker sees it: plain JSON
    t0 = performance.now();
    const bundle = loadBundle(json);
    const loadMs = performance.now() - t0;

    const headers = new Headers({ authorization: "Bearer x.y.z" });
    const routed = route({ method: DECIDED.method, url: DECIDED.url, headers }, bundle.spec.services, undefined);
    if (!routed.ok) throw new Error(`route refused the decided request: ${routed.reason}`);
    const req = routed.request;

    // Stages 3-4 exactly as src/gateway/pipeline.ts runs them for a GET (no body to read).
    const total = () => {
      const c = classify(bundle, req);
      if (!c.ok) throw new Error(`classify refused: ${c.reason}`);
      const { action, spec, params } = c.value;
      const facts = extractArgs(req.service, spec, req.query, null, null);
      if (!facts.ok) throw new Error(`facts refused: ${facts.reason}`);
      const resource = resourceOf(spec, params, facts.args);
      return decide(bundle, {
        agent: DECIDED.agent,
        action,
        resource,
        request: { method: req.method, path: req.path, params, query: req.query, args: facts.args },
        task: {},
        now: new Date(),
      });
    };
    const first = total();
    if (first.effect !== "allow") {
      throw new Error(`the decided request should be allowed with ${n} rules: ${JSON.stringify(first)}`);
    }
    const c = classify(bundle, req).value;
    const [mine, others] = candidateRules(bundle.spec, c.action, DECIDED.agent);
    const facts = extractArgs(req.service, c.spec, req.query, null, null);
    const input = {
      agent: DECIDED.agent,
      action: c.action,
      resource: resourceOf(c.spec, c.params, facts.args),
      request: { method: req.method, path: req.path, params: c.params, query: req.query, args: facts.args },
      task: {},
      now: new Date(),
    };
    return {
      n,
      fns: { total, classify: () => classify(bundle, req), decide: () => decide(bundle, input) },
      info: {
        rules: n,
        shape,
        action: c.spec.name,
        scanned_for_request: {
          by_sub: mine.length,
          any: others.length,
          any_for_everyone: others.filter((i) => bundle.spec.rules[i].agents === null).length,
          any_by_issuer_or_claims: others.filter((i) => bundle.spec.rules[i].agents !== null).length,
          with_condition: [...mine, ...others].filter((i) => bundle.conditions[i] !== null).length,
          buckets: bundle.spec.index[c.action].length,
        },
        matched_rules: first.rules,
        compile_ms: round(compileMs, 1),
        load_ms: round(loadMs, 1),
        bundle_bytes: JSON.stringify(compiled.bundle).length,
        bundle_gzip_bytes: gzipSync(JSON.stringify(compiled.bundle)).length,
      },
    };
  }
}

let sink = 0;

function warm(fn) {
  for (let i = 0; i < WARMUP_ITERATIONS; i++) sink += sinkOf(fn());
}

/** SAMPLES_PER_ROUND timings of BATCH calls each, in microseconds per call. */
function sample(fn) {
  const per = new Array(SAMPLES_PER_ROUND);
  for (let s = 0; s < SAMPLES_PER_ROUND; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) sink += sinkOf(fn());
    per[s] = Number(process.hrtime.bigint() - t0) / BATCH / 1000;
  }
  return per;
}

function stats(values) {
  const v = Float64Array.from(values).sort();
  const q = (p) => round(v[Math.min(v.length - 1, Math.floor(p * v.length))], 3);
  return { p50: q(0.5), p10: q(0.1), p90: q(0.9), samples: v.length, batch: BATCH };
}

function sinkOf(r) {
  return r && typeof r === "object" && "rules" in r ? r.rules.length : 1;
}

export function sinkValue() {
  return sink;
}

const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
