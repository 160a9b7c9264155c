/**
 * GET /_firebreak/v1/decisions inside workerd, without a local store (the default config, as
 * deployed): only an operator may read; with CF_ACCOUNT_ID and CF_API_TOKEN it queries the Analytics
 * Engine SQL API (its host intercepted here and answered by the strict SQL reader over fixture rows,
 * so the statement the worker sends is parsed and run, not pattern-matched); the API token goes only
 * into that request's Authorization header, never into the answer or a log line.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { evaluate, parse, predicates, type StoredRow, storedRow } from "../helpers/decisions-sql";
import { token } from "../helpers/tokens";
import { BASE, bindings, gatewayApp } from "./support";

const app = gatewayApp();
const PATH = "/_firebreak/v1/decisions";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const CF_TOKEN = "canary-cf-api-7b1e44";
const env = { ...bindings, CF_ACCOUNT_ID: ACCOUNT, CF_API_TOKEN: CF_TOKEN };
const NOW = Date.now();

const row = (over: Partial<StoredRow>): StoredRow =>
  storedRow({
    timestamp: NOW - 60_000,
    index1: "remote:agent-1",
    blob4: "deny",
    blob5: "policy.no_match",
    blob8: "remote",
    blob9: "agent-1",
    ...over,
  });
const ROWS = [
  row({ blob5: "policy.no_match", blob16: "ASI02", _sample_interval: 10 }),
  row({ blob5: "policy.no_match", blob16: "ASI02", _sample_interval: 10 }),
  row({ blob4: "allow", blob5: "policy.allowed" }),
  row({ blob5: "policy.denied", blob16: "ASI02", index1: "remote:o'brien", blob9: "o'brien" }),
  row({ blob5: "identity.expired", blob16: "ASI03", index1: "anonymous", blob8: "", blob9: "" }),
];

interface Seen {
  url: string;
  authorization: string | null;
  sql: string;
}

/** The SQL API, answered from ROWS as the real one would (DateTime as text, sums quoted). */
function fakeApi(): Seen[] {
  const seen: Seen[] = [];
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    if (new URL(request.url).hostname !== "api.cloudflare.com") return realFetch(input, init);
    const sql = await request.text();
    seen.push({ url: request.url, authorization: request.headers.get("authorization"), sql });
    if (request.headers.get("authorization") !== `Bearer ${CF_TOKEN}`) {
      return Response.json(
        { success: false, errors: [{ code: 10000, message: "Authentication error" }] },
        { status: 401 },
      );
    }
    const data = evaluate(parse(sql, "analytics_engine"), ROWS).map((r) => ({
      ...r,
      ...("timestamp" in r
        ? { timestamp: new Date(Number(r.timestamp)).toISOString().slice(0, 19).replace("T", " ") }
        : {}),
      ...("n" in r ? { n: String(r.n) } : {}),
    }));
    return Response.json({ meta: [], data, rows: data.length, rows_before_limit_at_least: data.length });
  });
  return seen;
}

async function get(query: string, bearer: string | null, e: Record<string, unknown> = env) {
  const logs: string[] = [];
  const spies = (["log", "error"] as const).map((m) =>
    vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void logs.push(a.map(String).join(" "))),
  );
  try {
    const res = await app.fetch(
      new Request(`${BASE}${PATH}${query}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} }),
      e as never,
    );
    const text = await res.text();
    return { res, text, json: JSON.parse(text) as Record<string, unknown>, logs };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("who may read decisions", () => {
  it.each([
    ["no token", null, 401, "identity.missing"],
    ["an agent that is not an operator", "agent", 403, "admin.denied"],
  ])("%s is refused, and the API is never called", async (_name, who, status, reason) => {
    const seen = fakeApi();
    const bearer = who === "agent" ? await token({ sub: "agent-1" }) : null;
    const r = await get("", bearer);
    expect(r.res.status).toBe(status);
    expect(r.json.reason).toBe(reason);
    expect(seen).toEqual([]);
  });
});

describe("through the Analytics Engine SQL API", () => {
  it("sends the builder's statement with the token as bearer, and answers with weighted counts", async () => {
    const seen = fakeApi();
    const r = await get("?view=counts&by=reason&effect=deny", await token({ sub: "operator-1" }));
    expect(r.res.status, r.text).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe(`https://api.cloudflare.com/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`);
    expect(seen[0]!.authorization).toBe(`Bearer ${CF_TOKEN}`);
    expect(predicates(parse(seen[0]!.sql, "analytics_engine").where)).toContainEqual({
      column: "blob4",
      op: "=",
      value: "deny",
    });
    expect(r.json).toMatchObject({
      view: "counts",
      source: "analytics_engine",
      estimated: true,
      rows: [
        { key: "policy.no_match", n: 20 },
        { key: "identity.expired", n: 1 },
        { key: "policy.denied", n: 1 },
      ],
    });
    expect(r.text + r.logs.join("\n")).not.toContain(CF_TOKEN);
  });

  it("filters by an agent whose name holds a quote, as one value", async () => {
    const seen = fakeApi();
    const r = await get(`?agent=${encodeURIComponent("remote:o'brien")}`, await token({ sub: "operator-1" }));
    expect(r.res.status, r.text).toBe(200);
    expect((r.json.rows as unknown[]).length).toBe(1);
    expect(r.json).toMatchObject({ estimated: false, rows: [{ agent_sub: "o'brien", reason: "policy.denied" }] });
    expect(seen[0]!.sql).toContain("'remote:o''brien'");
  });

  it("filters by ASI id and counts refusals by it, on blob16", async () => {
    const seen = fakeApi();
    const operator = await token({ sub: "operator-1" });
    const only = await get("?asi=ASI03", operator);
    expect(only.res.status, only.text).toBe(200);
    expect(predicates(parse(seen[0]!.sql, "analytics_engine").where)).toContainEqual({
      column: "blob16",
      op: "=",
      value: "ASI03",
    });
    expect(only.json.rows).toEqual([expect.objectContaining({ reason: "identity.expired", asi: "ASI03" })]);
    const counts = await get("?view=counts&by=asi&effect=deny", operator);
    expect(counts.json.rows).toEqual([
      { key: "ASI02", n: 21 },
      { key: "ASI03", n: 1 },
    ]);
    const bad = await get("?asi=ASI11", operator);
    expect(bad.res.status).toBe(400);
    expect(bad.json).toMatchObject({
      reason: "decisions.invalid_query",
      message: expect.stringContaining("asi must be"),
    });
    expect(seen).toHaveLength(2);
  });

  it("refuses a bad query before calling the API", async () => {
    const seen = fakeApi();
    const r = await get("?since=yesterday", await token({ sub: "operator-1" }));
    expect(r.res.status).toBe(400);
    expect(r.json).toMatchObject({
      reason: "decisions.invalid_query",
      message: expect.stringContaining("since must be"),
    });
    const again = await get("?effect=deny&effect=allow", await token({ sub: "operator-1" }));
    expect(again.json.message).toContain('parameter "effect" is repeated');
    expect(seen).toEqual([]);
  });

  it("reports an API refusal as 502, with the status and message in the log line and never the token", async () => {
    const seen = fakeApi();
    const r = await get("", await token({ sub: "operator-1" }), { ...env, CF_API_TOKEN: "wrong-token-5c2a" });
    expect(seen).toHaveLength(1);
    expect(r.res.status).toBe(502);
    expect(r.json.reason).toBe("decisions.query_failed");
    const line = r.logs.find((l) => l.includes("decisions.query_failed"));
    expect(line).toContain("401: Authentication error");
    expect(r.text + r.logs.join("\n")).not.toContain("wrong-token-5c2a");
  });

  it("fails closed with 503 when neither a local store nor both API secrets are configured", async () => {
    const seen = fakeApi();
    const r = await get("", await token({ sub: "operator-1" }), { ...bindings, CF_ACCOUNT_ID: ACCOUNT });
    expect(r.res.status).toBe(503);
    expect(r.json.reason).toBe("decisions.unavailable");
    expect(seen).toEqual([]);
  });
});
