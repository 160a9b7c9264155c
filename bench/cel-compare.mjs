#!/usr/bin/env node
// Compares @marcbachmann/cel-js and @bufbuild/cel for Firebreak rule conditions.
//   node bench/cel-compare.mjs            (full run, 200k evaluations per condition)
//   node bench/cel-compare.mjs --n 20000  (quicker)
// Sections: type checking, evaluation speed (median ns/eval), compile cost, JSON-number semantics,
// a CEL spec-coverage mini-suite, eval/new Function scan, and package/bundle size.
// Results are summarised in docs/decisions/cel.md.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import * as buf from "@bufbuild/cel";
import { TimestampSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Environment } from "@marcbachmann/cel-js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const NM = join(ROOT, "node_modules");
const argN = process.argv.indexOf("--n");
const N = argN > 0 ? Number(process.argv[argN + 1]) : 200_000;
const BATCH = 1000;
const WARMUP = Math.max(20_000, N / 10);

// @bufbuild/cel 0.6.1 does not export its checker ("exports" only has "." and "./ext"); reach in by path.
let bufCheck = null;
try {
  ({ check: bufCheck } = await import(pathToFileURL(join(NM, "@bufbuild/cel/dist/esm/check.js")).href));
} catch {
  bufCheck = null;
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

const CONDITIONS = [
  ["startsWith", 'resource.startsWith("repo:acme/")'],
  ["args+claims", 'request.args.merge_method == "squash" && agent.claims.repository == "acme/api"'],
  ["has+amount", "has(request.args.amount) && request.args.amount > 50000"],
  ["in-lists", 'action.risk in ["high", "critical"] && !(agent.sub in ["release-bot", "ops-bot"])'],
  ["hours(UTC)", 'now.getHours("UTC") >= 9 && now.getHours("UTC") < 17'],
  ["hours(no tz)", "now.getHours() >= 9 && now.getHours() < 17"],
  ["ref", 'request.params.ref.startsWith("heads/") && request.params.ref != "heads/main"'],
  ["pii+matches", '"pii" in action.data && !resource.matches("^channel:C0[0-9A-Z]+$")'],
];

// [label, expr, wanted check outcome]
const CHECKS = [
  ...CONDITIONS.map(([l, e]) => [l, e, "bool"]),
  ["unknown var", 'agnet.sub == "x"', "invalid"],
  ["string + int", "resource + 1", "invalid"],
  ["non-bool", 'resource + "x"', "string"], // valid CEL; Firebreak's checkCondition rejects non-bool
  ["syntax", "agent.sub ==", "invalid"],
];

// A request as the gateway builds it from JSON (numbers are JS numbers, not BigInt). Every
// condition above evaluates to true on it, so && chains run to the end.
const JSON_INPUT = () => ({
  agent: {
    issuer: "github-actions",
    iss: "https://token.actions.githubusercontent.com",
    sub: "deploy-bot",
    claims: { repository: "acme/api", workflow: "deploy" },
  },
  action: {
    name: "github:pulls.merge",
    service: "github",
    kind: "write",
    risk: "high",
    data: ["pii", "source_code"],
  },
  resource: "repo:acme/api",
  request: {
    method: "PUT",
    path: "/repos/acme/api/pulls/7/merge",
    params: { owner: "acme", repo: "api", ref: "heads/feature-x" },
    query: {},
    args: { merge_method: "squash", amount: 75000 },
  },
  task: {},
  now: new Date("2026-04-27T10:15:00Z"),
});

// ---------------------------------------------------------------------------------------------
// Adapters: same surface for both libraries
// ---------------------------------------------------------------------------------------------

const celjs = (() => {
  const policyEnv = () => {
    // Mirrors src/policy/cel.ts.
    let env = new Environment({
      unlistedVariablesAreDyn: false,
      limits: {
        maxAstNodes: 2000,
        maxDepth: 50,
        maxListElements: 500,
        maxMapEntries: 500,
        maxCallArguments: 16,
      },
    });
    for (const [n, t] of [
      ["agent", "map<string, dyn>"],
      ["action", "map<string, dyn>"],
      ["resource", "string"],
      ["request", "map<string, dyn>"],
      ["task", "map<string, dyn>"],
      ["now", "google.protobuf.Timestamp"],
    ])
      env = env.registerVariable(n, t);
    return env;
  };
  const env = policyEnv();
  const specEnv = new Environment({
    unlistedVariablesAreDyn: true,
    enableOptionalTypes: true,
  });
  return {
    name: "@marcbachmann/cel-js@8.0.0",
    short: "cel-js",
    check(expr) {
      try {
        const r = env.check(expr);
        return r.valid ? { ok: true, type: r.type } : { ok: false, error: r.error?.message.split("\n")[0] };
      } catch (e) {
        return { ok: false, error: e.message };
      }
    },
    compile: (expr) => env.parse(expr), // returns (ctx) => value, throws EvaluationError
    ctx: (input) => input, // Date for `now`, plain objects for maps
    run(fn, ctx) {
      try {
        return { value: fn(ctx) };
      } catch (e) {
        return { error: `${e.name}: ${e.message.split("\n")[0]}` };
      }
    },
    spec(expr) {
      try {
        return { value: specEnv.evaluate(expr, {}) };
      } catch (e) {
        return { error: `${e.name}: ${e.message.split("\n")[0]}` };
      }
    },
  };
})();

const bufbuild = (() => {
  const S = buf.CelScalar.STRING;
  const D = buf.CelScalar.DYN;
  const env = buf.celEnv({
    variables: {
      agent: buf.mapType(S, D),
      action: buf.mapType(S, D),
      resource: S,
      request: buf.mapType(S, D),
      task: buf.mapType(S, D),
      now: buf.objectType(TimestampSchema),
    },
  });
  const specEnv = buf.celEnv();
  const wrap = (r) =>
    buf.isCelError(r) ? { error: `CelError: ${String(r.message ?? r).split("\n")[0]}` } : { value: r };
  return {
    name: "@bufbuild/cel@0.6.1",
    short: "bufbuild",
    check(expr) {
      if (!bufCheck) return { ok: false, error: "no checker available" };
      try {
        buf.parse(expr);
      } catch (e) {
        return { ok: false, error: `parse: ${e.message.split("\n")[0]}` };
      }
      try {
        const checked = bufCheck(env, buf.parse(expr));
        const root = checked.typeMap?.[String(checked.expr?.id)];
        return {
          ok: true,
          type: root ? JSON.stringify(root.typeKind?.value) : "?",
        };
      } catch (e) {
        // 0.6.1's Checker only handles constants and identifiers; everything else throws this.
        if (/Unsupported expression kind/.test(e.message)) return { ok: null, error: `n/a: ${e.message}` };
        return { ok: false, error: e.message.split("\n")[0] };
      }
    },
    // plan() never throws on unknown variables / overloads; errors surface at evaluation.
    compile: (expr) => buf.plan(env, buf.parse(expr)), // returns (ctx) => CelValue | CelError
    ctx: (input) => ({ ...input, now: timestampFromDate(input.now) }),
    run(fn, ctx) {
      try {
        return wrap(fn(ctx));
      } catch (e) {
        return { error: `thrown ${e.name}: ${e.message.split("\n")[0]}` };
      }
    },
    spec(expr) {
      try {
        return wrap(buf.plan(specEnv, buf.parse(expr))());
      } catch (e) {
        return { error: `thrown ${e.name}: ${e.message.split("\n")[0]}` };
      }
    },
  };
})();

const LIBS = [celjs, bufbuild];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const show = (r) => {
  if ("error" in r) return `ERR ${r.error}`.slice(0, 70);
  const v = r.value;
  if (typeof v === "bigint") return `${v}n (int)`;
  if (typeof v === "number") return `${v} (double)`;
  if (v && typeof v === "object" && "hasValue" in v) return "optional";
  return String(v).slice(0, 40);
};
const pad = (s, n) => String(s).padEnd(n);
function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => pad(c, w[i])).join(" | ")} |`;
  console.log(line(headers));
  console.log(`|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
  console.log();
}
let sink = 0;

// ---------------------------------------------------------------------------------------------
// 1. Type checking
// ---------------------------------------------------------------------------------------------

console.log(`# CEL library comparison  (node ${process.version}, ${process.arch}, N=${N} evals/condition)\n`);
console.log("## 1. Type checking against declared variables\n");
{
  const rows = [];
  const score = {};
  for (const [label, expr, want] of CHECKS) {
    const cells = LIBS.map((lib) => {
      const r = lib.check(expr);
      const ok = r.ok === null ? false : want === "invalid" ? r.ok === false : r.ok && r.type === want;
      score[lib.short] = (score[lib.short] ?? 0) + (ok ? 1 : 0);
      const verdict = r.ok === null ? "----" : ok ? "ok  " : "MISS";
      return `${verdict} ${r.ok ? `valid: ${r.type}` : r.ok === null ? r.error : `invalid: ${r.error}`}`.slice(0, 64);
    });
    rows.push([label, want, ...cells]);
  }
  rows.push(["SCORE", "", ...LIBS.map((l) => `${score[l.short]}/${CHECKS.length}`)]);
  table(["expr", "want", ...LIBS.map((l) => l.short)], rows);
}

// ---------------------------------------------------------------------------------------------
// 2. Evaluation speed: parse/plan once, evaluate many times
// ---------------------------------------------------------------------------------------------

console.log("## 2. Evaluation: median ns per evaluation (compiled once, JSON-shaped input)\n");
const evalNs = {};
const nNote = [];
{
  // Per condition: both libraries are compiled, warmed up, then measured in ROUNDS alternating
  // rounds (cel-js, bufbuild, cel-js, ...) so JIT/GC drift hits both alike. Each batch of BATCH
  // evaluations is timed with process.hrtime.bigint(); we report the median (and p90) batch.
  const ROUNDS = 5;
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  const rows = [];
  for (const [label, expr] of CONDITIONS) {
    const setups = LIBS.map((lib) => {
      const fn = lib.compile(expr);
      const ctx = lib.ctx(JSON_INPUT());
      const first = lib.run(fn, ctx);
      if (!("value" in first) || first.value !== true) return { lib, bad: `not true: ${show(first)}` };
      // Pilot: slow conditions (Intl-based time zones) get fewer evaluations, ~3 s budget each.
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 200; i++) if (fn(ctx) === true) sink++;
      const pilotNs = Number(process.hrtime.bigint() - t0) / 200;
      const n = Math.min(N, Math.max(BATCH * 20, Math.floor(3e9 / pilotNs / BATCH) * BATCH));
      const warm = Math.min(WARMUP, Math.max(2000, Math.floor(5e8 / pilotNs)));
      for (let i = 0; i < warm; i++) if (fn(ctx) === true) sink++;
      if (n < N) nNote.push(`${label}/${lib.short}: ${n} evals`);
      return {
        lib,
        fn,
        ctx,
        batchesPerRound: Math.max(1, Math.round(n / BATCH / ROUNDS)),
        per: [],
      };
    });
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of setups) {
        if (s.bad) continue;
        const { fn, ctx } = s;
        for (let b = 0; b < s.batchesPerRound; b++) {
          const t0 = process.hrtime.bigint();
          for (let i = 0; i < BATCH; i++) if (fn(ctx) === true) sink++;
          s.per.push(Number(process.hrtime.bigint() - t0) / BATCH);
        }
      }
    }
    const row = [label];
    for (const s of setups) {
      if (s.bad) {
        row.push(s.bad);
        continue;
      }
      const med = median(s.per);
      evalNs[s.lib.short] ??= [];
      evalNs[s.lib.short].push(med);
      row.push(`${med.toFixed(0)} (${q(s.per, 0.9).toFixed(0)})`);
    }
    const [a, b] = LIBS.map((l) => evalNs[l.short]?.at(-1));
    row.push(a && b ? `${(b / a).toFixed(1)}x` : "-");
    rows.push(row);
  }
  const geo = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
  const g = LIBS.map((l) => geo(evalNs[l.short]));
  rows.push(["geomean", ...g.map((x) => x.toFixed(0)), `${(g[1] / g[0]).toFixed(1)}x`]);
  // The time-zone accessor is dominated by Intl.DateTimeFormat construction in both libraries.
  const tzIdx = CONDITIONS.findIndex(([l]) => l === "hours(UTC)");
  const gx = LIBS.map((l) => geo(evalNs[l.short].filter((_, i) => i !== tzIdx)));
  rows.push(["geomean excl. hours(UTC)", ...gx.map((x) => x.toFixed(0)), `${(gx[1] / gx[0]).toFixed(1)}x`]);
  table(["condition", ...LIBS.map((l) => `${l.short} ns med (p90)`), "bufbuild/cel-js"], rows);
  if (nNote.length) console.log(`Reduced sample (time budget): ${nNote.join("; ")}\n`);
}

// ---------------------------------------------------------------------------------------------
// 3. Compile cost (parse [+check] / parse+plan), per condition, median µs over 300 runs
// ---------------------------------------------------------------------------------------------

console.log("## 3. Compile cost: median µs per condition (cel-js: env.parse + env.check; bufbuild: parse + plan)\n");
{
  const rows = [];
  for (const [label, expr] of CONDITIONS) {
    const row = [label];
    for (const lib of LIBS) {
      const compile =
        lib === celjs
          ? (e) => {
              lib.check(e);
              return lib.compile(e);
            }
          : (e) => lib.compile(e);
      for (let i = 0; i < 100; i++) compile(expr);
      const per = [];
      for (let i = 0; i < 300; i++) {
        const t0 = process.hrtime.bigint();
        sink += compile(expr) ? 1 : 0;
        per.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      row.push(median(per).toFixed(1));
    }
    rows.push(row);
  }
  table(["condition", ...LIBS.map((l) => `${l.short} µs`)], rows);
}

// ---------------------------------------------------------------------------------------------
// 4. Semantics we rely on: JSON numbers, missing keys, timestamps
// ---------------------------------------------------------------------------------------------

console.log("## 4. Semantics probes (JSON_INPUT with overrides)\n");
{
  const with_ = (patch) => {
    const i = JSON_INPUT();
    patch(i);
    return i;
  };
  const probes = [
    ["amount 75000 (JS number) > 50000", "request.args.amount > 50000", (i) => i],
    ["amount 50000.5 > 50000", "request.args.amount > 50000", () => with_((x) => (x.request.args.amount = 50000.5))],
    [
      "amount 75000n (BigInt) > 50000",
      "request.args.amount > 50000",
      () => with_((x) => (x.request.args.amount = 75000n)),
    ],
    ["amount == 75000", "request.args.amount == 75000", (i) => i],
    ["amount in [75000]", "request.args.amount in [75000]", (i) => i],
    ["amount + 1 (double + int)", "request.args.amount + 1 > 0", (i) => i],
    ["int(amount) + 1", "int(request.args.amount) + 1 == 75001", (i) => i],
    ["type(amount)", "type(request.args.amount) == double", (i) => i],
    ["missing key", "request.args.missing > 50000", (i) => i],
    ["missing key, has() guard", "has(request.args.missing) && request.args.missing > 50000", (i) => i],
    ["missing claim", 'agent.claims.team == "x"', (i) => i],
    ["missing key || true", "request.args.missing > 1 || true", (i) => i],
    ["null arg == null", "request.args.note == null", () => with_((x) => (x.request.args.note = null))],
    ["undefined arg, has()", "has(request.args.note)", () => with_((x) => (x.request.args.note = undefined))],
    ["nested object arg", 'request.args.meta.k == "v"', () => with_((x) => (x.request.args.meta = { k: "v" }))],
    ["size(action.data)", "size(action.data) == 2", (i) => i],
    ["now.getHours() (no tz)", "now.getHours() == 10", (i) => i],
    ["now.getHours('Europe/Berlin')", 'now.getHours("Europe/Berlin") == 12', (i) => i],
    ["now.getDayOfWeek() (Mon=1)", "now.getDayOfWeek() == 1", (i) => i],
    ["now - timestamp < duration", 'now - timestamp("2026-04-27T00:00:00Z") < duration("11h")', (i) => i],
    ["unknown var at eval", 'agnet.sub == "x"', (i) => i],
  ];
  const rows = [];
  for (const [label, expr, mk] of probes) {
    const cells = LIBS.map((lib) => {
      let fn;
      try {
        fn = lib.compile(expr);
      } catch (e) {
        return `compile ERR ${e.message.split("\n")[0]}`.slice(0, 60);
      }
      return show(lib.run(fn, lib.ctx(mk(JSON_INPUT()))));
    });
    rows.push([label, ...cells]);
  }
  table(["probe", ...LIBS.map((l) => l.short)], rows);
}

// ---------------------------------------------------------------------------------------------
// 4b. Regex engine: catastrophic backtracking. `resource` comes from the request path, so a
//     rule author's pattern like ^(a+)+$ becomes attacker-timed CPU on a backtracking engine.
// ---------------------------------------------------------------------------------------------

console.log('## 4b. matches() on attacker-controlled input: ms for resource.matches("^(a+)+$"), input "a"*k + "!"\n');
{
  const rows = [];
  const fns = LIBS.map((lib) => lib.compile('resource.matches("^(a+)+$")'));
  for (const k of [16, 20, 22, 24]) {
    const row = [k];
    LIBS.forEach((lib, i) => {
      const ctx = lib.ctx({ ...JSON_INPUT(), resource: `${"a".repeat(k)}!` });
      const t0 = process.hrtime.bigint();
      const r = lib.run(fns[i], ctx);
      row.push(`${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2)} (${show(r)})`);
    });
    rows.push(row);
  }
  table(["k", ...LIBS.map((l) => `${l.short} ms`)], rows);
}

// ---------------------------------------------------------------------------------------------
// 5. Spec-coverage mini-suite (each case must evaluate to true, or to an error)
// ---------------------------------------------------------------------------------------------

console.log("## 5. Spec coverage (expected: true, or an evaluation error)\n");
const SPEC = [
  ["string fns", '"hello".contains("ell") && "hello".startsWith("he") && "hello".endsWith("lo")', true],
  ["size() code points", 'size("héllo") == 5 && size("😀") == 1 && size(b"\\xff\\x00") == 2', true],
  ["size() list/map", "size([1, 2, 3]) == 3 && size({'a': 1}) == 1 && [1].size() == 1", true],
  ["all", "[1, 2, 3].all(x, x > 0) && ![1, -2].all(x, x > 0)", true],
  ["exists", "[1, 2, 3].exists(x, x == 2) && !([] + [1]).exists(x, x == 2)", true],
  ["exists_one", "[1, 2, 3].exists_one(x, x > 2) && ![1, 2, 3].exists_one(x, x > 1)", true],
  ["map", "[1, 2, 3].map(x, x * 2) == [2, 4, 6]", true],
  ["filter", "[1, 2, 3, 4].filter(x, x % 2 == 0) == [2, 4]", true],
  ["macros over map keys", "{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])", true],
  ["has() on map literal", "has({'a': 1}.a) && !has({'a': 1}.b)", true],
  ["ternary", '(1 < 2 ? "y" : "n") == "y"', true],
  ["int div/mod truncation", "7 / 2 == 3 && -7 / 2 == -3 && -7 % 3 == -1", true],
  ["int overflow -> error", "9223372036854775807 + 1 > 0", "error"],
  ["int div by zero -> error", "1 / 0 == 0", "error"],
  ["int64 min / -1 -> error", "-9223372036854775808 / -1 != 0", "error"],
  ["uint arithmetic", "3u + 4u == 7u && 10u / 3u == 3u", true],
  ["uint underflow -> error", "0u - 1u > 0u", "error"],
  ["double arithmetic", "0.1 + 0.2 > 0.3 && 1.0 / 0.0 > 1e308 && 2.5 * 2.0 == 5.0", true],
  ["no int+double overload", "1 + 1.0 == 2.0", "error"],
  ["heterogeneous == (dyn)", "dyn(1) == 1.0 && dyn(1u) == 1 && dyn(1) != 1.5", true],
  ["heterogeneous <", "1 < 1.5 && 2u > 1 && dyn(3.0) >= 3", true],
  [
    "duration arithmetic",
    'duration("1h") + duration("30m") == duration("90m") && duration("1h30m").getMinutes() == 90',
    true,
  ],
  [
    "timestamp arithmetic",
    'timestamp("2024-01-01T00:00:00Z") + duration("24h") == timestamp("2024-01-02T00:00:00Z") && timestamp("2024-01-02T00:00:00Z") - timestamp("2024-01-01T00:00:00Z") == duration("86400s")',
    true,
  ],
  ["timestamp tz accessor", 'timestamp("2024-01-15T14:30:00Z").getHours("America/New_York") == 9', true],
  ["timestamp fixed-offset tz", 'timestamp("2024-01-15T14:30:00Z").getHours("+05:30") == 20', true],
  ["timestamp range -> error", 'timestamp("10000-01-01T00:00:00Z") > timestamp("2024-01-01T00:00:00Z")', "error"],
  ["in list / map", "'b' in ['a', 'b'] && 'a' in {'a': 1} && !('z' in {'a': 1})", true],
  [
    "optional types",
    "optional.of(1).orValue(2) == 1 && {'a': 1}.?b.orValue(5) == 5 && !optional.none().hasValue()",
    true,
  ],
  ["matches (unanchored)", '"xabcx".matches("abc") && "abc".matches("^a.c$") && !"abd".matches("^a.c$")', true],
  ["matches RE2: lookahead rejected", '"ab".matches("a(?=b)")', "error"],
  ["matches RE2: backref rejected", '"aa".matches("(a)\\\\1")', "error"],
  ["matches: . is a code point", '"😀".matches("^.$")', true],
  ["&& absorbs error (both sides)", "!(false && (1 / 0 == 1)) && !((1 / 0 == 1) && false)", true],
  ["|| absorbs error (both sides)", "(true || (1 / 0 == 1)) && ((1 / 0 == 1) || true)", true],
  ["error propagates", "(1 / 0 == 1) || false", "error"],
  ["bytes", 'b"abc" == bytes("abc") && b"\\xe2\\x82\\xac" == bytes("€") && size(bytes("€")) == 3', true],
  ["missing map key -> error", "{'a': 1}.b == 1", "error"],
  ["list index out of range", "[1, 2][5] == 1", "error"],
  ["conversions", 'string(1.5) == "1.5" && int("42") == 42 && double("2.5") == 2.5 && uint(3) == 3u', true],
  ["int() range -> error", "int(1e20) > 0", "error"],
  ["type()", "type(1) == int && type('a') == string && type([]) == list", true],
  ["string/list concat", '"a" + "b" == "ab" && [1] + [2] == [1, 2]', true],
  ["raw + escaped strings", 'r"\\d" == "\\\\d" && "\\u00e9" == "é"', true],
];
const specScore = {};
{
  const rows = [];
  for (const [label, expr, want] of SPEC) {
    const cells = LIBS.map((lib) => {
      const r = lib.spec(expr);
      const pass = want === "error" ? "error" in r : "value" in r && r.value === want;
      specScore[lib.short] = (specScore[lib.short] ?? 0) + (pass ? 1 : 0);
      return `${pass ? "pass" : "FAIL"}${pass ? "" : ` (${show(r)})`}`.slice(0, 70);
    });
    rows.push([label, ...cells]);
  }
  rows.push(["SCORE", ...LIBS.map((l) => `${specScore[l.short]}/${SPEC.length}`)]);
  table(["feature", ...LIBS.map((l) => l.short)], rows);
}

// ---------------------------------------------------------------------------------------------
// 6. eval / new Function scan (Workers forbid runtime code generation)
// ---------------------------------------------------------------------------------------------

console.log("## 6. Runtime code generation scan (eval / new Function / WebAssembly.compile)\n");
const DIRS = {
  "cel-js": ["@marcbachmann/cel-js/lib"],
  bufbuild: [
    "@bufbuild/cel/dist/esm",
    "@bufbuild/re2/dist/esm",
    "@bufbuild/cel-spec/dist/esm",
    "@bufbuild/protobuf/dist/esm",
  ],
};
const walk = (d) =>
  readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
{
  const PATTERNS = [
    /new\s+Function\s*\(/,
    /(?<![\w$.])Function\s*\(\s*['"`]/,
    /(?<![\w$.])eval\s*\(/,
    /\(\s*0\s*,\s*eval\s*\)/,
    /globalThis\.eval|\bWebAssembly\.(compile|instantiate)\b/,
  ];
  const methodDef = /^\s*(?:async\s+)?eval\s*\([^)]*\)\s*(?::[^{]*)?\{/; // `eval(ctx) {` is a method name
  const rows = [];
  for (const [lib, dirs] of Object.entries(DIRS)) {
    const hits = [];
    let files = 0;
    for (const d of dirs) {
      const full = join(NM, d);
      if (!existsSync(full)) continue;
      for (const f of walk(full).filter((p) => p.endsWith(".js"))) {
        files++;
        readFileSync(f, "utf8")
          .split("\n")
          .forEach((line, i) => {
            if (methodDef.test(line) || /^\s*\*|^\s*\/\//.test(line)) return;
            if (PATTERNS.some((re) => re.test(line)))
              hits.push(`${relative(NM, f)}:${i + 1}: ${line.trim().slice(0, 80)}`);
          });
      }
    }
    rows.push([lib, files, hits.length === 0 ? "none" : hits.length]);
    for (const h of hits) console.log(`  ${lib}: ${h}`);
  }
  table(["library", ".js files scanned", "eval/new Function hits"], rows);
}

// ---------------------------------------------------------------------------------------------
// 7. Size: installed directories and an esbuild bundle of what a Worker would import
// ---------------------------------------------------------------------------------------------

console.log("## 7. Size\n");
{
  const du = (p) => {
    try {
      const kib = execFileSync("du", ["-sk", join(NM, p)], {
        encoding: "utf8",
      }).split("\t")[0];
      return `${kib} KiB`;
    } catch {
      return "?";
    }
  };
  table(
    ["package dir", "du"],
    [
      ["@marcbachmann/cel-js/lib", du("@marcbachmann/cel-js/lib")],
      ["@bufbuild/cel/dist/esm", du("@bufbuild/cel/dist/esm")],
      ["@bufbuild/re2/dist/esm", du("@bufbuild/re2/dist/esm")],
      ["@bufbuild/cel-spec/dist/esm", du("@bufbuild/cel-spec/dist/esm")],
      ["@bufbuild/protobuf/dist/esm (peer)", du("@bufbuild/protobuf/dist/esm")],
    ],
  );
  let esbuild = null;
  try {
    esbuild = await import("esbuild");
  } catch {
    console.log("esbuild not available; skipping bundle sizes\n");
  }
  if (esbuild) {
    const entries = {
      "cel-js":
        'import {Environment} from "@marcbachmann/cel-js"; export const e = new Environment().registerVariable("a","map<string, dyn>").parse("a.b == 1");',
      bufbuild:
        'import {celEnv, parse, plan, mapType, objectType, CelScalar} from "@bufbuild/cel"; import {TimestampSchema, timestampFromDate} from "@bufbuild/protobuf/wkt"; export const e = plan(celEnv({variables:{a: mapType(CelScalar.STRING, CelScalar.DYN), now: objectType(TimestampSchema)}}), parse("a.b == 1")); export const t = timestampFromDate;',
    };
    const rows = [];
    for (const [lib, contents] of Object.entries(entries)) {
      const r = await esbuild.build({
        stdin: { contents, resolveDir: ROOT, loader: "js" },
        bundle: true,
        minify: true,
        format: "esm",
        platform: "neutral",
        mainFields: ["module", "main"],
        conditions: ["workerd", "worker", "import"],
        write: false,
        logLevel: "silent",
      });
      const code = r.outputFiles[0].contents;
      rows.push([lib, `${(code.length / 1024).toFixed(1)} KiB`, `${(gzipSync(code).length / 1024).toFixed(1)} KiB`]);
    }
    table(["esbuild bundle (minified, esm)", "raw", "gzip"], rows);
  }
}

if (sink < 0) console.log(sink); // keep the JIT from dropping the measured calls
