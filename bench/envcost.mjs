#!/usr/bin/env node
// What the pass-through costs under Firebreak's runtime settings: the same pass-through worker with
// wrangler.toml's compatibility flags (nodejs_compat), and with the gateway fixture's policy bundle
// parsed and held at load (Firebreak's heap), at the same offered load in rotating slices. It tells how
// much of Firebreak's added CPU per request comes from the runtime and the heap, not its own code.
//   node bench/envcost.mjs [--seconds 1.5] [--rounds 12] [--rate 600]
// Not part of `npm run bench`; its results are summarised in docs/benchmarks.md.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";
import { register } from "tsx/esm/api";
import { cliArg, findWorkerdPid, printRotation, rotate } from "./load.mjs";
import {
  ALLOWED_PATH,
  COMPATIBILITY_DATE,
  gatewayFixture,
  PASSTHROUGH,
  readWranglerConfig,
  UPSTREAM,
} from "./workers.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(cliArg("seconds", 1.5));
const ROUNDS = Number(cliArg("rounds", 12));
const RATE = Number(cliArg("rate", 600));

const tmp = mkdtempSync(join(tmpdir(), "firebreak-envcost-"));
let mf;
try {
  const { bundlePath } = await gatewayFixture(ROOT, tmp);
  const bundleText = readFileSync(bundlePath, "utf8");
  const config = await readWranglerConfig(ROOT);
  const heavy = `globalThis.__held = JSON.parse(${JSON.stringify(bundleText)});\n${PASSTHROUGH}`;
  const VARIANTS = [
    { name: "pt", script: PASSTHROUGH, flags: [], what: "the pass-through (no flags), as in npm run bench" },
    { name: "pt-flags", script: PASSTHROUGH, flags: config.compatibilityFlags, what: "with wrangler.toml's flags" },
    { name: "pt-heap", script: heavy, flags: [], what: "holding the parsed fixture bundle (Firebreak's heap)" },
    { name: "pt-flags-heap", script: heavy, flags: config.compatibilityFlags, what: "both" },
  ];
  mf = new Miniflare({
    log: new Log(LogLevel.WARN),
    cf: { colo: "BENCH", country: "XX" }, // no fetch of the real Request.cf (no internet here)
    workers: [
      ...VARIANTS.map((v) => ({
        name: v.name,
        modules: true,
        script: v.script,
        compatibilityDate: config.compatibilityDate ?? COMPATIBILITY_DATE,
        compatibilityFlags: v.flags,
        outboundService: "upstream",
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      })),
      { name: "upstream", modules: true, script: UPSTREAM, compatibilityDate: COMPATIBILITY_DATE },
    ],
  });
  await mf.ready;
  const rows = [];
  for (const v of VARIANTS) {
    const url = new URL(ALLOWED_PATH, await mf.unsafeGetDirectURL(v.name)).href;
    const res = await fetch(url);
    if (res.status !== 200) throw new Error(`${v.name} answered ${res.status}`);
    rows.push({ row: v.name, url, opts: {} });
  }
  const results = await rotate(rows, { rounds: ROUNDS, seconds: SECONDS, rate: RATE, workerdPid: findWorkerdPid() });
  console.log(`c=50 at ${RATE} req/s offered, ${ROUNDS} rounds x ${SECONDS} s; medians over rounds`);
  printRotation(results, { reference: "pt", whatOf: (row) => VARIANTS.find((v) => v.name === row).what });
} finally {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
