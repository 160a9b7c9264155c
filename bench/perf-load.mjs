#!/usr/bin/env node
// Load for an outside profiler (Linux `perf record -p <workerd pid>`): Firebreak with a task per
// connection (or --no-task, or --passthrough) at c=50 for --seconds, printing workerd's pid first.
//   node bench/perf-load.mjs [--seconds 20] [--no-task | --passthrough]
// Not part of `npm run bench`; what it showed is summarised in docs/benchmarks.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { register } from "tsx/esm/api";
import { cliArg, findWorkerdPid, measure } from "./load.mjs";
import { startTasks } from "./tasks.mjs";
import { bundleFirebreak, gatewayFixture, memoryDurableObjectsDir, signToken, startWorkers } from "./workers.mjs";

register();
const ROOT = join(import.meta.dirname, "..");
const SECONDS = Number(cliArg("seconds", 20));
const tmp = mkdtempSync(join(tmpdir(), "firebreak-perf-"));
const doDir = memoryDurableObjectsDir();
let mf;
try {
  const { bundlePath, keys } = await gatewayFixture(ROOT, tmp);
  const firebreakScript = await bundleFirebreak(ROOT, bundlePath, tmp);
  const w = await startWorkers({ repoRoot: ROOT, firebreakScript, keys, durableObjectsDir: doDir });
  mf = w.mf;
  const token = await signToken(keys);
  const pass = process.argv.includes("--passthrough");
  const load = pass
    ? {}
    : process.argv.includes("--no-task")
      ? { headers: { authorization: `Bearer ${token}` } }
      : { clientHeaders: (await startTasks(new URL("/", w.urls.firebreak), token, 50)).map((t) => t.headers) };
  const url = pass ? w.urls.passthrough : w.urls.firebreak;
  await measure({ url, connections: 50, seconds: 3, ...load });
  console.log(`workerd pid ${findWorkerdPid()}`);
  const m = await measure({ url, connections: 50, seconds: SECONDS, ...load });
  console.log(`${m.requests_2xx} requests, ${m.req_per_s.toFixed(0)} req/s`);
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
  if (doDir) rmSync(doDir, { recursive: true, force: true });
}
