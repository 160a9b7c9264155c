// The three workers of the HTTP benchmark, run by one Miniflare (one workerd process):
//   upstream      the fake SaaS API: answers every request with a small JSON body
//   passthrough   the baseline: forwards the request to https://api.github.com/<path> and returns the answer
//   firebreak     the real worker (src/app.ts) bundled by esbuild with the test gateway policy bundle
// Both the pass-through and Firebreak reach the upstream the same way: a plain `fetch` to
// https://api.github.com, routed by Miniflare's `outboundService: "upstream"` to the upstream worker.
// Each of passthrough and firebreak listens on its own socket (`unsafeDirectSockets`), so load reaches
// them without Miniflare's entry/router worker in the way.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { importJWK, SignJWT } from "jose";
import { Log, LogLevel, Miniflare } from "miniflare";

export const COMPATIBILITY_DATE = "2026-04-20"; // wrangler.toml
export const ALLOWED_PATH = "/github/repos/acme/api/issues/1";
const AUDIENCE = "https://firebreak.test";
const INLINE_ISSUER = "https://inline.test.example";

const UPSTREAM_BODY = JSON.stringify({
  id: 1,
  number: 1,
  title: "Found a bug",
  state: "open",
  user: { login: "octocat", id: 1 },
  labels: [{ name: "bug" }],
  comments: 0,
});

const UPSTREAM = `
const body = ${JSON.stringify(UPSTREAM_BODY)};
export default {
  async fetch(request) {
    return new Response(body, {
      headers: { "content-type": "application/json; charset=utf-8", "x-ratelimit-remaining": "4999", etag: '"abc"' },
    });
  },
};`;

// The bare minimum a proxy does: same upstream URL as Firebreak builds, same method and headers.
const PASSTHROUGH = `
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const path = url.pathname.replace(/^\\/github/, "");
    return fetch("https://api.github.com" + path + url.search, { method: request.method, headers: request.headers });
  },
};`;

/**
 * esbuild: `createApp(bundle)` from src/app.ts with the bundle inlined, as one ES module. `variant`
 * (bench/ablate.mjs only) swaps an entry, prepends a banner or adds plugins to take one cost out.
 */
export async function bundleFirebreak(repoRoot, bundlePath, outDir, variant = {}) {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${variant.name ?? "firebreak"}.mjs`);
  const app = JSON.stringify(join(repoRoot, "src/app.ts"));
  const entry = variant.entry ?? `import { createApp } from ${app};\nexport default createApp(bundle);\n`;
  await build({
    stdin: {
      contents: `import bundle from ${JSON.stringify(bundlePath)};\n${entry}`,
      resolveDir: repoRoot,
      sourcefile: "bench-entry.ts",
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    banner: variant.banner ? { js: variant.banner } : undefined,
    plugins: variant.plugins ?? [],
    outfile,
    logLevel: "warning",
  });
  return outfile;
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
 * Starts the three workers. Worker stdout (Firebreak's one JSON log line per decision) is drained
 * and counted, not printed: it still crosses the pipe into this process, as in `wrangler dev`.
 */
export async function startWorkers({ firebreakScript, keys, variants = [], inspectorPort }) {
  const stdio = { lines: 0, decisionLines: 0, stderr: "" };
  const mf = new Miniflare({
    log: new Log(LogLevel.WARN),
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
      ...[{ name: "firebreak", script: firebreakScript }, ...variants].map((w) => ({
        name: w.name,
        modules: true,
        scriptPath: w.script,
        modulesRoot: dirname(w.script),
        compatibilityDate: COMPATIBILITY_DATE,
        bindings: {
          GITHUB_TOKEN: "bench-github-token",
          GATEWAY_DOMAIN: "",
          TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
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
      { name: "upstream", modules: true, script: UPSTREAM, compatibilityDate: COMPATIBILITY_DATE },
    ],
  });
  try {
    await mf.ready;
  } catch (e) {
    throw new Error(`workerd did not start: ${e.message}\n${stdio.stderr}`);
  }
  const urls = {};
  for (const name of ["passthrough", "firebreak", ...variants.map((v) => v.name)]) {
    urls[name] = new URL(ALLOWED_PATH, await mf.unsafeGetDirectURL(name)).href;
  }
  return { mf, urls, stdio };
}

export function writeJson(path, value) {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
