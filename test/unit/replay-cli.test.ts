/**
 * `firebreak replay` and `firebreak task-log` in this process (their Io injected): flags and exit
 * codes, inputs (files, a directory, stdin, a bad line), the text report (no arguments, escaped
 * values) against --json (arguments included), and task-log paging a fake gateway on loopback
 * (refusals, a log that does not verify, a cursor that does not move, the token never printed).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../../src/cli/io";
import { replayCommand } from "../../src/cli/replay";
import { taskLogCommand } from "../../src/cli/task-log";
import { type Served, serve } from "../helpers/http-server";
import { writePolicySet } from "../helpers/policy-set";
import { bundle, LOG, policyFiles, RULES, T1, T2 } from "./replay-fixture";

const dir = mkdtempSync(join(tmpdir(), "firebreak-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NO_NOTES = { id: "no-notes", effect: "deny", actions: ["svc:notes.create"] };
const NO_READS = { id: "no-reads", effect: "deny", actions: ["kind:read"] };

function run(command: typeof replayCommand, args: string[], env: Record<string, string> = {}, stdin = "") {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { env, root: dir, out: (s) => out.push(s), err: (s) => err.push(s), stdin: () => stdin };
  return command(args, io).then((code) => ({ code, out: out.join(""), err: err.join("") }));
}
const replay = (args: string[], stdin?: string) => run(replayCommand, args, {}, stdin);

let deployed: string;
let candidate: string;
beforeAll(() => {
  mkdirSync(join(dir, "logs"));
  // Two exports of one log, split by task, plus a dotfile the directory read skips.
  const [t1, t2] = LOG.split(/\n(?=\{"task")/);
  writeFileSync(join(dir, "logs", "a.jsonl"), `${t1}\n`);
  writeFileSync(join(dir, "logs", "b.jsonl"), t2!);
  writeFileSync(join(dir, "logs", ".partial"), "not json");
  writeFileSync(join(dir, "all.jsonl"), LOG);
  deployed = join(dir, "deployed.json");
  writeFileSync(deployed, JSON.stringify(bundle().spec));
  candidate = writePolicySet(policyFiles({ rules: [...RULES, NO_NOTES] }));
});

describe("firebreak replay", () => {
  it("nothing changes with the deployed bundle: exit 0 and the summary", async () => {
    const r = await replay(["--bundle", deployed, "--from", "logs"]);
    expect([r.code, r.err]).toEqual([0, ""]);
    expect(r.out).toContain("2 task(s), 16 recorded call(s)");
    expect(r.out).toContain("no decision changes");
    expect(r.out.trim().split("\n").at(-1)).toBe(
      "13 calls re-decided, 0 change, 2 skipped without facts, 1 refused before the rules ran",
    );
  });

  it("a candidate that changes decisions: exit 1, grouped by rule, no arguments in the table", async () => {
    const r = await replay(["--policies", candidate, "--from", "all.jsonl"]);
    expect(r.code, r.err).toBe(1);
    const lines = r.out.split("\n");
    const header = lines.findIndex((l) => l.startsWith("no-notes ("));
    expect(lines[header]).toMatch(/^no-notes \(set-\d+\/rules\/rules\.yaml:\d+\): 1 change\(s\)$/);
    expect(lines[header + 3]).toBe("");
    expect(lines[header + 1]).toMatch(/^ {2}task +seq +time +action +resource +before +after$/);
    expect(lines[header + 2]).toMatch(
      new RegExp(
        `^  ${T1} +6 +2026-05-01T12:00:06.000Z +svc:notes.create +note:x +allow \\(policy.allowed\\) +deny \\(policy.denied\\)$`,
      ),
    );
    expect(r.out).not.toContain("hello");
    expect(r.out.trim().split("\n").at(-1)).toMatch(/^13 calls re-decided, 1 change, /);
  });

  it("--json has every change with its request facts, arguments included", async () => {
    const r = await replay(["--policies", candidate, "--from", "logs", "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report.summary).toEqual({
      tasks: 2,
      entries: 16,
      redecided: 13,
      changed: 1,
      skipped: { no_facts: 2, request_refused: 1, unknown_outcome: 0 },
    });
    expect(report.groups).toHaveLength(1);
    // T1 seq 11 stays denied (policy.denied, by no-notes-after-pii then, by both rules now).
    expect(report.groups[0].changes.map((c: { task: string; seq: number }) => [c.task, c.seq])).toEqual([[T1, 6]]);
    expect(report.groups[0].changes[0]).toMatchObject({
      time: "2026-05-01T12:00:06.000Z",
      decision_id: "d-6",
      request: { method: "POST", path: "/notes", query: [], args: { topic: "x", text: "hello" } },
      before: { effect: "allow", reason: "policy.allowed" },
      after: {
        effect: "deny",
        reason: "policy.denied",
        rules: ["no-notes"],
        action: "svc:notes.create",
        resource: "note:x",
      },
    });
  });

  it("reads standard input and escapes control characters from the log", async () => {
    const hostile = LOG.replace('"path":"/items/1"', '"path":"/items/%1B[2Jx"');
    const r = await replay(
      ["--policies", writePolicySet(policyFiles({ rules: [...RULES, NO_READS] })), "--from", "-"],
      hostile,
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain("item:\\x1b[2Jx");
    expect(r.out).not.toContain("\x1b");
    expect(r.out).not.toContain(T2); // T2 has reads only through approvals: nothing of it changes here
  });

  it.each([
    ["no candidate", ["--from", "all.jsonl"], "exactly one of --bundle FILE and --policies DIR"],
    ["two candidates", ["--bundle", "x.json", "--policies", "p", "--from", "all.jsonl"], "exactly one of"],
    ["no logs", ["--bundle", "deployed.json"], "name the logs with --from FILE"],
    [
      "--dev without --policies",
      ["--bundle", "deployed.json", "--dev", "--from", "all.jsonl"],
      "--dev goes with --policies",
    ],
    ["an unknown flag", ["--bundle", "deployed.json", "--from", "all.jsonl", "--since", "1h"], "--since"],
  ])("usage error, exit 2: %s", async (_name, args, words) => {
    const r = await replay(args);
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err).toContain(words);
  });

  it.each([
    ["a missing file", ["--from", "nope.jsonl"], "cannot read"],
    ["a line that is not JSON", ["--from", "-"], "stdin:2: not a JSON line"],
    ["a step before its task line", ["--from", "-"], 'stdin:1: a step before any {"task": ...} line'],
  ])("unreadable input, exit 2: %s", async (name, from, words) => {
    const stdin = name.includes("not JSON") ? `${LOG.split("\n")[0]}\n{oops\n` : `${LOG.split("\n")[1]}\n`;
    const r = await replay(["--bundle", deployed, ...from], stdin);
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err).toContain(words);
  });

  it("a candidate that does not load or compile: exit 2, nothing re-decided", async () => {
    writeFileSync(join(dir, "old.json"), JSON.stringify({ manifest: { format: 0 } }));
    const old = await replay(["--bundle", "old.json", "--from", "all.jsonl"]);
    expect([old.code, old.out]).toEqual([2, ""]);
    expect(old.err).toContain("does not load: bundle format 0");
    const broken = writePolicySet(policyFiles({ rules: [{ id: "x", effect: "maybe" }] }));
    const r = await replay(["--policies", broken, "--from", "all.jsonl"]);
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err).toContain("do not compile");
  });
});

describe("firebreak task-log against a fake gateway", () => {
  const TOKEN = "operator-token-canary-5e1f";
  const task = { task_id: T1, profile: "work", agent: { issuer: "ci", sub: "bot", claims: {} } };
  const steps = LOG.split("\n")
    .slice(1, 17)
    .map((l) => JSON.parse(l));
  let gw: Served;
  let mode = "ok";
  const seen: string[] = [];
  beforeAll(async () => {
    gw = await serve((req) => {
      const url = new URL(req.url);
      seen.push(`${url.pathname}${url.search} ${req.headers.get("authorization")}`);
      if (req.headers.get("authorization") !== `Bearer ${TOKEN}`)
        return Response.json(
          { error: "forbidden", reason: "admin.denied", message: "Operators only." },
          { status: 403 },
        );
      const cursor = Number(url.searchParams.get("cursor"));
      const page = steps.filter((s) => s.seq > cursor).slice(0, 6); // pages of 6, whatever limit asks
      const last = page.at(-1)?.seq ?? cursor;
      const next = mode === "stuck" ? cursor : last < 16 ? last : null;
      const log = mode === "broken" ? { ok: false, broken_at: 7 } : { ok: true };
      return Response.json({ task, steps: page, next_cursor: next, log_length: 16, log });
    });
  });
  afterAll(() => gw?.close());
  const taskLog = (args: string[], token = TOKEN) =>
    run(taskLogCommand, [...args, "--url", gw.url.origin], token ? { FIREBREAK_ADMIN_TOKEN: token } : {});

  it("pages through the whole log: the task line, then every entry once, in order", async () => {
    mode = "ok";
    seen.length = 0;
    const r = await taskLog([T1]);
    expect([r.code, r.err]).toEqual([0, ""]);
    const lines = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ task, log: { ok: true } });
    expect(lines.slice(1).map((s) => s.seq)).toEqual(steps.map((s) => s.seq));
    expect(seen.map((s) => s.split(" ")[0])).toEqual(
      [0, 6, 12].map((c) => `/_firebreak/v1/tasks/${T1}?cursor=${c}&limit=500`),
    );
    // What it prints replays.
    const replayed = await replay(["--bundle", deployed, "--from", "-"], r.out);
    expect(replayed.code).toBe(0);
  });

  it.each([
    ["a refusal", "ok", "wrong-token", "the gateway answered 403 admin.denied: Operators only."],
    ["a log that does not verify", "broken", TOKEN, "hash chain broken at seq 7"],
    ["a cursor that does not move", "stuck", TOKEN, "next_cursor does not move forward"],
  ])("%s: exit 1, nothing printed, no token", async (_name, m, token, words) => {
    mode = m;
    const r = await taskLog([T1], token);
    expect([r.code, r.out]).toEqual([1, ""]);
    expect(r.err).toContain(words);
    expect(r.err).not.toContain(token);
  });

  it("no gateway: exit 1", async () => {
    const r = await run(taskLogCommand, [T1, "--url", "http://127.0.0.1:9"], { FIREBREAK_ADMIN_TOKEN: TOKEN });
    expect([r.code, r.out]).toEqual([1, ""]);
    expect(r.err).toContain("no answer from the gateway at http://127.0.0.1:9");
  });

  it.each([
    ["no task id", [], TOKEN, "name a task id"],
    ["a bad task id", ["t_nope"], TOKEN, '"t_nope" is not a task id'],
    ["no token", [T1], "", "FIREBREAK_ADMIN_TOKEN"],
    ["a bad URL", [T1, "--url", "::"], TOKEN, "--url must be a URL"],
  ])("usage error, exit 2: %s", async (_name, args, token, words) => {
    const r = await run(taskLogCommand, args, token ? { FIREBREAK_ADMIN_TOKEN: token } : {});
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err).toContain(words);
  });
});
