/**
 * The decision log line as operators read it (issue 5, "Logs"): real decision lines from the bundled
 * gateway in miniflare, wrapped the way `wrangler tail --format json` prints an event (`logs[].message`)
 * and the way Logpush writes Workers Trace Events (`Logs[].Message`), fed through the walkthrough's
 * commands exactly as written (extracted from docs/walkthrough.md, "Seeing decisions", run with sh and
 * jq). The log line's fields are the ones docs/analytics.md documents, no more and no fewer.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import keys from "../fixtures/keys.json" with { type: "json" };
import { token } from "../helpers/tokens";
import { outbound } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const WALKTHROUGH = readFileSync(join(ROOT, "docs", "walkthrough.md"), "utf8");
const ANALYTICS_DOC = readFileSync(join(ROOT, "docs", "analytics.md"), "utf8");
const TAIL = "npx wrangler tail --format json | ";
const LOGPUSH = "zcat logpush/20261201/*.log.gz | ";

/** The walkthrough's command lines that start with `prefix` (inside its shell blocks, indentation trimmed). */
const commands = (prefix: string) =>
  WALKTHROUGH.split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(prefix));

let gw: Gateway;
let lines: string[];
let dir: string;

beforeAll(async () => {
  gw = await startGateway({
    bundlePath: join(ROOT, "test", ".generated", "gateway.json"),
    bindings: { GITHUB_TOKEN: "canary-gh-recipes", TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }) },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
  const bearer = { authorization: `Bearer ${await token({ sub: "triage-bot" })}` };
  const agent1 = { authorization: `Bearer ${await token({ sub: "agent-1" })}` };
  const calls: [string, RequestInit][] = [
    ["/github/repos/acme/api/issues/1", { headers: agent1 }], // allowed
    ["/github/repos/evil/x/issues/1", { headers: agent1 }], // policy.denied
    ["/github/repos/acme/api/issues/1", { headers: bearer }], // policy.no_match (triage-bot has no rule here)
    ["/github/repos/acme/api/issues/2", { headers: bearer }], // policy.no_match
  ];
  const ids: string[] = [];
  for (const [path, init] of calls) {
    const res = await gw.mf.dispatchFetch(new URL(path, gw.url), init as never);
    await res.arrayBuffer();
    ids.push(res.headers.get("firebreak-decision-id")!);
  }
  lines = [];
  for (const id of ids) lines.push(JSON.stringify(await gw.decision(id)));

  dir = mkdtempSync(join(tmpdir(), "firebreak-recipes-"));
  // A non-decision log line in the same events, as a worker logs other things too.
  const other = JSON.stringify({ event: "firebreak.api", reason: "task.unavailable" });
  const tailEvents = lines.map((line, i) => ({
    outcome: "ok",
    scriptName: "firebreak",
    exceptions: [],
    logs: [
      { message: [line], level: "log", timestamp: 1_796_000_000_000 + i },
      ...(i === 0 ? [{ message: [other], level: "error", timestamp: 1_796_000_000_000 }] : []),
    ],
    eventTimestamp: 1_796_000_000_000 + i,
    event: { request: { url: "https://firebreak.acme.example/github/...", method: "GET", headers: {} } },
  }));
  // wrangler tail --format json prints each event as pretty-printed JSON.
  writeFileSync(join(dir, "tail.json"), tailEvents.map((e) => JSON.stringify(e, null, 2)).join("\n"));
  mkdirSync(join(dir, "logpush", "20261201"), { recursive: true });
  const trace = lines.map((line, i) => ({
    ScriptName: "firebreak",
    Outcome: "ok",
    EventTimestampMs: 1_796_000_000_000 + i,
    Logs: [{ Level: "log", Message: [line], TimestampMs: 1_796_000_000_000 + i }],
    Exceptions: [],
  }));
  for (const [n, part] of [trace.slice(0, 2), trace.slice(2)].entries()) {
    writeFileSync(
      join(dir, "logpush", "20261201", `part-${n}.log.gz`),
      gzipSync(`${part.map((t) => JSON.stringify(t)).join("\n")}\n`),
    );
  }
});

afterAll(async () => {
  await gw?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs one walkthrough command line in the fixture directory: `wrangler tail` output on stdin for tail recipes. */
function run(command: string): string {
  const tail = command.startsWith(TAIL);
  const script = tail ? command.slice(TAIL.length) : command;
  return execFileSync("sh", ["-c", script], {
    cwd: dir,
    input: tail ? readFileSync(join(dir, "tail.json")) : undefined,
    encoding: "utf8",
  });
}

describe("the decision log line", () => {
  it("has exactly the fields docs/analytics.md documents", () => {
    const table = ANALYTICS_DOC.slice(ANALYTICS_DOC.indexOf("## Log line"), ANALYTICS_DOC.indexOf("## Analytics"));
    const documented = [...table.matchAll(/^\| (`[a-z_]+`(?:, `[a-z_]+`)*) +\|/gm)].flatMap((m) =>
      m[1]!.split(", ").map((f) => f.replaceAll("`", "")),
    );
    const fields = Object.keys(JSON.parse(lines[0]!));
    expect(documented.sort()).toEqual([...fields].sort());
    for (const field of ["decision_id", "bundle_revision", "agent_sub", "task_id", "service", "action"])
      expect(fields).toContain(field);
    for (const field of ["resource", "effect", "reason", "rules", "latency_ms", "upstream_status"])
      expect(fields).toContain(field);
  });
});

describe("the walkthrough's log recipes, run as written", () => {
  it("lists every recipe this test runs (so an edited walkthrough cannot drop one silently)", () => {
    expect(commands(TAIL)).toHaveLength(4);
    expect(commands(LOGPUSH)).toHaveLength(1);
  });

  it("wrangler tail: every decision, one JSON object per line, nothing else", () => {
    const out = run(commands(TAIL)[0]!).trim().split("\n");
    expect(out.map((l) => JSON.parse(l))).toEqual(lines.map((l) => JSON.parse(l)));
  });

  it("wrangler tail: refusals only, as tab-separated time, agent, action, reason", () => {
    const out = run(commands(TAIL)[1]!).trim().split("\n");
    const refused = lines.map((l) => JSON.parse(l)).filter((r) => r.effect !== "allow");
    expect(refused.map((r) => r.reason)).toEqual(["policy.denied", "policy.no_match", "policy.no_match"]);
    expect(out).toEqual(refused.map((r) => [r.ts, r.agent_sub, r.action, r.reason].join("\t")));
  });

  it("wrangler tail: one agent's decisions", () => {
    const out = run(commands(TAIL)[2]!).trim().split("\n");
    expect(out.map((l) => JSON.parse(l).agent_sub)).toEqual(["triage-bot", "triage-bot"]);
  });

  it("wrangler tail: one task's decisions (none here: these calls carry no task)", () => {
    expect(run(commands(TAIL)[3]!)).toBe("");
  });

  it("Logpush: decisions per reason over a day of files", () => {
    const out = run(commands(LOGPUSH)[0]!).trim().split("\n");
    expect(out).toEqual(["2\tpolicy.no_match", "1\tpolicy.allowed", "1\tpolicy.denied"].sort());
  });
});
