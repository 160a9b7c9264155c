#!/usr/bin/env node
// Where Firebreak's per-request cost goes: the same worker bundled several times, each time with one
// cost taken out (or, for the token cache, put back) at bundle time (src/ is not touched), all measured against the same pass-through
// and upstream. The figure to read is workerd CPU per request (the bottleneck of `npm run bench`:
// workerd runs the isolates on one thread), measured at the same offered load for every worker
// (autocannon overallRate, 50 connections) so that batching under saturation does not blur it.
// The machine's speed drifts (other tenants; phases ~1.7x slower lasting seconds), so the workers are
// measured in short slices, rotating, many rounds: every worker sees the same mix of fast and slow
// phases, and the median over rounds is compared.
//   node bench/ablate.mjs [--seconds 1.5] [--rounds 15] [--rate 1000] [--only a,b] [--verbose]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { cliArg, findWorkerdPid, measure, printRotation, rotate } from "./load.mjs";
import { replaceImport, signToken, startVariants } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(cliArg("seconds", 1.5));
const ROUNDS = Number(cliArg("rounds", 15));
const RATE = Number(cliArg("rate", 1000));

const app = (p) => JSON.stringify(join(ROOT, "src", p));

/** src/identity/token-cache.ts never hits: every request verifies its token (jose, ES256 in WebCrypto). */
const noTokenCache = () =>
  replaceImport(
    ROOT,
    "no-token-cache",
    join("identity", "workload.ts"),
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
  const state = bundleState(bundle);
  export default { fetch(request, env) {
    return handleProxy(request, { bundle: state, env, gatewayDomain: env.GATEWAY_DOMAIN || undefined,
      now: () => new Date(), fetcher: (r) => fetch(r), analytics: env.DECISIONS, newId: () => crypto.randomUUID() });
  } };`;

/** `forward` as the pass-through does it: fetch(url, { method, headers }) and the answer as it is. */
const plainForward = () =>
  replaceImport(
    ROOT,
    "plain-forward",
    join("gateway", "send.ts"),
    "./forward",
    `export * from ${app("gateway/forward.ts")};
export async function forward(input) {
  const { req } = input;
  const response = await input.fetcher(new Request(req.service.upstream + req.path + req.rawQuery,
    { method: req.method, headers: input.headers }));
  // Mutable headers, as decisionResponse needs (a fetch answer's are immutable).
  return { ok: true, response: new Response(response.body, response) };
}`,
  );

/** No decision record: no data point, no log line. */
const noRecord = () =>
  replaceImport(ROOT, "no-record", join("gateway", "pipeline.ts"), "./record", "export function record() {}");

/** The upstream's answer returned as it is, without Firebreak's decision headers. */
const noDecisionHeaders = () =>
  replaceImport(
    ROOT,
    "no-decision-headers",
    join("gateway", "send.ts"),
    "./respond",
    `export * from ${app("gateway/respond.ts")};
export function decisionResponse(response) { return response; }
`,
  );

const VARIANTS = [
  {
    name: "fb-plain-forward",
    plugins: [plainForward()],
    what: "forward as the pass-through: no header work, no timer",
  },
  { name: "fb-no-record", plugins: [noRecord()], what: "no decision record (data point and log line)" },
  { name: "fb-no-decision-headers", plugins: [noDecisionHeaders()], what: "the upstream answer as it is" },
  {
    name: "fb-bare",
    plugins: [plainForward(), noRecord(), noDecisionHeaders()],
    what: "all three: what is left is identity, route, classify, decide and the awaits",
  },
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
  const only = cliArg("only", null)?.split(",");
  const variants = VARIANTS.filter((v) => !only || only.includes(v.name));
  const started = await startVariants({ repoRoot: ROOT, outDir: tmp, variants });
  const { keys } = started;
  mf = started.mf;
  const workerdPid = findWorkerdPid();
  const headers = { authorization: `Bearer ${await signToken(keys)}` };
  for (const [name, url] of Object.entries(started.urls)) {
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    await measure({ url, connections: 50, seconds: 2, headers });
  }
  const rows = Object.entries(started.urls).map(([row, url]) => ({ row, url, opts: { headers } }));
  const results = await rotate(rows, { rounds: ROUNDS, seconds: SECONDS, rate: RATE, workerdPid });
  console.log(`c=50 at ${RATE} req/s offered, ${ROUNDS} rounds x ${SECONDS} s; medians over rounds`);
  const cpu = printRotation(results, {
    reference: "firebreak",
    whatOf: (row) => VARIANTS.find((v) => v.name === row)?.what ?? (row === "firebreak" ? "full path" : "baseline"),
    verbose: process.argv.includes("--verbose"),
  });
  const full = cpu.firebreak;
  const pass = cpu.passthrough;
  console.log(`Firebreak adds ${(full - pass).toFixed(0)} us of workerd CPU per request over the pass-through.`);
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
