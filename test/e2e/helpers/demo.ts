/**
 * The demo upstream as `npm start` runs it (demo/wrangler.toml): demo/src/index.ts bundled with esbuild
 * and run by miniflare in workerd, on 127.0.0.1 and a free port. In workerd, so that what only workerd
 * refuses (code generated with `new Function`, which the MCP SDK's default JSON Schema validator does)
 * fails here too. The demo makes no outbound request.
 */
import { join } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { ROOT } from "./gateway";

export interface Demo {
  mf: Miniflare;
  /** `http://127.0.0.1:<port>/` */
  url: URL;
  /** What the demo received (GET /_demo/requests), newest first. */
  received(): Promise<{ method: string; path: string; headers: Record<string, string>; body: string | null }[]>;
  dispose(): Promise<void>;
}

/** `bindings`: what `wrangler dev` would read from demo/.dev.vars (the dev GitHub App's public key). */
export async function startDemo(options: { bindings?: Record<string, string> } = {}): Promise<Demo> {
  const result = await build({
    entryPoints: [join(ROOT, "demo", "src", "index.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser", "import"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "silent",
  });
  const config = unstable_readConfig({ config: join(ROOT, "demo", "wrangler.toml") });
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    script: result.outputFiles[0]!.text,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    bindings: options.bindings ?? {},
  });
  const url = await mf.ready;
  return {
    mf,
    url,
    async received() {
      const res = await fetch(new URL("/_demo/requests", url));
      return ((await res.json()) as { requests: Awaited<ReturnType<Demo["received"]>> }).requests;
    },
    dispose: () => mf.dispose(),
  };
}
