/**
 * The `firebreak` CLI (Node): compile, test, build, lint, explain, token, dev-keys, task-key,
 * signing-key, push, schema, decisions, task-log, replay, catalog, standards.
 * Exit codes: 0 ok, 1 policy problems or failing tests, 2 usage.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { compilePolicies } from "../compiler/compile";
import { SCHEMAS } from "../compiler/schema";
import { newTaskKey } from "../identity/task-token";
import { loadBundle } from "../policy/load";
import type { Bundle } from "../policy/types";
import { bundlesCommand, signBuilt } from "./bundles";
import { catalogCommand } from "./catalog";
import { decisionsCommand } from "./decisions";
import { ensureDevKeys, mintDevToken } from "./devkeys";
import { explainCommand } from "./explain";
import { lintCommand, printLintWarnings } from "./lint";
import { runPolicyTests } from "./policy-tests";
import { replayCommand } from "./replay";
import { standardsCommand } from "./standards";
import { taskLogCommand } from "./task-log";

const USAGE = `firebreak <command> [options]

  compile   [--policies DIR] [--out FILE] [--dev]   validate policies/ and write the bundle
  test      [--policies DIR] [--dev]                 run policies/tests/*.yaml against the bundle
  build     [--policies DIR] [--out FILE] [--dev]   compile + test (wrangler's build step) into
                                                     build/bundle.json; with --dev (FIREBREAK_DEV=1)
                                                     the dev overlay, into build/dev/bundle.json;
                                                     --sign --key FILE [--sequence N] [--rollback]
                                                     also writes bundle.signed.json beside it (key:
                                                     FILE or FIREBREAK_SIGNING_KEY, docs/bundles.md)
  lint      [--policies DIR] [--dev] [--strict] [--format text|json|sarif] [--out FILE]
                                                     dangerous-but-valid policy (docs/lint.md); exit 1
                                                     on an error, with --strict on a warning too
  explain   --agent SUB [--issuer NAME] [--claims JSON] [--profile NAME] (METHOD URL | --request FILE)
                                                     decide one request; with --profile, as a step of a
                                                     task of that profile (approval risk, budgets, sequences)
  token     (--agent SUB | --person SUB) [--ttl SECONDS] [--claims JSON]
                                                     mint a dev token: an agent's workload identity, or a
                                                     person's (approvers, operators) from the dev people issuer
  dev-keys                                           create the local dev keys (.dev/) and .dev.vars
  task-key                                           print a new private task-signing key (JWK) for
                                                     \`wrangler secret put FIREBREAK_TASK_KEY\`
  signing-key [--kid KID] [--out FILE]               print a new private Ed25519 bundle-signing key and
                                                     its public half (docs/bundles.md)
  push      [--local|--remote] [--dev] [--rollback]  upload the signed bundle to the BUNDLES KV namespace
                                                     (\`firebreak push --help\` for the options)
  schema    [--out DIR]                              write the policy JSON Schemas
  decisions [filters] [--view V] [--json|--csv]      recorded decisions: Analytics Engine, or --local
                                                     (\`firebreak decisions --help\` for the options)
  task-log  TASK_ID... [--url URL]                   a task's step log as JSON Lines (an operator's token
                                                     in FIREBREAK_ADMIN_TOKEN)
  catalog   (import SERVICE... [--check] | coverage)  generate service catalogs from the vendors'
                                                     descriptions (\`firebreak catalog --help\`)
  replay    (--bundle FILE | --policies DIR [--dev]) --from FILE... [--json]
                                                     re-decide recorded calls with a candidate bundle;
                                                     exit 1 when a decision would change
  standards [--out FILE] [--check]                   docs/standards.md: each reason code's OWASP Agentic
                                                     (ASI) id, MAESTRO layer and NIST AI RMF functions`;

const TASK_KEY_HINT = `private key: keep it secret. Install it with
  npx firebreak task-key | npx wrangler secret put FIREBREAK_TASK_KEY
To rotate, first copy the current value into FIREBREAK_TASK_KEY_PREVIOUS, then put the new key; delete the
previous one once the longest task token TTL has passed.`;

const root = process.cwd();

/**
 * Where compile and build write by default: the deployed worker imports build/bundle.json (src/index.ts),
 * `npm start`'s worker the dev bundle (scripts/dev-worker.ts), so that a `compile` or an `npm test` never
 * replaces what a running `npm start` serves.
 */
const BUNDLE = "build/bundle.json";
const DEV_BUNDLE = "build/dev/bundle.json";

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  // Its flags are its own (filters, views): parsed there, before the shared parse below refuses them.
  if (command === "decisions") return decisionsCommand(rest);
  if (command === "task-log") return taskLogCommand(rest);
  if (command === "replay") return replayCommand(rest);
  if (command === "catalog") return catalogCommand(rest);
  if (command === "standards") return standardsCommand(rest);
  if (command === "signing-key" || command === "push") return bundlesCommand(command, rest);
  if (!COMMANDS.includes(command)) return usage(`unknown command "${command}"`);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(helpOf(command));
    return 0;
  }
  try {
    return await run(command, rest);
  } catch (e) {
    // Bad input (an unknown option, --claims that is not JSON, a missing file) is one line, not a stack.
    console.error(`firebreak ${command}: ${(e as Error).message}

${helpOf(command)}`);
    return 2;
  }
}

const COMMANDS = ["compile", "test", "build", "lint", "explain", "token", "dev-keys", "task-key", "schema"];

/** The lines of USAGE that describe one command. */
function helpOf(command: string): string {
  const lines = USAGE.split("\n");
  const at = lines.findIndex((l) => l.startsWith(`  ${command} `) || l === `  ${command}`);
  const own = [lines[at] ?? ""];
  for (const l of lines.slice(at + 1)) {
    if (!/^ {20,}/.test(l)) break;
    own.push(l);
  }
  return `firebreak ${own.map((l) => l.trim()).join("\n  ")}`;
}

async function run(command: string, rest: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      policies: { type: "string", default: "policies" },
      out: { type: "string" },
      dev: { type: "boolean", default: false },
      agent: { type: "string" },
      person: { type: "string" },
      issuer: { type: "string" },
      claims: { type: "string" },
      request: { type: "string" },
      profile: { type: "string" },
      ttl: { type: "string" },
      json: { type: "boolean", default: false },
      sign: { type: "boolean", default: false },
      key: { type: "string" },
      sequence: { type: "string" },
      rollback: { type: "boolean", default: false },
      strict: { type: "boolean", default: false },
      format: { type: "string" },
    },
  });
  const dev = values.dev || process.env.FIREBREAK_DEV === "1";
  const out = values.out ?? (dev ? DEV_BUNDLE : BUNDLE);
  switch (command) {
    case "compile":
      return compileCmd(values.policies, out, dev) ? 0 : 1;
    case "test": {
      const bundle = compileOrReport(values.policies, dev);
      return bundle && testCmd(bundle, values.policies).length === 0 ? 0 : 1;
    }
    case "build":
      return buildCmd(values.policies, out, dev, values);
    case "lint":
      return lintCommand({ ...values, dev }, usage);
    case "explain": {
      if (values.agent === undefined) return usage("explain needs --agent");
      const bundle = compileOrReport(values.policies, dev);
      const opts = { ...values, agent: values.agent };
      return bundle ? explainCommand(loadBundle(bundle), opts, positionals, usage) : 1;
    }
    case "token":
      return tokenCmd(values);
    case "dev-keys":
      await ensureDevKeys(root);
      console.error("dev keys in .dev/; issuer JWKS, task key and demo secrets in .dev.vars");
      return 0;
    case "task-key":
      process.stdout.write(`${JSON.stringify(await newTaskKey())}\n`);
      console.error(TASK_KEY_HINT);
      return 0;
    case "schema":
      return schemaCmd(values.out ?? join(values.policies, "schema"));
    default:
      return usage(command ? `unknown command "${command}"` : "");
  }
}

async function tokenCmd(values: { agent?: string; person?: string; claims?: string; ttl?: string }): Promise<number> {
  const sub = values.agent ?? values.person;
  if (!sub || (values.agent && values.person)) return usage("token needs --agent SUB or --person SUB");
  const claims = values.claims ? JSON.parse(values.claims) : undefined;
  const ttl = Number(values.ttl ?? 3600);
  process.stdout.write(`${await mintDevToken(root, sub, { ttl, claims, person: Boolean(values.person) })}\n`);
  return 0;
}

function schemaCmd(out: string): number {
  mkdirSync(out, { recursive: true });
  for (const [file, schema] of Object.entries(SCHEMAS))
    writeFileSync(join(out, file), `${JSON.stringify(schema, null, 2)}\n`);
  console.error(`wrote ${Object.keys(SCHEMAS).length} schemas to ${out}`);
  return 0;
}

/**
 * `npm start` rebuilds on every edit under policies/: a failed dev build keeps the last good bundle in
 * place and succeeds, so wrangler reloads at once with it instead of hanging requests on a failed build
 * step. The problems were printed above; one line names the first and says what is served. With no good
 * bundle yet there is nothing to serve: the build fails, and so does wrangler's start. A deploy never
 * builds with the dev flag.
 */
function keepServing(out: string, failed: Problem[]): number {
  const [first] = failed;
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more above)` : "";
  const problem = `firebreak: ${first ? `${first.where}: ${first.message}` : "the build failed"}${more}`;
  if (!existsSync(out)) {
    console.error(`${problem}; no earlier bundle to serve (${out}): fix it and start again`);
    return 1;
  }
  const served = JSON.parse(readFileSync(out, "utf8")) as Bundle;
  const revision = served.manifest.revision.slice(0, 12);
  console.error(`${problem}; the gateway keeps serving bundle ${revision} until the next good edit`);
  return 0;
}

/** A reason the build failed: `file:line` and what is wrong there. */
type Problem = { where: string; message: string };

function usage(problem: string): number {
  if (problem) console.error(`firebreak: ${problem}\n`);
  console.error(USAGE);
  return 2;
}

/** The bundle, or null with the problems printed (and added to `failed`). */
function compileOrReport(policies: string, dev: boolean, failed: Problem[] = [], lint = false): Bundle | null {
  const result = compilePolicies(resolve(policies), { dev });
  if (!result.ok) {
    console.error(result.problems.format());
    console.error(`\n${result.problems.list.length} problem(s); nothing was written.`);
    failed.push(...result.problems.list);
    return null;
  }
  if (lint) printLintWarnings(result.bundle, result.sources, policies);
  return result.bundle;
}

function writeBundle(bundle: Bundle, out: string): void {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(bundle));
  const c = bundle.manifest.counts;
  console.error(
    `bundle ${bundle.manifest.revision.slice(0, 12)}${bundle.manifest.dev ? " (dev)" : ""}: ${c.services} services, ${c.actions} actions, ${c.rules} rules, ${c.profiles} profiles, ${c.issuers} issuers -> ${out}`,
  );
}

/** compile + test, printing lint findings as warnings (never failing on them). */
async function buildCmd(
  policies: string,
  out: string,
  dev: boolean,
  sign: Parameters<typeof signBuilt>[1] & { sign: boolean },
): Promise<number> {
  const failed: Problem[] = [];
  const bundle = compileOrReport(policies, dev, failed, true);
  if (bundle) failed.push(...testCmd(bundle, policies));
  if (!bundle || failed.length) return dev ? keepServing(out, failed) : 1;
  writeBundle(bundle, out);
  if (sign.sign) await signBuilt(out, sign);
  return 0;
}

function compileCmd(policies: string, out: string, dev: boolean): boolean {
  const bundle = compileOrReport(policies, dev);
  if (!bundle) return false;
  writeBundle(bundle, out);
  return true;
}

/** Runs the policy tests, printing each failure; what failed (none when all pass). */
function testCmd(bundle: Bundle, policies: string): Problem[] {
  const report = runPolicyTests(loadBundle(bundle), resolve(policies));
  if (report.problems.any) console.error(report.problems.format());
  for (const f of report.failed) console.error(`FAIL ${f.where} ${f.name}\n  ${f.diff.join("\n  ")}`);
  console.error(`policy tests: ${report.passed} passed, ${report.failed.length} failed`);
  return [
    ...report.problems.list,
    ...report.failed.map((f) => ({ where: f.where, message: `policy test "${f.name}" fails` })),
  ];
}
