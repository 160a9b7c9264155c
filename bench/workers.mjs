// The workers of the HTTP benchmark, run by one Miniflare (one workerd process):
//   upstream      the fake SaaS API: answers every request with a small JSON body
//   passthrough   the baseline: forwards the request to https://api.github.com/<path> and returns the answer
//   floor         the pass-through plus one RPC to a SQLite-backed Durable Object (by name, one per
//                 connection as the task rows have one task per connection) that inserts one row in a
//                 transactionSync and commits, awaited before the forward: the least a task call can cost
//   firebreak     the real worker: wrangler.toml's `main` (src/index.ts) bundled by esbuild, with the test
//                 gateway policy bundle in place of build/bundle.json, and wrangler.toml's compatibility
//                 date and flags, Durable Object and Analytics Engine bindings and vars, plus a task
//                 signing key made for the run and GATEWAY_ORIGIN, so tasks can be started and used
//                 (`npm run bench` bundles it wrapped by bench/rpc-count.mjs, which counts its Durable
//                 Object calls per request; bundleFirebreak's `variant.entry`)
// The pass-through, the floor and Firebreak reach the upstream the same way: a plain `fetch` to
// https://api.github.com, routed by Miniflare's `outboundService: "upstream"` to the upstream worker.
// Each of passthrough, floor and firebreak listens on its own socket (`unsafeDirectSockets`), so load reaches
// them without Miniflare's entry/router worker in the way.
import { createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { importJWK, SignJWT } from "jose";
import { Log, LogLevel, Miniflare } from "miniflare";
import { countingEntry } from "./rpc-count.mjs";

export const COMPATIBILITY_DATE = "2026-04-20"; // the pass-through and upstream; Firebreak reads wrangler.toml
export const ALLOWED_PATH = "/github/repos/acme/api/issues/1";
const AUDIENCE = "https://firebreak.test";
const INLINE_ISSUER = "https://inline.test.example";
/** `iss` and `aud` of the task tokens the Firebreak workers sign (`GATEWAY_ORIGIN`). */
export const GATEWAY_ORIGIN = "https://firebreak.bench.example";

const UPSTREAM_BODY = JSON.stringify({
  id: 1,
  number: 1,
  title: "Found a bug",
  state: "open",
  user: { login: "octocat", id: 1 },
  labels: [{ name: "bug" }],
  comments: 0,
});

// Beside the API: GitHub's installation-token endpoints and an OAuth token endpoint, answering as those
// do (they check nothing: the bench measures what a task start with minted credentials costs Firebreak).
export const UPSTREAM = `
const body = ${JSON.stringify(UPSTREAM_BODY)};
const token = () => "tok_" + crypto.randomUUID().replaceAll("-", "");
async function tokens(request, path) {
  if (request.method === "POST" && path.endsWith("/access_tokens")) {
    const asked = await request.json();
    const expires_at = new Date(Date.now() + 3600000).toISOString().replace(/\\.\\d{3}Z$/, "Z");
    const repositories = asked.repositories.map((name) => ({ name }));
    return Response.json({ token: "ghs_" + token(), expires_at, permissions: asked.permissions,
      repository_selection: "selected", repositories }, { status: 201 });
  }
  if (request.method === "DELETE" && path === "/installation/token") return new Response(null, { status: 204 });
  if (request.method === "POST" && path === "/token") {
    const scope = new URLSearchParams(await request.text()).get("scope") ?? "";
    return Response.json({ access_token: token(), token_type: "Bearer", expires_in: 3600, scope });
  }
  if (request.method === "POST" && path === "/revoke") return new Response(null, { status: 200 });
  return null;
}
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    const minted = await tokens(request, path);
    if (minted) return minted;
    return new Response(body, {
      headers: { "content-type": "application/json; charset=utf-8", "x-ratelimit-remaining": "4999", etag: '"abc"' },
    });
  },
};`;

// The bare minimum a proxy does: same upstream URL as Firebreak builds, same method and headers.
export const PASSTHROUGH = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const path = url.pathname.replace(/^\\/github/, "");
    return fetch("https://api.github.com" + path + url.search, { method: request.method, headers: request.headers });
  },
};`;

// The floor: the pass-through plus ONE Durable Object round trip before the forward, shaped like a task
// call: the object is addressed by name (`x-bench-floor`, one per connection; bench/run.mjs sets it),
// reached by native RPC, and writes one row and commits in one transactionSync (the output gate holds
// the RPC's answer until the commit is durable, as it holds admitAll's).
export const FLOOR_HEADER = "x-bench-floor";
const FLOOR = `
import { DurableObject } from "cloudflare:workers";
export class FloorObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
  }
  write(at) {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => sql.exec("INSERT INTO t (at) VALUES (?)", at));
  }
  rows() {
    return this.ctx.storage.sql.exec("SELECT count(*) AS n FROM t").one().n;
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/floor-rows") {
      let n = 0;
      for (const name of url.searchParams.getAll("name")) n += await env.FLOOR.getByName(name).rows();
      return Response.json({ rows: n });
    }
    await env.FLOOR.getByName(request.headers.get(${JSON.stringify(FLOOR_HEADER)}) ?? "floor").write(Date.now());
    const path = url.pathname.replace(/^\\/github/, "");
    return fetch("https://api.github.com" + path + url.search, { method: request.method, headers: request.headers });
  },
};`;

/** Rows the floor's objects `names` hold (the check that every floor call wrote one). */
export async function floorRows(floorUrl, names) {
  const q = names.map((n) => `name=${encodeURIComponent(n)}`).join("&");
  const res = await fetch(new URL(`/__bench/floor-rows?${q}`, floorUrl));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`the floor's row count answered ${res.status}: ${text}`);
  return JSON.parse(text).rows;
}

/** What the Miniflare options need from wrangler.toml (read with wrangler's own config reader). */
export async function readWranglerConfig(repoRoot) {
  const { unstable_readConfig } = await import("wrangler");
  const c = unstable_readConfig({ config: join(repoRoot, "wrangler.toml") });
  const sqlite = new Set((c.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return {
    main: c.main,
    compatibilityDate: c.compatibility_date,
    compatibilityFlags: c.compatibility_flags ?? [],
    durableObjects: Object.fromEntries(
      (c.durable_objects?.bindings ?? []).map((b) => [
        b.name,
        { className: b.class_name, useSQLite: sqlite.has(b.class_name) },
      ]),
    ),
    analyticsEngineDatasets: Object.fromEntries(
      (c.analytics_engine_datasets ?? []).map((d) => [d.binding, { dataset: d.dataset }]),
    ),
    vars: c.vars ?? {},
  };
}

/** Points the entry's `build/bundle.json` import at `bundlePath`; the build fails if there is no such import. */
function bundleJsonPlugin(bundlePath) {
  let applied = false;
  return {
    name: "bench-bundle-json",
    setup(b) {
      b.onResolve({ filter: /build\/bundle\.json$/ }, () => {
        applied = true;
        return { path: bundlePath };
      });
      b.onEnd(() => {
        if (!applied) throw new Error("the worker entry no longer imports build/bundle.json");
      });
    },
  };
}

/**
 * esbuild plugin for bench variants (ablate.mjs, taskcost.mjs): replaces the module `specifier`
 * imported by `importerSuffix` with `contents` (resolved from `repoRoot`). The build fails if the
 * import is not found, so a refactor of src/ cannot silently turn a variant into the real thing.
 */
export function replaceImport(repoRoot, name, importerSuffix, specifier, contents) {
  let applied = false;
  return {
    name,
    setup(b) {
      b.onResolve({ filter: /.*/ }, (a) => {
        if (a.path !== specifier || !a.importer.endsWith(importerSuffix)) return undefined;
        applied = true;
        return { path: name, namespace: "bench-variant" };
      });
      // Filtered by name: several of these plugins may share one build.
      b.onLoad({ filter: new RegExp(`^${name}$`), namespace: "bench-variant" }, () => ({
        resolveDir: repoRoot,
        contents,
        loader: "ts",
      }));
      b.onEnd(() => {
        if (!applied) throw new Error(`${name}: ${importerSuffix} no longer imports ${specifier}`);
      });
    },
  };
}

/**
 * Compiles the gateway test policies (test/fixtures/policies/gateway) with the real compiler into
 * `<outDir>/bundle.json`, and reads the committed test keys: what every bench script measures with.
 */
export async function gatewayFixture(repoRoot, outDir) {
  const { compilePolicies } = await import(join(repoRoot, "src/compiler/compile.ts"));
  const compiled = compilePolicies(join(repoRoot, "test/fixtures/policies/gateway"));
  if (!compiled.ok) throw new Error(`test/fixtures/policies/gateway does not compile:\n${compiled.problems.format()}`);
  const bundlePath = join(outDir, "bundle.json");
  writeFileSync(bundlePath, JSON.stringify(compiled.bundle));
  const keys = JSON.parse(readFileSync(join(repoRoot, "test/fixtures/keys.json"), "utf8"));
  return { bundlePath, keys };
}

/**
 * esbuild: the worker's entry (`main` of wrangler.toml) with the policy bundle at `bundlePath`
 * inlined, as one ES module. `variant` (bench/ablate.mjs only) replaces the default export with
 * `variant.entry` (the entry's other exports, the Durable Object classes, are kept), prepends a
 * banner or adds plugins, to take one cost out.
 */
export async function bundleFirebreak(repoRoot, bundlePath, outDir, variant = {}) {
  mkdirSync(outDir, { recursive: true });
  const { main } = await readWranglerConfig(repoRoot);
  const outfile = join(outDir, `${variant.name ?? "firebreak"}.mjs`);
  const input = variant.entry
    ? {
        stdin: {
          contents:
            `export * from ${JSON.stringify(main)};\nimport bundle from ${JSON.stringify(bundlePath)};\n` +
            variant.entry,
          resolveDir: repoRoot,
          sourcefile: "bench-entry.ts",
          loader: "ts",
        },
      }
    : { entryPoints: [main] };
  await build({
    ...input,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    banner: variant.banner ? { js: variant.banner } : undefined,
    plugins: [bundleJsonPlugin(bundlePath), ...(variant.plugins ?? [])],
    outfile,
    logLevel: "warning",
  });
  return outfile;
}

/**
 * bundleFirebreak's `variant` for `npm run bench`: the real worker with its Durable Object calls counted
 * per request (bench/rpc-count.mjs), for every Durable Object binding wrangler.toml declares. The
 * classes are re-exported unchanged; only the env the real fetch sees differs.
 */
export async function countingVariant(repoRoot) {
  const { main, durableObjects } = await readWranglerConfig(repoRoot);
  const self = join(dirname(fileURLToPath(import.meta.url)), "rpc-count.mjs");
  return {
    name: "firebreak-rpc-count",
    entry: countingEntry(resolve(repoRoot, main), self, Object.keys(durableObjects)),
  };
}

/** A task signing key (FIREBREAK_TASK_KEY) for this run only, as vitest.config.ts makes one per test run. */
export function taskKey() {
  return JSON.stringify({
    ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
    kid: "bench-task-key",
    alg: "EdDSA",
  });
}

/**
 * bench/ablate.mjs and bench/taskcost.mjs: the gateway fixture compiled, Firebreak bundled as is and once
 * per variant (bundleFirebreak's `variant`), all started in one Miniflare (startWorkers' other options).
 */
export async function startVariants({ repoRoot, outDir, variants, ...options }) {
  const { bundlePath, keys } = await gatewayFixture(repoRoot, outDir);
  const firebreakScript = await bundleFirebreak(repoRoot, bundlePath, outDir);
  const built = [];
  for (const v of variants)
    built.push({
      name: v.name,
      script: await bundleFirebreak(repoRoot, bundlePath, outDir, v),
      compatibilityFlags: v.compatibilityFlags,
    });
  return { ...(await startWorkers({ repoRoot, firebreakScript, keys, variants: built, ...options })), keys };
}

export async function signToken(keys, sub = "agent-1") {
  const k = keys.es256;
  const now = Math.floor(Date.now() / 1000);
  const key = await importJWK(k.private, k.alg);
  return new SignJWT({ iss: INLINE_ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: k.alg, kid: k.private.kid, typ: "JWT" })
    .sign(key);
}

/**
 * A new, never-seen token per call (unique `jti`), signed synchronously with node:crypto (~55 us):
 * each request then misses Firebreak's verified-token cache and pays a full ES256 verification.
 */
export function freshTokens(keys, sub = "agent-1") {
  const k = keys.es256;
  const key = createPrivateKey({ key: k.private, format: "jwk" });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const header = b64({ alg: k.alg, kid: k.private.kid, typ: "JWT" });
  let n = 0;
  return () => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${header}.${b64({ iss: INLINE_ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 3600, jti: `b${++n}` })}`;
    return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
  };
}

/**
 * Starts the workers (`floorWorker`: the floor too). Worker stdout (Firebreak's one JSON log line per decision) is drained
 * and counted, not printed: it still crosses the pipe into this process, as in `wrangler dev`.
 */
export async function startWorkers({
  repoRoot,
  firebreakScript,
  keys,
  variants = [],
  inspectorPort,
  freshTokenWorker = false,
  floorWorker = false,
  durableObjectsDir,
}) {
  const stdio = { lines: 0, decisionLines: 0, stderr: "" };
  const config = await readWranglerConfig(repoRoot);
  const FIREBREAK_TASK_KEY = taskKey();
  const mf = new Miniflare({
    log: new Log(LogLevel.WARN),
    // Where the Durable Objects' SQLite files live (see durableObjectsDir below); Miniflare's default
    // is a temporary directory on disk.
    ...(durableObjectsDir ? { durableObjectsPersist: durableObjectsDir } : {}),
    inspectorPort,
    cf: { colo: "BENCH", country: "XX" }, // no fetch of the real Request.cf (no internet here)
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (chunk) => {
        const s = chunk.toString();
        for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) stdio.lines++;
        for (let i = s.indexOf("firebreak.decision"); i !== -1; i = s.indexOf("firebreak.decision", i + 1))
          stdio.decisionLines++;
      });
      stderr.on("data", (chunk) => {
        if (stdio.stderr.length < 20_000) stdio.stderr += chunk.toString();
      });
    },
    workers: [
      ...[
        { name: "firebreak", script: firebreakScript },
        // The same worker again, in its own isolate, for the new-token-per-request load: its token cache
        // churn and garbage stay out of the isolate the ratio is measured on.
        ...(freshTokenWorker ? [{ name: "firebreak-fresh", script: firebreakScript }] : []),
        ...variants,
      ].map((w) => ({
        name: w.name,
        modules: true,
        scriptPath: w.script,
        modulesRoot: dirname(w.script),
        compatibilityDate: config.compatibilityDate,
        compatibilityFlags: w.compatibilityFlags ?? config.compatibilityFlags,
        durableObjects: config.durableObjects,
        analyticsEngineDatasets: config.analyticsEngineDatasets,
        bindings: {
          ...config.vars,
          GITHUB_TOKEN: "bench-github-token",
          // The fixture's minting services (the task-start row): the App key and the OAuth client secret.
          GITHUB_APP_KEY: JSON.stringify(keys.rs256.private),
          OAUTH_CLIENT_SECRET: "bench-oauth-client-secret",
          TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
          GATEWAY_ORIGIN,
          FIREBREAK_TASK_KEY,
        },
        outboundService: "upstream",
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      })),
      {
        name: "passthrough",
        modules: true,
        script: PASSTHROUGH,
        compatibilityDate: COMPATIBILITY_DATE,
        outboundService: "upstream",
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      },
      ...(floorWorker
        ? [
            {
              name: "floor",
              modules: true,
              script: FLOOR,
              compatibilityDate: COMPATIBILITY_DATE,
              durableObjects: { FLOOR: { className: "FloorObject", useSQLite: true } },
              outboundService: "upstream",
              unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
            },
          ]
        : []),
      { name: "upstream", modules: true, script: UPSTREAM, compatibilityDate: COMPATIBILITY_DATE },
    ],
  });
  try {
    await mf.ready;
  } catch (e) {
    throw new Error(`workerd did not start: ${e.message}\n${stdio.stderr}`);
  }
  const urls = {};
  const names = [
    "passthrough",
    "firebreak",
    ...(freshTokenWorker ? ["firebreak-fresh"] : []),
    ...(floorWorker ? ["floor"] : []),
    ...variants.map((v) => v.name),
  ];
  for (const name of names) {
    urls[name] = new URL(ALLOWED_PATH, await mf.unsafeGetDirectURL(name)).href;
  }
  return { mf, urls, stdio };
}

/**
 * A directory for the Durable Objects' SQLite files in memory (tmpfs), or null where there is none.
 * On disk, every write of a task object waits for its commit's fsync (the output gate holds the answer),
 * which on this shared VM took 4-10 ms per admit or settle while other sessions were writing: the task
 * path's figures would then measure the neighbours' I/O, not Firebreak (docs/benchmarks.md). Production
 * commits are replicated, not fsynced on the isolate's machine. The caller removes the directory.
 */
export function memoryDurableObjectsDir() {
  if (!existsSync("/dev/shm")) return null;
  try {
    return mkdtempSync("/dev/shm/firebreak-bench-do-");
  } catch {
    return null;
  }
}

export function writeJson(path, value) {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
