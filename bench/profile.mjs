#!/usr/bin/env node
// CPU profile of the Firebreak isolate inside workerd while autocannon loads it (c=50), through the
// V8 inspector Miniflare exposes. Prints the functions and modules with the most self time, and
// writes the .cpuprofile (open it in Chrome DevTools > Performance) to the temp directory.
//   node bench/profile.mjs [--seconds 8] [--tasks]
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
import { measure } from "./load.mjs";
import { startTasks } from "./tasks.mjs";
import { bundleFirebreak, gatewayFixture, signToken, startWorkers } from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const i = process.argv.indexOf("--seconds");
const SECONDS = i > 0 ? Number(process.argv[i + 1]) : 8;
const TASKS = process.argv.includes("--tasks");
// --worker passthrough: the same load on the pass-through, to read Firebreak's frames against its own.
const w2 = process.argv.indexOf("--worker");
const WORKER = w2 > 0 ? process.argv[w2 + 1] : "firebreak";
// --rate N: N req/s offered (compare workers at the same load); default as fast as it goes.
const r2 = process.argv.indexOf("--rate");
const RATE = r2 > 0 ? Number(process.argv[r2 + 1]) : undefined;
const INSPECTOR_PORT = 9329;

const tmp = mkdtempSync(join(tmpdir(), "firebreak-profile-"));
let mf;
try {
  const { bundlePath, keys } = await gatewayFixture(ROOT, tmp);
  const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp);
  const w = await startWorkers({ repoRoot: ROOT, firebreakScript, keys, inspectorPort: INSPECTOR_PORT });
  mf = w.mf;
  const token = await signToken(keys);
  const load = TASKS
    ? { clientHeaders: (await startTasks(new URL("/", w.urls.firebreak), token, 50)).map((t) => t.headers) }
    : { headers: { authorization: `Bearer ${token}` } };
  await measure({ url: w.urls[WORKER], connections: 50, seconds: 3, ...load }); // warm-up

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
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
