/**
 * The local decision store, end to end: the gateway bundled as it ships, run by miniflare with
 * wrangler.toml's `dev` environment (what `npm start` runs, and the only one with DECISIONS_LOCAL).
 * Decisions made over HTTP land in the D1 store as the data point, field for field, with no canary
 * secret and no agent token in it; GET /_firebreak/v1/decisions and `firebreak decisions --local`
 * (a real child process) read them back with filters, running the builder's SQLite dialect on real
 * SQLite, including values with a quote, a NUL and a newline, and sampled rows weighted; refusals by
 * ASI id; and a store made before layout v1 revision 2 migrated in place by the store's own code.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Request as MfRequest, type Response as MfResponse, Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dataPointOf, FIELDS, LAYOUT, LAYOUT_REVISIONS } from "../../src/decisions/layout";
import { LOCAL_TABLE, writePoint } from "../../src/decisions/local-store";
import { parseQuery } from "../../src/decisions/query";
import { blankRecord } from "../../src/decisions/record";
import { queryDecisions } from "../../src/decisions/source";
import keys from "../fixtures/keys.json" with { type: "json" };
import { token } from "../helpers/tokens";
import { outbound } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const run = promisify(execFile);
const CANARY = { GITHUB_TOKEN: "canary-gh-local-61d0c2", SLACK_BOT_TOKEN: "canary-slack-local-0a4f9e" };
const NASTY = "x' OR 1=1 --";

let gw: Gateway;
let db: D1Database;
let operator: string;
const ids: Record<string, string> = {};
const tokens: string[] = [];

async function call(path: string, bearer: string | null, init: RequestInit = {}): Promise<Response> {
  const headers = bearer ? { authorization: `Bearer ${bearer}` } : undefined;
  return (await gw.mf.dispatchFetch(new URL(path, gw.url), { ...init, headers } as never)) as unknown as Response;
}

async function stored(): Promise<Record<string, unknown>[]> {
  return (await db.prepare("SELECT * FROM firebreak_decisions ORDER BY timestamp").all()).results;
}

/** The store is written after each response (waitUntil): wait until it holds `n` rows. */
async function storedAtLeast(n: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await stored().catch(() => []);
    if (rows.length >= n || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function api(query: string) {
  const res = await call(`/_firebreak/v1/decisions?${query}`, operator);
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { rows: Record<string, unknown>[] },
  };
}

beforeAll(async () => {
  gw = await startGateway({
    env: "dev",
    bundlePath: join(ROOT, "test", ".generated", "gateway.json"),
    bindings: { ...CANARY, TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }) },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
  db = (await gw.mf.getD1Database("DECISIONS_LOCAL")) as unknown as D1Database;
  operator = await token({ sub: "operator-1" });
  const agent = await token({ sub: "agent-1" });
  const nasty = await token({ sub: NASTY });
  tokens.push(agent, nasty, operator);
  const sent: [string, string, string | null, RequestInit?][] = [
    ["allow", "/github/repos/acme/api/issues/1", agent],
    ["deny", "/github/repos/evil/api/issues/1", agent],
    ["approval", "/github/repos/acme/api/pulls/1/merge", agent, { method: "PUT" }],
    ["anonymous", "/github/repos/acme/api/issues/1", null],
    ["nasty", "/github/repos/evil/api/issues/2", nasty],
  ];
  for (const [name, path, bearer, init] of sent) {
    const res = await call(path, bearer, init);
    await res.arrayBuffer();
    ids[name] = res.headers.get("firebreak-decision-id")!;
  }
  await storedAtLeast(sent.length);
});

afterAll(async () => {
  await gw?.dispose();
});

describe("the local store after requests through the dev gateway", () => {
  it("holds one row per decision: the data point, at the layout's columns", async () => {
    const rows = await stored();
    expect(rows).toHaveLength(5);
    for (const [name, id] of Object.entries(ids)) {
      const row = rows.find((r) => r.blob2 === id);
      expect(row, name).toBeDefined();
      const rec = await gw.decision(id);
      expect(row!._sample_interval).toBe(1);
      expect(Math.abs(Number(row!.timestamp) - Date.parse(rec.ts as string))).toBeLessThan(10_000);
      // Every field where the column map puts it, with the value the log line carries.
      expect(row![LAYOUT.effect.column]).toBe(rec.effect);
      expect(row![LAYOUT.reason.column]).toBe(rec.reason);
      expect(row![LAYOUT.action.column]).toBe(rec.action ?? "");
      expect(row![LAYOUT.agent_sub.column]).toBe(rec.agent_sub ?? "");
      expect(row![LAYOUT.status.column]).toBe(rec.status);
      expect(row![LAYOUT.upstream_status.column]).toBe(rec.upstream_status ?? 0);
      expect(row![LAYOUT.layout.column]).toBe("v1");
      expect(row![LAYOUT.asi.column]).toBe(rec.asi);
      expect(Object.keys(row!).sort()).toEqual(
        ["timestamp", "_sample_interval", ...FIELDS.map((f) => LAYOUT[f].column)].sort(),
      );
    }
    expect(rows.find((r) => r.blob2 === ids.anonymous)!.index1).toBe("anonymous");
    const asi = (name: string) => rows.find((r) => r.blob2 === ids[name])![LAYOUT.asi.column];
    expect(["allow", "deny", "approval", "anonymous"].map(asi)).toEqual(["", "ASI02", "ASI09", "ASI03"]);
  });

  it("holds no secret and no token", async () => {
    const all = JSON.stringify(await stored());
    for (const v of [...Object.values(CANARY), ...tokens]) expect(all).not.toContain(v);
  });
});

describe("GET /_firebreak/v1/decisions on the local store", () => {
  it("lists newest first, from the local store", async () => {
    const { status, body } = await api("limit=3");
    expect(status).toBe(200);
    expect(body).toMatchObject({ view: "list", source: "local", estimated: false });
    expect(body.rows.map((r) => r.decision_id)).toEqual([ids.nasty, ids.anonymous, ids.approval]);
  });

  it("filters by effect, action, reason and agent", async () => {
    const deny = await api("effect=deny&view=counts&by=reason");
    expect(deny.body.rows).toEqual(
      expect.arrayContaining([
        { key: "policy.denied", n: 2 },
        { key: "identity.missing", n: 1 },
      ]),
    );
    const merge = await api("action=github%3Apulls.merge");
    expect(merge.body.rows.map((r) => r.decision_id)).toEqual([ids.approval]);
    const agent = await api("agent=remote%3Aagent-1&view=counts&by=effect");
    expect(agent.body.rows).toEqual([
      { key: "allow", n: 1 },
      { key: "approval_required", n: 1 },
      { key: "deny", n: 1 },
    ]);
  });

  it("filters and counts refusals by ASI id, on real SQLite", async () => {
    const identity = await api("asi=ASI03");
    expect(identity.body.rows.map((r) => [r.decision_id, r.reason, r.asi])).toEqual([
      [ids.anonymous, "identity.missing", "ASI03"],
    ]);
    const byAsi = await api("effect=deny&view=counts&by=asi");
    expect(byAsi.body.rows).toEqual([
      { key: "ASI02", n: 2 },
      { key: "ASI03", n: 1 },
    ]);
    const bad = await api("asi=ASI00");
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe("decisions.invalid_query");
  });

  it("matches an agent named like an injection as one value, on real SQLite", async () => {
    const { body } = await api(`agent=${encodeURIComponent(NASTY)}`);
    expect(body.rows.map((r) => r.decision_id)).toEqual([ids.nasty]);
    expect(body.rows[0]).toMatchObject({ agent_sub: NASTY, agent: `remote:${NASTY}` });
  });

  it("weights sampled rows and says so; control characters match as values", async () => {
    const ctl = "nul\0sub\nline";
    const cols = FIELDS.map((f) => LAYOUT[f].column);
    const values = cols.map((c) =>
      c === "blob1" ? "v1" : c === "blob4" ? "deny" : c === "blob9" ? ctl : c.startsWith("double") ? 0 : "",
    );
    const insert = db.prepare(
      `INSERT INTO firebreak_decisions (timestamp, _sample_interval, ${cols.join(", ")}) VALUES (?, ?, ${cols.map(() => "?").join(", ")})`,
    );
    await db.batch([insert.bind(Date.now(), 10, ...values), insert.bind(Date.now(), 10, ...values)]);
    const { body } = await api(`agent=${encodeURIComponent(ctl)}&view=counts&by=effect`);
    expect(body).toMatchObject({ estimated: true, rows: [{ key: "deny", n: 20 }] });
    const exact = await api("agent=remote%3Aagent-1&view=counts&by=effect");
    expect(exact.body.estimated).toBe(false);
    await db.prepare("DELETE FROM firebreak_decisions WHERE _sample_interval = 10").run();
  });

  it("is for operators only", async () => {
    const res = await call("/_firebreak/v1/decisions", tokens[0]!);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { reason: string }).reason).toBe("admin.denied");
  });
});

describe("firebreak decisions --local", () => {
  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(
      process.execPath,
      [join(ROOT, "bin", "firebreak.mjs"), "decisions", "--local", "--gateway", gw.url.origin, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, FIREBREAK_ADMIN_TOKEN: operator, ...env },
      },
    ).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it("reads the local store through the gateway, with filters", async () => {
    const r = await cli(["--view", "counts", "--by", "effect", "--agent", "agent-1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ view: "counts", source: "local", estimated: false });
    expect(out.rows).toEqual([
      { key: "allow", n: 1 },
      { key: "approval_required", n: 1 },
      { key: "deny", n: 1 },
    ]);
  });

  it("finds the injection-named agent's one decision, as a table", async () => {
    const r = await cli(["--agent", NASTY]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(ids.nasty);
    expect(lines[1]).toContain("policy.denied");
  });

  it("filters by --asi through the gateway", async () => {
    const r = await cli(["--asi", "ASI09", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout).rows as Record<string, unknown>[];
    expect(rows.map((x) => [x.decision_id, x.reason, x.asi])).toEqual([[ids.approval, "approval.required", "ASI09"]]);
  });

  it("reports a refusal with its status and reason, exit 1, and no token", async () => {
    const r = await cli([], { FIREBREAK_ADMIN_TOKEN: tokens[0]! });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("403 admin.denied");
    expect(r.stdout + r.stderr).not.toContain(tokens[0]!);
  });

  it("needs a token: usage error, exit 2", async () => {
    const r = await cli([], { FIREBREAK_ADMIN_TOKEN: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("FIREBREAK_ADMIN_TOKEN");
  });
});

describe("a local store made before layout v1 revision 2", () => {
  let mf: Miniflare;
  beforeAll(() => {
    mf = new Miniflare({
      modules: true,
      script: "export default { fetch: () => new Response() }",
      d1Databases: ["DB"],
    });
  });
  afterAll(async () => {
    await mf?.dispose();
  });

  it("gains the asi column on first use, keeps its rows (asi empty), and takes new ones with their id", async () => {
    const old = (await mf.getD1Database("DB")) as unknown as D1Database;
    const v1 = FIELDS.filter((f) => !LAYOUT_REVISIONS[1]!.added.includes(f)).map((f) => LAYOUT[f].column);
    expect(v1).not.toContain("blob16");
    const defs = v1.map(
      (c) => `${c} ${c.startsWith("double") ? "REAL NOT NULL DEFAULT 0" : "TEXT NOT NULL DEFAULT ''"}`,
    );
    await old
      .prepare(
        `CREATE TABLE ${LOCAL_TABLE} (timestamp INTEGER NOT NULL, _sample_interval INTEGER NOT NULL DEFAULT 1, ${defs.join(", ")})`,
      )
      .run();
    await old
      .prepare(
        `INSERT INTO ${LOCAL_TABLE} (timestamp, blob1, blob2, blob4, blob5) VALUES (?, 'v1', 'd-old', 'deny', 'policy.denied')`,
      )
      .bind(Date.now() - 1000)
      .run();
    const rec = {
      ...blankRecord({ decision_id: "d-new", ts: "", bundle_revision: "r", method: "GET" }),
      reason: "identity.expired" as const,
    };
    await writePoint(old, dataPointOf(rec), Date.now());
    const query = (input: Record<string, string>) => {
      const parsed = parseQuery(input, Date.now() + 1000);
      if (!parsed.ok) throw new Error(parsed.problem);
      return queryDecisions({ kind: "local", db: old }, parsed.query);
    };
    const all = await query({});
    expect(
      all.ok && all.result.rows.map((r) => [(r as { decision_id: string }).decision_id, (r as { asi: string }).asi]),
    ).toEqual([
      ["d-new", "ASI03"],
      ["d-old", ""],
    ]);
    const byAsi = await query({ view: "counts", by: "asi" });
    expect(byAsi.ok && byAsi.result.rows).toEqual([
      { key: "", n: 1 },
      { key: "ASI03", n: 1 },
    ]);
  });
});
