#!/usr/bin/env node
// Where Firebreak's per-request cost goes: the same worker bundled several times, each time with one
// cost taken out at bundle time (src/ is not touched), all measured against the same pass-through
// and upstream, at c=50. The figure to read is workerd CPU per request (the bottleneck: workerd
// runs every isolate on one thread); req/s moves with it.
//   node bench/ablate.mjs [--seconds 6] [--rounds 2]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { findWorkerdPid, measure, waitForQuiet } from "./load.mjs";
import { bundleFirebreak, signToken, startWorkers } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const SECONDS = arg("seconds", 6);
const ROUNDS = arg("rounds", 2);

const app = (p) => JSON.stringify(join(ROOT, "src", p));

/** jose's jwtVerify replaced (for src/gateway/identity.ts only) by a decode: no signature check, no claim checks. */
const noVerify = {
  name: "no-verify",
  setup(b) {
    b.onResolve({ filter: /^jose$/ }, (a) =>
      a.importer.endsWith(join("gateway", "identity.ts")) ? { path: "jose-shim", namespace: "shim" } : undefined,
    );
    b.onLoad({ filter: /^jose-shim$/, namespace: "shim" }, () => ({
      resolveDir: ROOT,
      contents: `import { decodeJwt, decodeProtectedHeader } from "jose";
        export { decodeJwt, decodeProtectedHeader };
        export async function jwtVerify(token) { return { payload: decodeJwt(token), protectedHeader: decodeProtectedHeader(token) }; }`,
    }));
  },
};

const NO_LOG = "console.log = () => {};";
const NO_TIMEOUT_SIGNAL = "AbortSignal.timeout = () => new AbortController().signal;";

// The catch-all handler of src/app.ts without Hono around it (keep in step with src/app.ts).
const DIRECT_ENTRY_TAIL = `import { bundleState } from ${app("policy/load.ts")};
  const getBundle = bundleState(bundle);
  export default { fetch(request, env) {
    return handleProxy(request, { bundle: getBundle(), env, gatewayDomain: env.GATEWAY_DOMAIN || undefined,
      now: () => new Date(), fetcher: (r) => fetch(r), analytics: env.DECISIONS, newId: () => crypto.randomUUID() });
  } };`;

const VARIANTS = [
  { name: "fb-no-log", banner: NO_LOG, what: "no console.log of the decision record" },
  { name: "fb-no-verify", plugins: [noVerify], what: "token decoded, not verified (no ES256 verify)" },
  { name: "fb-no-timeout", banner: NO_TIMEOUT_SIGNAL, what: "no AbortSignal.timeout on the upstream fetch" },
  {
    name: "fb-no-hono",
    what: "handleProxy called directly, without Hono",
    entry: `import { handleProxy } from ${app("gateway/pipeline.ts")};
${DIRECT_ENTRY_TAIL}`,
  },
  {
    name: "fb-none-of-these",
    banner: `${NO_LOG}\n${NO_TIMEOUT_SIGNAL}`,
    plugins: [noVerify],
    what: "all four taken out",
    entry: `import { handleProxy } from ${app("gateway/pipeline.ts")};
${DIRECT_ENTRY_TAIL}`,
  },
];

const { compilePolicies } = await import(join(ROOT, "src/compiler/compile.ts"));
const tmp = mkdtempSync(join(tmpdir(), "firebreak-ablate-"));
let mf;
try {
  const compiled = compilePolicies(join(ROOT, "test/fixtures/policies/gateway"));
  if (!compiled.ok) throw new Error(compiled.problems.format());
  const bundlePath = join(tmp, "bundle.json");
  writeFileSync(bundlePath, JSON.stringify(compiled.bundle));
  const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp);
  const variants = [];
  for (const v of VARIANTS) variants.push({ name: v.name, script: await bundleFirebreak(ROOT, bundlePath, tmp, v) });
  const keys = JSON.parse(readFileSync(join(ROOT, "test/fixtures/keys.json"), "utf8"));
  const started = await startWorkers({ firebreakScript, keys, variants });
  mf = started.mf;
  const workerdPid = findWorkerdPid();
  const headers = { authorization: `Bearer ${await signToken(keys)}` };
  for (const [name, url] of Object.entries(started.urls)) {
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    await measure({ url, connections: 50, seconds: 2, headers });
  }
  const results = Object.fromEntries(Object.keys(started.urls).map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, url] of Object.entries(started.urls)) {
      let m;
      for (let attempt = 1; attempt <= 3; attempt++) {
        await waitForQuiet(workerdPid, 0.15, 30);
        m = await measure({ url, connections: 50, seconds: SECONDS, headers, workerdPid });
        if ((m.cpu_utilisation.other_processes ?? 0) <= 0.25) break;
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
  console.log(`c=50, ${ROUNDS} x ${SECONDS} s each; medians over rounds`);
  console.log("worker              req/s   workerd CPU us/req   saved vs full   other load   what");
  for (const [name, ms] of Object.entries(results)) {
    const cpu = med(ms.map((m) => m.cpu_us_per_request.workerd));
    const rps = med(ms.map((m) => m.req_per_s));
    const what = VARIANTS.find((v) => v.name === name)?.what ?? (name === "firebreak" ? "full path" : "baseline");
    const saved = name === "passthrough" ? "" : `${(full - cpu).toFixed(0)}`;
    const other = Math.max(...ms.map((m) => m.cpu_utilisation.other_processes ?? 0)).toFixed(2);
    console.log(
      `${name.padEnd(18)} ${rps.toFixed(0).padStart(6)}   ${cpu.toFixed(0).padStart(18)}   ${saved.padStart(13)}   ${other.padStart(10)}   ${what}`,
    );
  }
  console.log(`Firebreak adds ${(full - pass).toFixed(0)} us of workerd CPU per request over the pass-through.`);
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
