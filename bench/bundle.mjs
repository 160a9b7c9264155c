// The shipped bundle at full catalog size (issue 10): its bytes, gzipped as wrangler uploads it, and
// how long an isolate takes to load it (JSON.parse + loadBundle, as the worker does at startup), in this
// Node process: the same V8 as workerd. Needs tsx registered (bench/run.mjs does it).
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const LOADS = 30;

export async function runBundle(repoRoot, log = console.log) {
  const { compilePolicies } = await import(join(repoRoot, "src/compiler/compile.ts"));
  const { loadBundle } = await import(join(repoRoot, "src/policy/load.ts"));
  const t0 = performance.now();
  const result = compilePolicies(join(repoRoot, "policies"));
  const compile_ms = performance.now() - t0;
  if (!result.ok) throw new Error(`policies/ do not compile:\n${result.problems.format()}`);
  const text = JSON.stringify(result.bundle);
  const times = [];
  for (let i = 0; i < LOADS; i++) {
    const start = performance.now();
    loadBundle(JSON.parse(text));
    times.push(performance.now() - start);
  }
  const cold = times[0];
  times.sort((a, b) => a - b);
  const out = {
    actions: result.bundle.actions.length,
    services: Object.keys(result.bundle.services).length,
    bytes: Buffer.byteLength(text),
    gzip_bytes: gzipSync(text).byteLength,
    compile_ms: Math.round(compile_ms),
    // The first load is the isolate's cold one; the median is what a warm JIT does.
    load_ms: { cold: round(cold), p50: round(times[Math.floor(LOADS / 2)]) },
  };
  log(
    `  ${out.services} services, ${out.actions} actions: ${(out.bytes / 1024).toFixed(0)} KiB, ` +
      `${(out.gzip_bytes / 1024).toFixed(0)} KiB gzipped; load ${out.load_ms.cold} ms cold, ${out.load_ms.p50} ms p50; ` +
      `compile ${out.compile_ms} ms`,
  );
  return out;
}

const round = (ms) => Math.round(ms * 100) / 100;
