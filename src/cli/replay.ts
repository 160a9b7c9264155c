/**
 * `firebreak replay (--bundle FILE | --policies DIR [--dev]) --from FILE... [--json]`: recorded calls
 * (task step logs, as `firebreak task-log` prints them) decided again with a candidate bundle; every
 * decision that would change, grouped by what decides it now (docs/replay.md).
 *
 * Exit codes: 0 nothing changes, 1 something does (a CI gate), 2 usage or unreadable input (a flag, a
 * file, a log line, a candidate that does not compile or load). Output carries only what the log
 * holds; the declared arguments (which may hold an agent's or a user's text) only with --json.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { compilePolicies } from "../compiler/compile";
import { type LoadedBundle, loadBundle } from "../policy/load";
import type { Recorded } from "../replay/history";
import { LogError, mergeLogs, parseLog, type TaskLog } from "../replay/log";
import type { Redecided } from "../replay/redecide";
import { type Change, changeCount, type ReplayReport, replay } from "../replay/replay";
import { defaultIo, type Io } from "./io";
import { printable, table } from "./output";

export const REPLAY_USAGE = `firebreak replay (--bundle FILE | --policies DIR [--dev]) --from FILE... [--json]

  --bundle FILE     the candidate: a compiled bundle (firebreak compile --out FILE)
  --policies DIR    or compile the candidate from a policies directory (--dev: with its dev overlay)
  --from FILE       step logs as JSON Lines (firebreak task-log); a directory reads every file in it,
                    - reads standard input; repeat --from or list more files after it
  --json            the report as JSON, with each changed call's request facts (arguments included)

  Exit 0: no decision changes; 1: some do; 2: usage or unreadable input.`;

const OPTIONS = {
  bundle: { type: "string" },
  policies: { type: "string" },
  dev: { type: "boolean" },
  from: { type: "string", multiple: true },
  json: { type: "boolean" },
  help: { type: "boolean" },
} as const;

export async function replayCommand(args: string[], io: Io = defaultIo()): Promise<number> {
  const usage = (problem: string) => {
    io.err(`firebreak replay: ${problem}\n\n${REPLAY_USAGE}\n`);
    return 2;
  };
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true }));
  } catch (e) {
    return usage((e as Error).message.split("\n")[0] ?? "bad arguments");
  }
  if (values.help) {
    io.out(`${REPLAY_USAGE}\n`);
    return 0;
  }
  if ((values.bundle === undefined) === (values.policies === undefined)) {
    return usage("name the candidate with exactly one of --bundle FILE and --policies DIR");
  }
  if (values.dev && values.policies === undefined) return usage("--dev goes with --policies");
  const inputs = [...(values.from ?? []), ...(values.from ? positionals : [])];
  if (inputs.length === 0 || (positionals.length > 0 && !values.from)) return usage("name the logs with --from FILE");

  const bundle = candidate(values.bundle, values.policies, Boolean(values.dev), io);
  if (typeof bundle === "string") {
    io.err(`firebreak replay: ${bundle}\n`);
    return 2;
  }
  const logs = readLogs(inputs, io);
  if (typeof logs === "string") {
    io.err(`firebreak replay: ${logs}\n`);
    return 2;
  }
  const report = replay(bundle, logs);
  io.out(values.json ? `${JSON.stringify(jsonReport(report), null, 2)}\n` : textReport(report));
  return changeCount(report) > 0 ? 1 : 0;
}

/** The candidate bundle, loaded as the worker loads it; a string says why it cannot be. */
function candidate(file: string | undefined, dir: string | undefined, dev: boolean, io: Io): LoadedBundle | string {
  if (dir !== undefined) {
    const result = compilePolicies(resolve(io.root, dir), { dev });
    if (!result.ok) return `the candidate policies do not compile:\n${result.problems.format()}`;
    return loadBundle(JSON.parse(JSON.stringify(result.bundle)));
  }
  try {
    return loadBundle(JSON.parse(readFileSync(resolve(io.root, file!), "utf8")));
  } catch (e) {
    return `the candidate bundle ${file} does not load: ${(e as Error).message.split("\n")[0]}`;
  }
}

/** Every input (files, the files of a directory, `-` for stdin), parsed and merged by task. */
function readLogs(inputs: string[], io: Io): TaskLog[] | string {
  const logs: TaskLog[] = [];
  try {
    for (const input of inputs) {
      if (input === "-") {
        logs.push(...parseLog(io.stdin?.() ?? "", "stdin"));
        continue;
      }
      const path = resolve(io.root, input);
      const files = statSync(path).isDirectory()
        ? readdirSync(path)
            .filter((f) => !f.startsWith(".") && statSync(join(path, f)).isFile())
            .sort()
            .map((f) => join(input, f))
        : [input];
      for (const f of files) logs.push(...parseLog(readFileSync(resolve(io.root, f), "utf8"), f));
    }
  } catch (e) {
    if (e instanceof LogError) return e.message;
    const err = e as NodeJS.ErrnoException;
    return `cannot read ${err.path ?? "the input"}: ${err.code ?? err.message}`;
  }
  return mergeLogs(logs);
}

const iso = (ts: number) => new Date(ts).toISOString();

/** What the rules said then, and the task object's (or approval's) refusal that followed, if any. */
const beforeWords = (b: Recorded) =>
  `${b.effect} (${b.reason})${b.effect !== "deny" && b.ended?.includes(".") ? `, then refused ${b.ended}` : ""}`;
const afterWords = (a: Redecided) => `${a.effect} (${a.reason})`;

function actionWords(c: Change): string {
  const now = c.after.action;
  if (now === null || now === c.action) return c.action ?? "-";
  return c.action ? `${c.action} -> ${now}` : now;
}

/** The table for people: no arguments, no query, values from the log escaped (printable()). */
function textReport(r: ReplayReport): string {
  const out: string[] = [];
  const dev = r.bundle.dev ? " (dev overlay)" : "";
  out.push(
    `candidate bundle ${r.bundle.revision.slice(0, 12)}${dev}: ${r.tasks} task(s), ${r.entries} recorded call(s)`,
  );
  for (const g of r.groups) {
    const sources = g.rules.map((x) => `${x.id} (${x.source || "?"})`).join(", ");
    out.push("", `${printable(g.rules.length > 0 ? sources : g.name)}: ${g.changes.length} change(s)`);
    const rows = g.changes.map((c) => [
      c.task,
      c.seq,
      iso(c.ts),
      actionWords(c),
      c.after.resource ?? c.resource ?? "-",
      beforeWords(c.before),
      afterWords(c.after),
    ]);
    const headers = ["task", "seq", "time", "action", "resource", "before", "after"];
    out.push(
      ...table(headers, rows)
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }
  if (r.groups.length === 0) out.push("", "no decision changes");
  out.push("", summary(r));
  return `${out.join("\n")}\n`;
}

function summary(r: ReplayReport): string {
  const parts = [`${r.redecided} calls re-decided`, `${changeCount(r)} change`];
  parts.push(`${r.skipped.no_facts} skipped without facts`);
  if (r.skipped.request_refused > 0) parts.push(`${r.skipped.request_refused} refused before the rules ran`);
  if (r.skipped.unknown_outcome > 0) parts.push(`${r.skipped.unknown_outcome} with an outcome replay does not know`);
  return parts.join(", ");
}

function jsonReport(r: ReplayReport) {
  return {
    bundle: r.bundle,
    summary: {
      tasks: r.tasks,
      entries: r.entries,
      redecided: r.redecided,
      changed: changeCount(r),
      skipped: r.skipped,
    },
    groups: r.groups.map((g) => ({
      group: g.name,
      rules: g.rules,
      changes: g.changes.map((c) => ({
        task: c.task,
        seq: c.seq,
        time: iso(c.ts),
        decision_id: c.decision_id,
        kind: c.kind,
        service: c.service,
        action: c.action,
        resource: c.resource,
        request: { method: c.facts.method, path: c.facts.path, query: c.facts.query, args: c.facts.args },
        before: c.before,
        after: c.after,
      })),
    })),
  };
}
