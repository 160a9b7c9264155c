#!/usr/bin/env node
// Where Firebreak's per-request cost goes: the same worker bundled several times, each time with one
// cost taken out (or, for the token cache, put back) at bundle time (src/ is not touched), all measured against the same pass-through
// and upstream. The figure to read is workerd CPU per request (the bottleneck of `npm run bench`:
// workerd runs the isolates on one thread), measured at the same offered load for every worker
// (autocannon overallRate, 50 connections) so that batching under saturation does not blur it.
// The machine's speed drifts (other tenants; phases ~1.7x slower lasting seconds), so the workers are
// measured in short slices, rotating, many rounds: every worker sees the same mix of fast and slow
// phases, and the median over rounds is compared.
//   node bench/ablate.mjs [--seconds 1.5] [--rounds 15] [--rate 1000] [--verbose]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { findWorkerdPid, measure, waitForQuiet } from "./load.mjs";
import { bundleFirebreak, gatewayFixture, signToken, startWorkers } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const SECONDS = arg("seconds", 1.5);
const ROUNDS = arg("rounds", 15);
const RATE = arg("rate", 1000);

const app = (p) => JSON.stringify(join(ROOT, "src", p));

/**
 * Replaces the module `specifier` imported by `importerSuffix` with `contents`. The run fails if the
 * import is not found, so a refactor of src/ cannot silently turn an ablation into a no-op.
 */
function replaceImport(name, importerSuffix, specifier, contents) {
  let applied = false;
  return {
    name,
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => {
        if (a.path !== specifier || !a.importer.endsWith(importerSuffix)) return undefined;
        applied = true;
        return { path: name, namespace: "ablate" };
      });
      b.onLoad({ filter: /.*/, namespace: "ablate" }, () => ({ resolveDir: ROOT, contents }));
      b.onEnd(() => {
        if (!applied) throw new Error(`${name}: ${importerSuffix} no longer imports ${specifier}`);
      });
    },
  };
}

/** src/gateway/token-cache.ts never hits: every request verifies its token (jose, ES256 in WebCrypto). */
const noTokenCache = () =>
  replaceImport(
    "no-token-cache",
    join("gateway", "identity.ts"),
    "./token-cache",
    `export function cachedAgent() { return null; }
     export function rememberAgent() {}
     export const keySourceOf = () => null;`,
  );

const NO_LOG = "console.log = () => {};";
// forward() arms a timer per request for the upstream timeout; nothing else in the path uses timers.
const NO_TIMEOUT_SIGNAL = "globalThis.setTimeout = () => 0; globalThis.clearTimeout = () => {};";

// The catch-all handler of src/app.ts without Hono around it (keep in step with src/app.ts).
const DIRECT_ENTRY_TAIL = `import { bundleState } from ${app("policy/load.ts")};
  const getBundle = bundleState(bundle);
  export default { fetch(request, env) {
    return handleProxy(request, { bundle: getBundle(), env, gatewayDomain: env.GATEWAY_DOMAIN || undefined,
      now: () => new Date(), fetcher: (r) => fetch(r), analytics: env.DECISIONS, newId: () => crypto.randomUUID() });
  } };`;

const VARIANTS = [
  { name: "fb-no-log", banner: NO_LOG, what: "no console.log of the decision record" },
  { name: "fb-no-token-cache", plugins: [noTokenCache()], what: "token cache off: every request verifies ES256" },
  { name: "fb-no-timeout", banner: NO_TIMEOUT_SIGNAL, what: "no upstream timeout timer (setTimeout/clearTimeout)" },
  {
    name: "fb-no-hono",
    what: "handleProxy called directly, without Hono",
    entry: `import { handleProxy } from ${app("gateway/pipeline.ts")};
${DIRECT_ENTRY_TAIL}`,
  },
  {
    name: "fb-lean",
    banner: `${NO_LOG}\n${NO_TIMEOUT_SIGNAL}`,
    what: "no log, no timeout timer, no Hono",
    entry: `import { handleProxy } from ${app("gateway/pipeline.ts")};
${DIRECT_ENTRY_TAIL}`,
  },
];

const tmp = mkdtempSync(join(tmpdir(), "firebreak-ablate-"));
let mf;
try {
  const { bundlePath, keys } = await gatewayFixture(ROOT, tmp);
  const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp);
  const variants = [];
  for (const v of VARIANTS) variants.push({ name: v.name, script: await bundleFirebreak(ROOT, bundlePath, tmp, v) });
  const started = await startWorkers({ repoRoot: ROOT, firebreakScript, keys, variants });
  mf = started.mf;
  const workerdPid = findWorkerdPid();
  const headers = { authorization: `Bearer ${await signToken(keys)}` };
  for (const [name, url] of Object.entries(started.urls)) {
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    await measure({ url, connections: 50, seconds: 2, headers });
  }
  const results = Object.fromEntries(Object.keys(started.urls).map((n) => [n, []]));
  let quietBudget = 90; // seconds of waiting for a quiet machine, in all
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, url] of Object.entries(started.urls)) {
      let m;
      for (let attempt = 1; attempt <= 3; attempt++) {
        m = await measure({ url, connections: 50, seconds: SECONDS, headers, workerdPid, overallRate: RATE });
        if ((m.cpu_utilisation.other_processes ?? 0) <= 0.25 || quietBudget <= 0) break;
        quietBudget -= await waitForQuiet(workerdPid, 0.15, Math.min(10, quietBudget));
      }
      results[name].push(m);
    }
  }
  const med = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const full = med(results.firebreak.map((m) => m.cpu_us_per_request.workerd));
  const pass = med(results.passthrough.map((m) => m.cpu_us_per_request.workerd));
  console.log(`c=50 at ${RATE} req/s offered, ${ROUNDS} rounds x ${SECONDS} s; medians over rounds`);
  console.log("worker              req/s   workerd CPU us/req   vs full   other load   what");
  for (const [name, ms] of Object.entries(results)) {
    const cpu = med(ms.map((m) => m.cpu_us_per_request.workerd));
    const rps = med(ms.map((m) => m.req_per_s));
    const what = VARIANTS.find((v) => v.name === name)?.what ?? (name === "firebreak" ? "full path" : "baseline");
    const delta = name === "passthrough" ? "" : `${cpu - full >= 0 ? "+" : ""}${(cpu - full).toFixed(0)}`;
    const other = Math.max(...ms.map((m) => m.cpu_utilisation.other_processes ?? 0)).toFixed(2);
    console.log(
      `${name.padEnd(18)} ${rps.toFixed(0).padStart(6)}   ${cpu.toFixed(0).padStart(18)}   ${delta.padStart(7)}   ${other.padStart(10)}   ${what}`,
    );
  }
  if (process.argv.includes("--verbose")) {
    for (const [name, ms] of Object.entries(results)) {
      console.log(`  ${name.padEnd(18)} ${ms.map((m) => m.cpu_us_per_request.workerd.toFixed(0)).join(" ")}`);
    }
  }
  console.log(`Firebreak adds ${(full - pass).toFixed(0)} us of workerd CPU per request over the pass-through.`);
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
