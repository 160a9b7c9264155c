#!/usr/bin/env node
// What single operations of Firebreak's request path cost inside workerd (not Node): one worker runs
// an operation K times per request (`/op/<name>`), and the operation's cost is
// (workerd CPU per request - the same for `/op/none`) / K, at a fixed offered load. Inside workerd
// the clock does not advance during execution, so the cost is read from workerd's CPU time instead.
// The task path's operations (RPCs, SQLite writes and commits, the step log hash, EdDSA) are in
// bench/opcost-tasks.mjs; the objects' SQLite files are on tmpfs as in `npm run bench` (--disk: on disk).
//   node bench/opcost.mjs [--rounds 8] [--seconds 1.5] [--only name,name] [--disk]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Log, LogLevel, Miniflare } from "miniflare";
import { register } from "tsx/esm/api";
import { cliArg, findWorkerdPid, measure, median } from "./load.mjs";
import { TASK_OPS, taskOpsCode } from "./opcost-tasks.mjs";
import {
  GATEWAY_ORIGIN,
  gatewayFixture,
  memoryDurableObjectsDir,
  readWranglerConfig,
  signToken,
  taskKey,
} from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const ROUNDS = Number(cliArg("rounds", 8));
const SECONDS = Number(cliArg("seconds", 1.5));
const RATE = 200; // requests per second offered; K is chosen so that no operation saturates workerd

/** name -> [K, what]. The worker below implements each. */
const OPS = {
  none: [100, "empty loop (baseline)"],
  route: [100, "route(): URL -> canonical request (src/request/route.ts)"],
  classify_decide: [100, "classify() + resourceOf() + decide(), gateway fixture bundle"],
  verify_cached: [100, "verifyAgent() with a token already in the cache"],
  verify_es256: [10, "jose jwtVerify ES256 with the inline JWKS (a cache miss)"],
  upstream_headers: [100, "upstreamHeaders(): filter the request headers, inject the credential"],
  response_headers: [100, "responseHeaders(): allowlist 7 upstream headers with Headers.append"],
  response_headers_pairs: [100, "same allowlist, built as [name, value] pairs, one new Headers(pairs)"],
  timer: [100, "setTimeout + clearTimeout (upstream timeout)"],
  abort_controller: [100, "new AbortController()"],
  new_request: [100, "new Request(url, { method, headers, redirect, signal })"],
  new_response: [100, "new Response(string, { status, headers })"],
  response_headers_set: [100, "3 x response.headers.set (decisionResponse)"],
  headers_now: [
    100,
    "forward's headers as in src: upstreamHeaders + new Request + responseHeaders + new Response + 2 set",
  ],
  headers_plain: [100, "same headers through plain objects: one iteration, allowlist by get(), no set after"],
  hono: [100, "Hono dispatch of the catch-all route (src/app.ts's routes), handler returns a constant"],
  direct: [100, "the same constant Response without Hono (subtract from hono)"],
  log_line: [100, "logLine(): JSON.stringify of the decision record"],
  console_log: [100, "console.log of one decision record line"],
  random_uuid: [100, "crypto.randomUUID()"],
  iso_date: [100, "new Date().toISOString()"],
  ...TASK_OPS,
};

const src = (p) => JSON.stringify(join(ROOT, "src", p));
const ENTRY = (bundlePath) => `
import bundleJson from ${JSON.stringify(bundlePath)};
import { loadBundle } from ${src("policy/load.ts")};
import { route } from ${src("request/route.ts")};
import { classify, resourceOf } from ${src("request/classify.ts")};
import { decide } from ${src("policy/evaluate.ts")};
import { verifyAgent } from ${src("identity/workload.ts")};
import { responseHeaders } from ${src("gateway/forward.ts")};
import { upstreamHeaders } from ${src("request/headers.ts")};
import { logLine } from ${src("gateway/record.ts")};
import { api } from ${src("api/routes.ts")};
import { bundleState } from ${src("policy/load.ts")};
import { Hono } from "hono";
import { createLocalJWKSet, jwtVerify } from "jose";

const bundle = loadBundle(bundleJson);
const app = new Hono();
app.route("/_firebreak/v1", api(bundleState(bundleJson)));
app.all("/_firebreak/*", (c) => c.json({ error: "not_found" }, 404));
app.all("*", () => new Response("x"));
const proxied = new Request("http://127.0.0.1/github/repos/acme/api/issues/1");
const ALLOW = new Set(["content-type", "content-language", "etag", "cache-control", "vary", "link", "location",
  "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-github-request-id"]);
const UPSTREAM = new Headers({ "content-type": "application/json; charset=utf-8", "content-length": "129", etag: '"abc"',
  "x-ratelimit-remaining": "4999", "x-ratelimit-limit": "5000", "x-github-request-id": "1:2:3", "set-cookie": "a=b",
  "x-oauth-scopes": "repo", vary: "Accept", "cache-control": "private" });
const REC = { decision_id: "8f0c2a4e-7f3b-4c1d-9a2e-5b6c7d8e9f01", ts: "2026-04-27T10:15:00.000Z", bundle_revision: "0".repeat(64),
  effect: "allow", reason: "policy.allowed", would: null, rules: ["agent-reads"], status: 200, upstream_status: 200,
  agent_issuer: "inline", agent_sub: "agent-1", task_id: null, service: "github", action: "github:issues.get",
  resource: "repo:acme/api", method: "GET", path: "/repos/acme/api/issues/1", latency_ms: 1, detail: null };
// src/gateway/forward.ts's lists (not exported), for the plain-object variant.
const HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
  "transfer-encoding", "upgrade"];
const DROP = ["authorization", "cookie", "host", "content-length", "forwarded", "x-real-ip", "cf-connecting-ip"];
const DROP_PREFIX = ["firebreak-", "x-forwarded-", "cf-"];
const RESPONSE_ALLOW = ["content-type", "content-language", "content-disposition", "etag", "last-modified",
  "cache-control", "expires", "vary", "link", "location", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
  "x-ratelimit-reset", "x-ratelimit-used", "x-ratelimit-resource", "x-github-request-id", "x-github-media-type",
  "x-slack-req-id", "request-id", "stripe-version", "idempotency-key"];
const AGENT = { issuer: "inline", iss: "https://inline.test.example", sub: "agent-1", claims: {} };
let sink = 0;
let jwks;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const op = url.pathname.slice(4);
    const k = Number(url.searchParams.get("k"));
    const token = request.headers.get("authorization").slice(7);
    const input = { method: "GET", url: "http://127.0.0.1/github/repos/acme/api/issues/1", headers: request.headers };
    const req = route(input, bundle.spec.services, undefined).request;
    const now = new Date();
    switch (op) {
      case "none": for (let i = 0; i < k; i++) sink += i; break;
      case "route": for (let i = 0; i < k; i++) sink += route(input, bundle.spec.services, undefined).ok ? 1 : 0; break;
      case "classify_decide":
        for (let i = 0; i < k; i++) {
          const c = classify(bundle, req).value;
          const resource = resourceOf(c.spec, c.params, {});
          const d = decide(bundle, { agent: AGENT, action: c.action, resource, task: {}, now,
            request: { method: req.method, path: req.path, params: c.params, query: req.query, args: {} } });
          sink += d.rules.length;
        }
        break;
      case "verify_cached":
        for (let i = 0; i < k; i++) sink += (await verifyAgent(token, bundle.spec.issuers, env, now)).ok ? 1 : 0;
        break;
      case "verify_es256": {
        jwks ??= createLocalJWKSet(JSON.parse(env.TEST_ISSUER_JWKS));
        const opts = { issuer: "https://inline.test.example", audience: ["https://firebreak.test"], algorithms: ["ES256"],
          clockTolerance: 30, requiredClaims: ["exp", "sub"], currentDate: now };
        for (let i = 0; i < k; i++) sink += (await jwtVerify(token, jwks, opts)).payload.exp;
        break;
      }
      case "upstream_headers":
        for (let i = 0; i < k; i++) sink += upstreamHeaders(request.headers, req.service, bundle.spec.settings, "secret") ? 1 : 0;
        break;
      case "response_headers": for (let i = 0; i < k; i++) sink += responseHeaders(UPSTREAM) ? 1 : 0; break;
      case "response_headers_pairs":
        for (let i = 0; i < k; i++) {
          const pairs = [];
          for (const [name, value] of UPSTREAM) if (ALLOW.has(name)) pairs.push([name, value]);
          sink += new Headers(pairs) ? 1 : 0;
        }
        break;
      case "timer": for (let i = 0; i < k; i++) clearTimeout(setTimeout(() => {}, 1000)); break;
      case "abort_controller": for (let i = 0; i < k; i++) sink += new AbortController().signal.aborted ? 1 : 0; break;
      case "new_request": {
        const signal = new AbortController().signal;
        for (let i = 0; i < k; i++) {
          const r = new Request("https://api.github.com/repos/acme/api/issues/1", { method: "GET",
            headers: upstreamHeadersOnce ??= upstreamHeaders(request.headers, req.service, bundle.spec.settings, "secret"), redirect: "manual", signal });
          sink += r.url.length;
        }
        break;
      }
      case "new_response":
        for (let i = 0; i < k; i++) sink += new Response("{}", { status: 200, headers: UPSTREAM }).status;
        break;
      case "response_headers_set":
        for (let i = 0; i < k; i++) {
          const r = new Response(null);
          r.headers.set("firebreak-decision", "allow");
          r.headers.set("firebreak-decision-id", REC.decision_id);
          r.headers.set("firebreak-would", "deny; reason=policy.denied");
        }
        break;
      case "headers_now": {
        const signal = new AbortController().signal;
        for (let i = 0; i < k; i++) {
          const r = new Request("https://api.github.com/repos/acme/api/issues/1", { method: "GET",
            headers: upstreamHeaders(request.headers, req.service, bundle.spec.settings, "secret"), redirect: "manual", signal });
          const res = new Response("{}", { status: 200, headers: responseHeaders(UPSTREAM) });
          res.headers.set("firebreak-decision", "allow");
          res.headers.set("firebreak-decision-id", REC.decision_id);
          sink += r.url.length + res.status;
        }
        break;
      }
      case "headers_plain": {
        const signal = new AbortController().signal;
        const svc = req.service;
        for (let i = 0; i < k; i++) {
          const up = {};
          const nominated = (request.headers.get("connection") ?? "").split(",").map((h) => h.trim().toLowerCase());
          for (const [name, value] of request.headers) {
            if (HOP.includes(name) || nominated.includes(name) || DROP.includes(name) ||
              DROP_PREFIX.some((p) => name.startsWith(p)) || svc.strip_headers.includes(name)) continue;
            up[name] = value;
          }
          up[svc.credential.header.toLowerCase()] = svc.credential.format.replace("{secret}", "secret");
          const r = new Request("https://api.github.com/repos/acme/api/issues/1", { method: "GET", headers: up,
            redirect: "manual", signal });
          const down = { "firebreak-decision": "allow", "firebreak-decision-id": REC.decision_id };
          for (const name of RESPONSE_ALLOW) {
            const v = UPSTREAM.get(name);
            if (v !== null) down[name] = v;
          }
          const res = new Response("{}", { status: 200, headers: down });
          sink += r.url.length + res.status;
        }
        break;
      }
      case "hono":
        for (let i = 0; i < k; i++) sink += (await app.fetch(proxied, env)).status;
        break;
      case "direct":
        for (let i = 0; i < k; i++) sink += (await Promise.resolve(new Response("x"))).status;
        break;
      case "log_line": for (let i = 0; i < k; i++) sink += logLine(REC).length; break;
      case "console_log": { const line = logLine(REC); for (let i = 0; i < k; i++) console.log(line); break; }
      case "random_uuid": for (let i = 0; i < k; i++) sink += crypto.randomUUID().length; break;
      case "iso_date": for (let i = 0; i < k; i++) sink += new Date().toISOString().length; break;
      default: {
        const r = await taskOp(op, k, env, bundle);
        if (r === null) return new Response("unknown op " + op, { status: 404 });
        sink += r;
      }
    }
    return new Response(String(sink & 1));
  },
};
let upstreamHeadersOnce;
${taskOpsCode((p) => src(p))}
`;

const only = cliArg("only", null)?.split(",");
const ops = Object.entries(OPS).filter(([n]) => n === "none" || !only || only.includes(n));
const tmp = mkdtempSync(join(tmpdir(), "firebreak-opcost-"));
const doDir = process.argv.includes("--disk") ? null : memoryDurableObjectsDir();
let mf;
let stderrText = "";
try {
  const { bundlePath, keys } = await gatewayFixture(ROOT, tmp);
  const outfile = join(tmp, "opcost.mjs");
  await build({
    stdin: { contents: ENTRY(bundlePath), resolveDir: ROOT, sourcefile: "opcost-entry.ts", loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    outfile,
    logLevel: "warning",
  });
  const config = await readWranglerConfig(ROOT);
  mf = new Miniflare({
    log: new Log(LogLevel.WARN),
    cf: { colo: "BENCH", country: "XX" },
    ...(doDir ? { durableObjectsPersist: doDir } : {}),
    handleRuntimeStdio(stdout, stderr) {
      stdout.resume();
      stderr.on("data", (d) => {
        if (stderrText.length < 20_000) stderrText += d;
        process.stderr.write(d);
      });
    },
    workers: [
      {
        name: "opcost",
        modules: true,
        scriptPath: outfile,
        modulesRoot: tmp,
        compatibilityDate: config.compatibilityDate,
        compatibilityFlags: config.compatibilityFlags,
        durableObjects: {
          OPS: { className: "OpcostObject", useSQLite: true },
          TASKS: { className: "TaskObject", useSQLite: true },
        },
        bindings: {
          TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
          GATEWAY_ORIGIN,
          FIREBREAK_TASK_KEY: taskKey(),
        },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      },
    ],
  });
  try {
    await mf.ready;
  } catch (e) {
    throw new Error(`workerd did not start: ${e.message}\n${stderrText}`);
  }
  const base = await mf.unsafeGetDirectURL("opcost");
  const workerdPid = findWorkerdPid();
  const headers = {
    authorization: `Bearer ${await signToken(keys)}`,
    accept: "application/json",
    "user-agent": "bench",
  };
  for (const [name, [k]] of ops) {
    const url = new URL(`/op/${name}?k=${k}`, base).href;
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`op ${name}: ${res.status} ${await res.text()}`);
    await measure({ url, connections: 10, seconds: 1, headers, overallRate: RATE });
  }
  const cpu = Object.fromEntries(ops.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, [k]] of ops) {
      const url = new URL(`/op/${name}?k=${k}`, base).href;
      const m = await measure({ url, connections: 10, seconds: SECONDS, headers, workerdPid, overallRate: RATE });
      cpu[name].push(m.cpu_us_per_request.workerd);
    }
  }
  const none = median(cpu.none);
  console.log(
    `workerd CPU per operation (${ROUNDS} rounds x ${SECONDS} s at ${RATE} req/s; baseline ${none.toFixed(0)} us/req)`,
  );
  console.log("operation                    us/op   (range over rounds)   what");
  for (const [name, [k, what]] of ops) {
    if (name === "none") continue;
    const per = cpu[name].map((c, i) => (c - cpu.none[i]) / k);
    const sorted = [...per].sort((a, b) => a - b);
    console.log(
      `${name.padEnd(26)} ${((median(cpu[name]) - none) / k).toFixed(2).padStart(7)}   ` +
        `(${sorted[0].toFixed(2)} .. ${sorted[sorted.length - 1].toFixed(2)})`.padEnd(22) +
        `${what}`,
    );
  }
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
  if (doDir) rmSync(doDir, { recursive: true, force: true });
}
