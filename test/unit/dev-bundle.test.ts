/**
 * `npm start` serves a bundle of its own: wrangler's `dev` environment builds the dev overlay into
 * build/dev/bundle.json and its worker imports that file, while `firebreak compile` and `npm test`'s
 * pretest write build/bundle.json, the deployed worker's. So neither can replace, under a running
 * `npm start`, the bundle it serves (issue 11).
 */
import { execSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

const ROOT = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

function config(env?: string) {
  const level = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error";
  try {
    return unstable_readConfig({ config: join(ROOT, "wrangler.toml"), env });
  } finally {
    if (level === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = level;
  }
}
const deployed = config();
const dev = config("dev");

/** Bundles a worker entry as wrangler would, noting which `*bundle.json` files it imports (repo-relative). */
async function workerOf(entry: string): Promise<{ bundles: string[]; exports: string[] }> {
  const bundles: string[] = [];
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser", "import"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "silent",
    plugins: [
      {
        name: "policy-bundle",
        setup(b) {
          b.onResolve({ filter: /bundle\.json$/ }, (args) => {
            const path = resolve(args.resolveDir, args.path);
            bundles.push(relative(ROOT, path));
            return { path, external: true };
          });
        },
      },
    ],
  });
  const [output] = Object.values(result.metafile.outputs);
  return { bundles, exports: [...(output?.exports ?? [])].sort() };
}

describe("the worker each wrangler environment runs", () => {
  it("deployed: src/index.ts with build/bundle.json; npm start's: the same worker with build/dev/bundle.json", async () => {
    expect(relative(ROOT, deployed.main ?? "")).toBe("src/index.ts");
    const prod = await workerOf(deployed.main ?? "");
    const local = await workerOf(dev.main ?? "");
    expect(prod.bundles).toEqual(["build/bundle.json"]);
    expect(local.bundles).toEqual(["build/dev/bundle.json"]);
    // The dev entry exports what the deployed one does: the app and every Durable Object class bound.
    expect(local.exports).toEqual(prod.exports);
    for (const { class_name } of dev.durable_objects.bindings) expect(local.exports).toContain(class_name);
  });
});

describe("who writes which bundle", () => {
  let dir: string;
  const run = (command: string) =>
    execSync(command, {
      cwd: dir,
      encoding: "utf8",
      stdio: "pipe",
      env: { ...process.env, FIREBREAK_DEV: "" },
      timeout: 60_000,
    });
  const read = (file: string) => readFileSync(join(dir, file), "utf8");

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "firebreak-dev-bundle-"));
    cpSync(join(ROOT, "policies"), join(dir, "policies"), { recursive: true });
    symlinkSync(join(ROOT, "bin"), join(dir, "bin"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("npm start's build writes build/dev/bundle.json (dev); compile and npm test's pretest leave it alone", () => {
    run(dev.build.command ?? "");
    expect(existsSync(join(dir, "build", "bundle.json"))).toBe(false);
    const served = read("build/dev/bundle.json");
    expect(JSON.parse(served).manifest.dev).toBe(true);

    run("node bin/firebreak.mjs compile");
    expect(JSON.parse(read("build/bundle.json")).manifest.dev).toBe(false);
    run(pkg.scripts.pretest);
    run(deployed.build.command ?? "");
    expect(JSON.parse(read("build/bundle.json")).manifest.dev).toBe(false);
    expect(read("build/dev/bundle.json")).toBe(served);
  });

  it("an explicit --dev compile goes to the dev bundle, never to the deployed one", () => {
    const before = read("build/bundle.json");
    const r = spawnSync(process.execPath, ["bin/firebreak.mjs", "compile", "--dev"], { cwd: dir, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("-> build/dev/bundle.json");
    expect(read("build/bundle.json")).toBe(before);
  });
});

describe("a first dev build that fails", () => {
  it("has nothing to serve: exit 1 and one line naming file:line, so wrangler stops instead of waiting", () => {
    const dir = mkdtempSync(join(tmpdir(), "firebreak-dev-bundle-"));
    try {
      cpSync(join(ROOT, "policies"), join(dir, "policies"), { recursive: true });
      symlinkSync(join(ROOT, "bin"), join(dir, "bin"));
      const rules = join(dir, "policies", "rules", "triage-bot.yaml");
      writeFileSync(rules, readFileSync(rules, "utf8").replace(/^ {4}effect: allow$/m, "    effect: allow: deny"));
      const r = spawnSync(process.execPath, ["bin/firebreak.mjs", "build", "--dev"], { cwd: dir, encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split("\n").at(-1)).toMatch(
        /^firebreak: policies\/rules\/triage-bot\.yaml:7: YAML: .*; no earlier bundle to serve \(build\/dev\/bundle\.json\): fix it and start again$/,
      );
      expect(existsSync(join(dir, "build"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
