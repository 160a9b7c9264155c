/**
 * `firebreak decisions` as a real child process against a fake Analytics Engine SQL API on loopback
 * (test/helpers/fake-analytics.ts): the fake checks the path, the bearer token and parses every
 * statement strictly, then runs it over fixture rows, some sampled (`_sample_interval` 10). So the
 * WHERE clauses, the escaping of hostile values, the weighted counts and the estimate note are all
 * checked on what actually crossed the wire; the API token must appear in no output.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { predicates, type StoredRow, storedRow } from "../helpers/decisions-sql";
import { type FakeAnalytics, startFakeAnalytics } from "../helpers/fake-analytics";
import { ROOT } from "./helpers/gateway";

const run = promisify(execFile);
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const TOKEN = "canary-cf-cli-token-8d2e51";
const NASTY = "x' OR 1=1 --";
const NOW = Date.now();

const row = (over: Record<string, string | number>): StoredRow =>
  storedRow({
    timestamp: NOW - 3600_000,
    index1: "workloads:triage-bot",
    blob2: `d-${Math.random().toString(36).slice(2, 10)}`,
    blob4: "allow",
    blob5: "policy.allowed",
    blob8: "workloads",
    blob9: "triage-bot",
    blob11: "github",
    blob12: "github:issues.get",
    double1: 200,
    ...over,
  });

const ROWS: StoredRow[] = [
  row({ timestamp: NOW - 60_000 }),
  row({
    timestamp: NOW - 120_000,
    blob4: "deny",
    blob5: "policy.no_match",
    blob12: "github:pulls.merge",
    double1: 403,
    blob16: "ASI02",
    _sample_interval: 10,
  }),
  row({
    timestamp: NOW - 180_000,
    blob4: "deny",
    blob5: "policy.no_match",
    blob12: "github:pulls.merge",
    double1: 403,
    blob16: "ASI02",
    _sample_interval: 10,
  }),
  row({
    timestamp: NOW - 240_000,
    blob4: "deny",
    blob5: "policy.denied",
    double1: 403,
    blob6: "deny",
    blob7: "policy.denied",
    blob16: "ASI02",
    double4: 1,
  }),
  row({
    timestamp: NOW - 300_000,
    blob4: "deny",
    blob5: "policy.denied",
    index1: `workloads:${NASTY}`,
    blob9: NASTY,
    double1: 403,
    blob16: "ASI02",
  }),
  row({ timestamp: NOW - 360_000, blob1: "v0", blob4: "deny" }), // another layout: never read
  row({ timestamp: NOW - 3 * 86_400_000, blob4: "deny" }), // outside the default window
];

let fake: FakeAnalytics;

beforeAll(async () => {
  fake = await startFakeAnalytics({ accountId: ACCOUNT, token: TOKEN, rows: ROWS });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.received.length = 0;
});

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const full: Record<string, string | undefined> = {
    ...process.env,
    CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
    CLOUDFLARE_API_TOKEN: TOKEN,
    FIREBREAK_ANALYTICS_API: fake.base,
    ...env,
  };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  try {
    const r = await run(process.execPath, [join(ROOT, "bin", "firebreak.mjs"), "decisions", ...args], {
      cwd: ROOT,
      env: full as NodeJS.ProcessEnv,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The one statement the CLI sent, parsed; none malformed, and the token only in the header. */
function sent() {
  expect(fake.received).toHaveLength(1);
  const [r] = fake.received;
  expect(r!.error).toBeNull();
  expect(r!.method).toBe("POST");
  expect(r!.path).toBe(`/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`);
  expect(r!.authorization).toBe(`Bearer ${TOKEN}`);
  expect(r!.sql).not.toContain(TOKEN);
  return r!.statement!;
}

describe("firebreak decisions against the Analytics Engine SQL API", () => {
  it("counts by reason, weighted by _sample_interval, with the estimate note", async () => {
    const r = await cli(["--view", "counts", "--by", "reason", "--effect", "deny"]);
    expect(r.code, r.stderr).toBe(0);
    const s = sent();
    expect(s.from).toBe("firebreak_decisions");
    expect(predicates(s.where)).toContainEqual({ column: "blob4", op: "=", value: "deny" });
    expect(predicates(s.where)).toContainEqual({ column: "blob1", op: "=", value: "v1" });
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^reason\s+decisions$/);
    expect(lines[1]).toMatch(/^policy\.no_match\s+20$/);
    expect(lines[2]).toMatch(/^policy\.denied\s+2$/);
    expect(r.stdout).toContain("note: these figures are estimates");
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it("says nothing of estimates when no row was sampled", async () => {
    const r = await cli(["--view", "counts", "--by", "effect", "--effect", "allow"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^effect\s+decisions\nallow\s+1\n$/);
    expect(r.stdout + r.stderr).not.toContain("estimate");
  });

  it("filters by an agent named like an injection: one escaped literal, one matching decision", async () => {
    const r = await cli(["--agent", `workloads:${NASTY}`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = sent();
    expect(fake.received[0]!.sql).toContain("'workloads:x'' OR 1=1 --'");
    const agentTerms = predicates(s.where).filter((p) => ["index1", "blob8", "blob9"].includes(p.column));
    expect(agentTerms).toEqual([
      { column: "index1", op: "=", value: `workloads:${NASTY}` },
      { column: "blob9", op: "=", value: `workloads:${NASTY}` },
      { column: "blob8", op: "=", value: "workloads" },
      { column: "blob9", op: "=", value: NASTY },
    ]);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ view: "list", source: "analytics_engine", estimated: false });
    expect(out.rows).toHaveLength(1);
    expect(out.rows[0]).toMatchObject({ agent_sub: NASTY, reason: "policy.denied", status: 403 });
  });

  // A NUL cannot be passed in argv: the unit tests and the local store test cover it.
  it("sends backslashes, quotes, newlines and unicode as escapes that read back as the value", async () => {
    const value = "a\\'b\nc\td\u00e9\u{1F916}\\";
    const r = await cli(["--task", value]);
    expect(r.code, r.stderr).toBe(0);
    expect(predicates(sent().where)).toContainEqual({ column: "blob10", op: "=", value });
    expect(r.stdout).toBe("no decisions match\n");
  });

  it("--asi filters on the record's ASI id, --by asi counts by it, and the table shows it", async () => {
    const counts = await cli(["--view", "counts", "--by", "asi", "--effect", "deny"]);
    expect(counts.code, counts.stderr).toBe(0);
    expect(sent().select[0]).toEqual({ expr: { column: "blob16" }, as: "group_key" });
    expect(counts.stdout.trim().split("\n").slice(0, 2)).toEqual([
      expect.stringMatching(/^asi\s+decisions$/),
      expect.stringMatching(/^ASI02\s+22$/),
    ]);
    fake.received.length = 0;
    const only = await cli(["--asi", "ASI02", "--json"]);
    expect(only.code, only.stderr).toBe(0);
    expect(predicates(sent().where)).toContainEqual({ column: "blob16", op: "=", value: "ASI02" });
    const rows = JSON.parse(only.stdout).rows as { asi: string; effect: string }[];
    expect(rows).toHaveLength(4);
    expect(rows.every((x) => x.asi === "ASI02" && x.effect === "deny")).toBe(true);
    fake.received.length = 0;
    const table = await cli(["--asi", "ASI02", "--limit", "1"]);
    expect(table.stdout.split("\n")[0]).toMatch(/\breason\s+asi\s+action\b/);
    expect(table.stdout.split("\n")[1]).toMatch(/\bpolicy\.no_match\s+ASI02\s+github:pulls\.merge\b/);
  });

  it("--would-deny lists what report mode would have blocked", async () => {
    const r = await cli(["--would-deny", "--csv"]);
    expect(r.code, r.stderr).toBe(0);
    expect(predicates(sent().where)).toContainEqual({ column: "double4", op: "=", value: 1 });
    const [header, ...rows] = r.stdout.trimEnd().split("\r\n");
    expect(header!.split(",").slice(0, 4)).toEqual(["ts", "sample_interval", "agent", "decision_id"]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(",deny,policy.denied,deny,policy.denied,");
  });

  it("lists newest first with since/until, reading DateTime and sampled rows", async () => {
    const until = new Date(NOW - 90_000).toISOString();
    const r = await cli(["--since", "10m", "--until", until, "--json", "--limit", "5"]);
    expect(r.code, r.stderr).toBe(0);
    const s = sent();
    expect(s.limit).toBe(5);
    const times = predicates(s.where).filter((p) => p.column === "timestamp");
    expect(times).toEqual([
      { column: "timestamp", op: ">=", value: expect.any(Number) },
      { column: "timestamp", op: "<", value: Math.ceil((NOW - 90_000) / 1000) * 1000 },
    ]);
    expect(Math.abs((times[0]!.value as number) - (NOW - 600_000))).toBeLessThan(30_000);
    const out = JSON.parse(r.stdout);
    expect(out.estimated).toBe(true);
    expect(out.rows.map((x: { reason: string; sample_interval: number }) => [x.reason, x.sample_interval])).toEqual([
      ["policy.no_match", 10],
      ["policy.no_match", 10],
      ["policy.denied", 1],
      ["policy.denied", 1],
    ]);
    expect(out.rows[0].ts).toBe(new Date(Math.floor((NOW - 120_000) / 1000) * 1000).toISOString());
    expect(r.stderr).toContain("note: these figures are estimates");
  });

  it("draws a time series in buckets", async () => {
    const r = await cli(["--view", "timeseries", "--bucket", "1h", "--since", "2h", "--csv"]);
    expect(r.code, r.stderr).toBe(0);
    expect(sent().select[0]).toEqual({ expr: { bucket: { n: 1, unit: "HOUR" } }, as: "bucket" });
    const lines = r.stdout.trimEnd().split("\r\n");
    expect(lines[0]).toBe("bucket,decisions");
    const total = lines.slice(1).reduce((sum, l) => sum + Number(l.split(",")[1]), 0);
    expect(total).toBe(23); // 1 + 10 + 10 + 1 + 1 (the v0 row is not read)
  });
});

describe("firebreak decisions refusals", () => {
  it.each([
    ["the account id", { CLOUDFLARE_ACCOUNT_ID: undefined }, "CLOUDFLARE_ACCOUNT_ID"],
    ["the API token", { CLOUDFLARE_API_TOKEN: undefined }, "CLOUDFLARE_API_TOKEN"],
  ])("without %s: a usage error, exit 2, nothing sent", async (_name, env, name) => {
    const r = await cli([], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`set ${name}`);
    expect(fake.received).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it.each([
    [["--since", "yesterday"], "--since must be an ISO date"],
    [["--view", "counts", "--by", "path"], "--by must be one of"],
    [["--asi", "ASI11"], "--asi must be an OWASP Agentic id, ASI01 to ASI10"],
    [["--asi", "tool misuse"], "--asi must be an OWASP Agentic id, ASI01 to ASI10"],
    [["--json", "--csv"], "choose one of --json and --csv"],
    [["--colour"], "Unknown option '--colour'"],
    [["--dataset", "x; DROP"], "plain SQL identifier"],
  ])("%j: a usage error, exit 2, nothing sent", async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(fake.received).toEqual([]);
  });

  it("an HTTP error is reported with its status and the API's message, exit 1, without the token", async () => {
    const r = await cli([], { CLOUDFLARE_API_TOKEN: "wrong-token-1f7c" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("answered 401: Authentication error");
    expect(r.stdout + r.stderr).not.toContain("wrong-token-1f7c");
  });

  it("an API that echoes the token back does not get it printed", async () => {
    fake.failNext(
      400,
      JSON.stringify({ success: false, errors: [{ code: 1, message: `bad request with Bearer ${TOKEN}` }] }),
    );
    const r = await cli([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("answered 400: bad request with Bearer [token]");
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it("an API that does not answer: exit 1, a clear message", async () => {
    const r = await cli([], { FIREBREAK_ANALYTICS_API: "http://127.0.0.1:9/client/v4" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the Analytics Engine SQL API did not answer");
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });
});
