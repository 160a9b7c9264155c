/**
 * `firebreak decisions`: recorded decisions, from the Analytics Engine SQL API (account id and API
 * token from the environment) or, with --local, from the running `npm start` gateway's local store
 * (GET /_firebreak/v1/decisions with an operator's token). Both go through the same query parser and
 * builder as the worker (src/decisions/). Exit codes: 0 ok, 1 the store answered an error, 2 usage.
 *
 * The API token is read from the environment (never a flag, so it is not in `ps` or shell history)
 * and appears only in the Authorization header: no output or error message carries it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ANALYTICS_API, validAccountId } from "../decisions/analytics-api";
import { type DecisionQuery, parseQuery, QUERY_PARAMS, type QueryInput, toParams } from "../decisions/query";
import { type BucketRow, type CountRow, type DecisionResult, type DecisionRow, LIST_FIELDS } from "../decisions/rows";
import { DEFAULT_DATASET, queryDecisions } from "../decisions/source";
import { gatewayBase, getFromGateway } from "./gateway-client";
import { defaultIo, type Io } from "./io";
import { type Cell, csv, table } from "./output";

export const DECISIONS_USAGE = `firebreak decisions [filters] [--view list|counts|timeseries] [--json | --csv]

  filters   --since T --until T   ISO time (2026-05-01T12:00:00Z) or back from now (30m, 1h, 7d);
                                  default: the last 24 hours
            --agent ISSUER:SUB|SUB  --task ID  --service NAME  --action NAME
            --effect allow|deny|approval_required  --reason CODE
            --asi ASI01..ASI10    the reason's OWASP Agentic id (docs/standards.md)
            --would-deny          only what report-mode rules would have blocked
  views     --view list [--limit N]                    newest first (default, 50)
            --view counts --by effect|reason|asi|action|agent [--limit N]
            --view timeseries --bucket 5m|1h|1d [--by ...]
  source    Analytics Engine: CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics Read),
            dataset from wrangler.toml or --dataset NAME
            --local [--gateway URL]: the npm start gateway's local store (default http://127.0.0.1:8787),
            with an operator's token in FIREBREAK_ADMIN_TOKEN`;

const OPTIONS = {
  since: { type: "string" },
  until: { type: "string" },
  agent: { type: "string" },
  task: { type: "string" },
  service: { type: "string" },
  action: { type: "string" },
  effect: { type: "string" },
  reason: { type: "string" },
  asi: { type: "string" },
  "would-deny": { type: "boolean" },
  view: { type: "string" },
  by: { type: "string" },
  bucket: { type: "string" },
  limit: { type: "string" },
  json: { type: "boolean" },
  csv: { type: "boolean" },
  local: { type: "boolean" },
  gateway: { type: "string" },
  dataset: { type: "string" },
  help: { type: "boolean" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

export async function decisionsCommand(args: string[], io: Io = defaultIo()): Promise<number> {
  const usage = (problem: string) => {
    io.err(`firebreak decisions: ${problem}\n\n${DECISIONS_USAGE}\n`);
    return 2;
  };
  let values: Values;
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    // parseArgs' own words name the option; no stack trace.
    return usage((e as Error).message.split("\n")[0] ?? "bad arguments");
  }
  if (values.help) {
    io.out(`${DECISIONS_USAGE}\n`);
    return 0;
  }
  if (values.json && values.csv) return usage("choose one of --json and --csv");
  const parsed = parseQuery(queryInput(values), Date.now());
  if (!parsed.ok) return usage(flagWords(parsed.problem));
  const query = parsed.query;

  const result = values.local ? await fromGateway(query, values, io) : await fromAnalytics(query, values, io);
  if (typeof result === "number") return result;
  if (typeof result === "string") return usage(result);
  print(query, result, values, io);
  return 0;
}

/** The parser speaks of parameters (`since must be ...`); the CLI user typed flags (`--since`). */
function flagWords(problem: string): string {
  const first = /^\w+/.exec(problem)?.[0] ?? "";
  if (!(QUERY_PARAMS as readonly string[]).includes(first)) return problem;
  return `--${first.replace("_", "-")}${problem.slice(first.length)}`;
}

/** Flags -> the parser's parameters: each flag is its parameter's name, `_` written `-`. */
function queryInput(v: Values): QueryInput {
  const flags = v as Record<string, string | boolean | undefined>;
  const input: QueryInput = {};
  for (const param of QUERY_PARAMS) {
    const value = flags[param.replace("_", "-")];
    if (value !== undefined && value !== false) input[param] = value;
  }
  return input;
}

/** What --json prints, from either source. */
type Answer = DecisionResult & { source: string; since: string; until: string };
type Fetched = Answer | number | string;

/** The Analytics Engine SQL API; a string is a usage problem, a number an exit code already reported. */
async function fromAnalytics(query: DecisionQuery, values: Values, io: Io): Promise<Fetched> {
  const accountId = io.env.CLOUDFLARE_ACCOUNT_ID ?? "";
  const token = io.env.CLOUDFLARE_API_TOKEN ?? "";
  const missing = [!accountId && "CLOUDFLARE_ACCOUNT_ID", !token && "CLOUDFLARE_API_TOKEN"].filter(Boolean);
  if (missing.length > 0) {
    return `set ${missing.join(" and ")} (an API token with Account Analytics Read), or use --local after npm start`;
  }
  if (!validAccountId(accountId)) return "CLOUDFLARE_ACCOUNT_ID is not an account id";
  const dataset = values.dataset ?? datasetFromWrangler(io.root) ?? DEFAULT_DATASET;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(dataset)) return "the dataset name must be a plain SQL identifier";
  // FIREBREAK_ANALYTICS_API: for tests only (a fake SQL API on loopback); never needed otherwise.
  const base = io.env.FIREBREAK_ANALYTICS_API || ANALYTICS_API;
  const out = await queryDecisions(
    { kind: "analytics_engine", dataset, api: { base, accountId, token, fetch: (r) => fetch(r) } },
    query,
  );
  if (!out.ok) {
    const what = out.status === null ? "did not answer" : `answered ${out.status}`;
    io.err(`firebreak decisions: the Analytics Engine SQL API ${what}: ${out.message}\n`);
    return 1;
  }
  const { since, until } = query.filters;
  return {
    view: out.result.view,
    source: out.source,
    estimated: out.result.estimated,
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    rows: out.result.rows,
  };
}

/** The running gateway's GET /_firebreak/v1/decisions (its local store after npm start). */
async function fromGateway(query: DecisionQuery, values: Values, io: Io): Promise<Fetched> {
  const token = io.env.FIREBREAK_ADMIN_TOKEN ?? "";
  if (!token) {
    return "--local needs an operator's token in FIREBREAK_ADMIN_TOKEN (an agent matching settings.admins), e.g. export FIREBREAK_ADMIN_TOKEN=$(npx firebreak token --agent ops)";
  }
  const base = gatewayBase(values.gateway, io.env);
  if (!base) return "--gateway must be a URL such as http://127.0.0.1:8787";
  const got = await getFromGateway(new URL(`/_firebreak/v1/decisions?${toParams(query)}`, base), token);
  if (!got.ok || !Array.isArray(got.body.rows)) {
    io.err(`firebreak decisions: ${got.ok ? "the gateway answered without rows" : got.problem}\n`);
    return 1;
  }
  return got.body as unknown as Answer;
}

/** `dataset` of the DECISIONS binding in wrangler.toml's top level (the deployed worker's), or null. */
export function datasetFromWrangler(root: string): string | null {
  let text: string;
  try {
    text = readFileSync(join(root, "wrangler.toml"), "utf8");
  } catch {
    return null;
  }
  return datasetOf(text);
}

export function datasetOf(toml: string): string | null {
  // Only the top level: `[env.<name>]` tables configure other deployments.
  const top = toml.split(/^\s*\[+\s*env\./m)[0] ?? "";
  for (const block of top.split(/^\s*\[\[\s*analytics_engine_datasets\s*\]\]\s*$/m).slice(1)) {
    const body = block.split(/^\s*\[/m)[0] ?? "";
    const get = (key: string) => new RegExp(`^\\s*${key}\\s*=\\s*["']([^"']*)["']`, "m").exec(body)?.[1];
    if (get("binding") === "DECISIONS") return get("dataset") ?? null;
  }
  return null;
}

function print(query: DecisionQuery, result: Answer, values: Values, io: Io): void {
  const note = result.estimated
    ? "note: these figures are estimates: Analytics Engine sampled some of these decisions (_sample_interval > 1), and counts are weighted by _sample_interval"
    : "";
  if (values.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    if (note) io.err(`${note}\n`);
    return;
  }
  const { headers, rows } = values.csv ? csvShape(query, result) : tableShape(query, result);
  if (values.csv) {
    io.out(csv(headers, rows));
    if (note) io.err(`${note}\n`);
    return;
  }
  io.out(rows.length === 0 ? "no decisions match\n" : `${table(headers, rows)}\n`);
  if (note) io.out(`\n${note}\n`);
}

const LIST_TABLE: (keyof DecisionRow)[] = [
  "ts",
  "agent",
  "effect",
  "reason",
  "asi",
  "action",
  "resource",
  "status",
  "task_id",
  "decision_id",
];

function tableShape(query: DecisionQuery, result: DecisionResult): { headers: string[]; rows: Cell[][] } {
  if (query.view.kind !== "list") return csvShape(query, result);
  const rows = result.rows as DecisionRow[];
  const headers: string[] = [...LIST_TABLE];
  const would = rows.some((r) => r.would_effect !== "");
  if (would) headers.push("would");
  if (result.estimated) headers.push("sample_interval");
  return {
    headers,
    rows: rows.map((r) => {
      const cells: Cell[] = LIST_TABLE.map((k) => r[k] || "-");
      if (would) cells.push(r.would_effect ? `${r.would_effect} (${r.would_reason})` : "-");
      if (result.estimated) cells.push(r.sample_interval);
      return cells;
    }),
  };
}

function csvShape(query: DecisionQuery, result: DecisionResult): { headers: string[]; rows: Cell[][] } {
  const v = query.view;
  if (v.kind === "counts") {
    return { headers: [v.by, "decisions"], rows: (result.rows as CountRow[]).map((r) => [r.key, r.n]) };
  }
  if (v.kind === "timeseries") {
    const rows = result.rows as BucketRow[];
    return v.by === undefined
      ? { headers: ["bucket", "decisions"], rows: rows.map((r) => [r.bucket, r.n]) }
      : { headers: ["bucket", v.by, "decisions"], rows: rows.map((r) => [r.bucket, r.key ?? "", r.n]) };
  }
  const rows = result.rows as DecisionRow[];
  const headers = ["ts", "sample_interval", ...LIST_FIELDS];
  return { headers, rows: rows.map((r) => headers.map((h) => (r as Record<string, Cell>)[h] ?? "")) };
}
