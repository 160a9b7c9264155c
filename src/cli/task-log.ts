/**
 * `firebreak task-log TASK_ID... [--url URL]`: a task's whole step log from a running gateway
 * (GET /_firebreak/v1/tasks/:id, page by page) as JSON Lines: `{"task": {...}, "log": {...}}`, then one
 * line per entry. That is `firebreak replay`'s input; several exports concatenated are too.
 *
 * The operator's token is read from FIREBREAK_ADMIN_TOKEN (never a flag: not in `ps` or shell
 * history) and goes only into the Authorization header. Output is written only once every page has
 * arrived and the log's hash chain verified, so a failed export never leaves half a log to replay.
 * Exit codes: 0 exported, 1 the gateway refused or did not answer, or a chain did not verify; 2 usage.
 */
import { parseArgs } from "node:util";
import { isTaskId } from "../identity/task-token";
import { taskLine } from "../replay/log";
import { gatewayBase, getFromGateway } from "./gateway-client";
import { defaultIo, type Io } from "./io";

export const TASK_LOG_USAGE = `firebreak task-log TASK_ID... [--url URL]

  Prints each task's step log as JSON Lines (a {"task": ...} line, then one line per entry), the input
  of \`firebreak replay\`. URL: the gateway (default FIREBREAK_GATEWAY, else http://127.0.0.1:8787).
  Needs an operator's token (settings.admins) in FIREBREAK_ADMIN_TOKEN.`;

/** Entries per page: the most GET /_firebreak/v1/tasks/:id gives. */
const PAGE = 500;

export async function taskLogCommand(args: string[], io: Io = defaultIo()): Promise<number> {
  const usage = (problem: string) => {
    io.err(`firebreak task-log: ${problem}\n\n${TASK_LOG_USAGE}\n`);
    return 2;
  };
  let parsed: { values: { url?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { url: { type: "string" }, help: { type: "boolean" } },
    });
  } catch (e) {
    return usage((e as Error).message.split("\n")[0] ?? "bad arguments");
  }
  if (parsed.values.help) {
    io.out(`${TASK_LOG_USAGE}\n`);
    return 0;
  }
  const ids = parsed.positionals;
  if (ids.length === 0) return usage("name a task id (t_ and 26 characters)");
  const bad = ids.find((id: string) => !isTaskId(id)) as string | undefined;
  if (bad !== undefined) return usage(`${JSON.stringify(bad.slice(0, 40))} is not a task id (t_ and 26 characters)`);
  const token = io.env.FIREBREAK_ADMIN_TOKEN ?? "";
  if (!token) return usage("set FIREBREAK_ADMIN_TOKEN to an operator's token (an identity matching settings.admins)");
  const base = gatewayBase(parsed.values.url, io.env);
  if (!base) return usage("--url must be a URL such as http://127.0.0.1:8787");

  const lines: string[] = [];
  for (const id of ids) {
    const exported = await exportTask(base, id, token);
    if (typeof exported === "string") {
      io.err(`firebreak task-log: ${id}: ${exported}\n`);
      return 1;
    }
    lines.push(...exported);
  }
  io.out(lines.map((l) => `${l}\n`).join(""));
  return 0;
}

/** One task's lines, or what went wrong. */
async function exportTask(base: URL, id: string, token: string): Promise<string[] | string> {
  const lines: string[] = [];
  let cursor = 0;
  for (;;) {
    const url = new URL(`/_firebreak/v1/tasks/${id}?cursor=${cursor}&limit=${PAGE}`, base);
    const got = await getFromGateway(url, token);
    if (!got.ok) return got.problem;
    const view = got.body as { task?: unknown; log?: { ok?: boolean; broken_at?: number }; steps?: unknown };
    const next = got.body.next_cursor;
    if (typeof view.task !== "object" || view.task === null || !Array.isArray(view.steps)) {
      return "the gateway's answer is not a task view";
    }
    if (view.log?.ok !== true) {
      return `its log does not verify (hash chain broken at seq ${view.log?.broken_at ?? "?"}): not exported`;
    }
    if (cursor === 0) lines.push(taskLine(view.task as never, view.log));
    for (const step of view.steps) lines.push(JSON.stringify(step));
    if (next === null || next === undefined) return lines;
    if (typeof next !== "number" || next <= cursor) return "the gateway's next_cursor does not move forward";
    cursor = next;
  }
}
