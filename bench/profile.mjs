#!/usr/bin/env node
// CPU profile of the Firebreak isolate inside workerd while autocannon loads it (c=50), through the
// V8 inspector Miniflare exposes. Prints the functions and modules with the most self time, and
// writes the .cpuprofile (open it in Chrome DevTools > Performance) to the temp directory.
//   node bench/profile.mjs [--seconds 8] [--tasks] [--worker passthrough] [--rate N] [--outside]
// --worker passthrough: the same load on the pass-through. --rate N: N req/s offered (default: as fast
// as it goes). --outside: no inspector; prints workerd's pid and loads it for an outside profiler
// (Linux `perf record -g -p <pid>`), which sees workerd's C++ too (SQLite, RPC, GC, system calls).
// --tasks: the calls carry task tokens (a task per connection, started through the API), so the
// profile includes admission: task-token verification, the admit and settle RPCs and the task
// objects (they run in the same isolate).
// Sampling shows JavaScript time only: work inside workerd's C++ (BoringSSL for the signature,
// the HTTP stack, stdout for logs) shows up under the JS function that called it, or as "(program)".
// Not part of `npm run bench`.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import WebSocket from "ws";
import { cliArg, findWorkerdPid, measure } from "./load.mjs";
import { startTasks } from "./tasks.mjs";
import { bundleFirebreak, gatewayFixture, memoryDurableObjectsDir, signToken, startWorkers } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(cliArg("seconds", 8));
const TASKS = process.argv.includes("--tasks");
const WORKER = cliArg("worker", "firebreak");
const RATE = Number(cliArg("rate", 0)) || undefined;
const OUTSIDE = process.argv.includes("--outside");
const INSPECTOR_PORT = 9329;

const tmp = mkdtempSync(join(tmpdir(), "firebreak-profile-"));
const doDir = memoryDurableObjectsDir(); // the objects' SQLite on tmpfs, as in npm run bench
let mf;
try {
  const { bundlePath, keys } = await gatewayFixture(ROOT, tmp);
  const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp);
  const inspectorPort = OUTSIDE ? undefined : INSPECTOR_PORT;
  const w = await startWorkers({ repoRoot: ROOT, firebreakScript, keys, inspectorPort, durableObjectsDir: doDir });
  mf = w.mf;
  const token = await signToken(keys);
  const load = TASKS
    ? { clientHeaders: (await startTasks(new URL("/", w.urls.firebreak), token, 50)).map((t) => t.headers) }
    : { headers: { authorization: `Bearer ${token}` } };
  await measure({ url: w.urls[WORKER], connections: 50, seconds: 3, ...load }); // warm-up

  if (OUTSIDE) {
    console.log(`workerd pid ${findWorkerdPid()}: profile it now (perf record -g -p <pid> -- sleep 10)`);
    const m = await measure({ url: w.urls[WORKER], connections: 50, seconds: SECONDS, overallRate: RATE, ...load });
    console.log(`${m.requests_2xx} requests, ${m.req_per_s.toFixed(0)} req/s`);
  } else await sampled(w, load);
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
  if (doDir) rmSync(doDir, { recursive: true, force: true });
}

/** The V8 sampling profile of the worker's isolate over one load, summarised. */
async function sampled(w, load) {
  const ws = new WebSocket(`ws://127.0.0.1:${INSPECTOR_PORT}/core:user:${WORKER}`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 250 });
  await send("Profiler.start");
  const m = await measure({ url: w.urls[WORKER], connections: 50, seconds: SECONDS, overallRate: RATE, ...load });
  const { result } = await send("Profiler.stop");
  ws.close();
  const profile = result.profile;
  const profilePath = join(tmpdir(), `firebreak-${Date.now()}.cpuprofile`);
  writeFileSync(profilePath, JSON.stringify(profile));

  // Self time per function and per module (the bundle is one file, so modules come from the esbuild
  // path comments: attribute by function name and line).
  const dt = new Map();
  for (let k = 0; k < profile.samples.length; k++) {
    dt.set(profile.samples[k], (dt.get(profile.samples[k]) ?? 0) + (profile.timeDeltas[k] ?? 0));
  }
  const total = [...dt.values()].reduce((a, b) => a + b, 0);
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frame = (nodeId) => {
    const f = byNode.get(nodeId)?.callFrame;
    if (!f) return "(root)";
    return `${f.functionName || "(anonymous)"}${f.url ? ` ${f.url.split("/").pop()}:${f.lineNumber + 1}` : ""}`;
  };
  // Self time per function; native and runtime-internal frames (no script URL) are shown with their caller.
  const self = new Map();
  for (const [nodeId, us] of dt) {
    const f = byNode.get(nodeId).callFrame;
    const key = f.url ? frame(nodeId) : `${frame(nodeId)} <- ${frame(parent.get(nodeId))}`;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  // Inclusive time of top-level stages, by function name.
  const inclusive = new Map();
  for (const [nodeId, us] of dt) {
    const seen = new Set();
    for (let cur = nodeId; cur !== undefined; cur = parent.get(cur)) {
      const name = byNode.get(cur).callFrame.functionName;
      if (!name || seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const perReq = (us) => (us / m.requests_2xx).toFixed(1);
  console.log(
    `${m.requests_2xx} requests in ${SECONDS} s (${m.req_per_s.toFixed(0)} req/s); profile ${(total / 1e6).toFixed(2)} s`,
  );
  console.log("\nself time, top 30 (us per request, % of profile)");
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`  ${perReq(us).padStart(7)}  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
  console.log("\ninclusive time of named stages (us per request)");
  const stages = [
    "handleProxy",
    "route",
    "verifyCaller",
    "verifyAgent",
    "verifyTaskToken",
    "jwtVerify",
    "classify",
    "extractArgs",
    "decide",
    "admit",
    "settle",
    "transactionSync",
    "check",
    "reserve",
    "append",
    "chainHash",
    "canonicalJson",
    "forward",
    "upstreamHeaders",
    "responseHeaders",
    "record",
    "logLine",
    "decisionResponse",
    "refusalResponse",
    "dispatch",
  ];
  for (const s of stages) if (inclusive.has(s)) console.log(`  ${perReq(inclusive.get(s)).padStart(7)}  ${s}`);
}
