/**
 * The dashboard when its sources differ or fail: no decision source at all (said plainly, tasks still
 * listed), the Analytics Engine SQL API as the source (sampled rows weighed and said to be estimates,
 * a failing API said plainly with its words only in the log, never the token), a task object that
 * does not answer (its row says so), and a directory that throws (neither a task start, nor a call,
 * nor an approval, nor the page fails).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { evaluate, parse, storedRow } from "../helpers/decisions-sql";
import { app, asOperator, env, ISSUE, rowOf, snapshot } from "./dashboard-support";
import { bindings, expectAllowed, expectRefusal, GATEWAY_REVISION, newTask, send, startTask } from "./support";

afterEach(() => vi.restoreAllMocks());

describe("the page, whatever its sources say", () => {
  it("says plainly that there is no decision source, and still lists tasks and approvals", async () => {
    const task = await newTask(app, "basic");
    await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(task.id));
    const { res, html } = await asOperator();
    expect(res.status).toBe(200);
    expect(html).toContain('id="decisions-unavailable"');
    expect(html).toContain("this run has no decision source");
    expect(html).not.toContain("<svg");
    expect(html).toContain(`data-task="${task.id}"`);
    expect(html).toContain("Pending approvals");
  });

  it("shows a task whose object does not answer as unavailable, and renders the rest", async () => {
    const task = await newTask(app, "basic");
    const other = await newTask(app, "basic");
    await vi.waitFor(async () =>
      expect((await snapshot()).tasks.map((t) => t.task_id)).toEqual(expect.arrayContaining([task.id, other.id])),
    );
    const tasks = env.TASKS!;
    const failing = {
      getByName: (id: string) =>
        id === task.id
          ? {
              inspect: () => Promise.reject(new Error("object reset")),
              approval: () => Promise.reject(new Error("x")),
            }
          : tasks.getByName(id),
    };
    const { res, html } = await asOperator("", { ...bindings, TASKS: failing });
    expect(res.status).toBe(200);
    const row = rowOf(html, `data-task="${task.id}"`);
    expect(row).toContain("its task object did not answer");
    expect(row).toContain('data-status="unknown"');
    expect(rowOf(html, `data-task="${other.id}"`)).toContain(" 0 / 10");
  });
});

describe("with the Analytics Engine SQL API as the decision source", () => {
  const ACCOUNT = "0123456789abcdef0123456789abcdef";
  const CF_TOKEN = "canary-cf-api-dash-3d91a0";
  const aeEnv = { ...bindings, CF_ACCOUNT_ID: ACCOUNT, CF_API_TOKEN: CF_TOKEN };
  const at = Date.now() - 30 * 60_000;
  const ROWS = [
    storedRow({
      timestamp: at,
      _sample_interval: 10,
      index1: "remote:agent-1",
      blob4: "deny",
      blob5: "policy.no_match",
      blob12: "github:repos.delete",
      blob16: "ASI02",
    }),
    storedRow({
      timestamp: at,
      _sample_interval: 1,
      index1: "remote:agent-1",
      blob4: "allow",
      blob5: "policy.allowed",
      blob12: "github:issues.get",
    }),
    storedRow({
      timestamp: at - 3 * 86_400_000,
      _sample_interval: 1,
      index1: "remote:old",
      blob4: "deny",
      blob5: "policy.denied",
      blob12: "github:old",
    }),
    // Written before layout revision 2: no ASI id.
    storedRow({
      timestamp: at,
      _sample_interval: 1,
      index1: "remote:agent-1",
      blob4: "deny",
      blob5: "policy.denied",
      blob12: "github:repos.delete",
    }),
  ];

  /** The SQL API answering from ROWS (the strict reader runs each statement), or failing with `status`. */
  function fakeApi(status = 200): string[] {
    const sqls: string[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input as RequestInfo, init);
      if (new URL(request.url).hostname !== "api.cloudflare.com") return realFetch(input, init);
      const sql = await request.text();
      sqls.push(sql);
      if (status !== 200 || request.headers.get("authorization") !== `Bearer ${CF_TOKEN}`) {
        return Response.json(
          { success: false, errors: [{ code: 7000, message: `echo ${CF_TOKEN}` }] },
          { status: 500 },
        );
      }
      const data = evaluate(parse(sql, "analytics_engine"), ROWS).map((r) => ({
        ...r,
        ...("n" in r ? { n: String(r.n) } : {}),
      }));
      return Response.json({ meta: [], data, rows: data.length });
    });
    return sqls;
  }

  it("weighs sampled rows, says the figures are estimates, and never shows the token", async () => {
    const sqls = fakeApi();
    const { res, html } = await asOperator("", aeEnv);
    expect(res.status).toBe(200);
    expect(sqls).toHaveLength(5);
    expect(html).toContain('id="estimate-note"');
    expect(html).toMatch(/<span class="n">≈ 12<\/span> <span class="k">decisions<\/span>/);
    expect(html).toMatch(/<span class="n">≈ 11<\/span> <span class="k">denied<\/span>/);
    expect(html).toContain("<title>github:repos.delete: 11</title>");
    // Refusals by OWASP Agentic id, titled; the row from before revision 2 under "(none)".
    expect(sqls.some((q) => /SELECT blob16 AS group_key/.test(q) && q.includes("blob4 = 'deny'"))).toBe(true);
    const byAsi = html.slice(html.indexOf('id="refusals-by-asi"'));
    expect(byAsi).toContain("<title>ASI02 Tool Misuse and Exploitation: 10</title>");
    expect(byAsi).toContain("<title>(none): 1</title>");
    expect(html).toContain("<title>remote:agent-1: 11</title>");
    expect(html).not.toContain("github:old");
    expect(html).toContain("From Analytics Engine");
    expect(html).not.toContain(CF_TOKEN);
  });

  it("a week shows the older decision; an API that fails is said plainly, its words only in the log", async () => {
    fakeApi();
    const week = await asOperator("?since=7d", aeEnv);
    expect(week.html).toContain("<title>github:old: 1</title>");
    vi.restoreAllMocks();
    fakeApi(500);
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
    const { res, html } = await asOperator("", aeEnv);
    expect(res.status).toBe(200);
    expect(html).toMatch(/id="decisions-unavailable" data-state="failed"/);
    expect(html).toContain("Analytics Engine did not answer");
    expect(html).toContain("Live tasks");
    expect(html).not.toContain(CF_TOKEN);
    const logged = errors.filter((l) => l.includes("decisions.query_failed"));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("500: echo [token]");
    expect(logged[0]).not.toContain(CF_TOKEN);
  });
});

describe("a directory that throws", () => {
  const throwing = {
    getByName: () => {
      throw new Error("directory down");
    },
  };
  const broken = { ...bindings, DIRECTORY: throwing };
  const rejecting = {
    ...bindings,
    DIRECTORY: { getByName: () => ({ record: () => Promise.reject(new Error("no")) }) },
  };

  it("fails neither a task start, nor a call, nor an approval; each failure is one log line", async () => {
    for (const e of [broken, rejecting]) {
      const lines: string[] = [];
      vi.spyOn(console, "error").mockImplementation((line: unknown) => void lines.push(String(line)));
      const started = await startTask(app, "approving", { env: e });
      expect(started.res.status, started.text).toBe(201);
      const taskToken = started.json?.task_token as string;
      expectAllowed(await send(app, ISSUE, { bearer: taskToken, env: e }));
      const held = await send(app, "/github/repos/acme/api/pulls/7/merge", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: '{"merge_method":"squash"}',
        bearer: taskToken,
        env: e,
      });
      expectRefusal(held, 403, "approval.required", "approval_required");
      await vi.waitFor(() => expect(lines.filter((l) => l.includes("directory_write_failed"))).toHaveLength(2));
      const logged = lines.filter((l) => l.includes("directory_write_failed")).map((l) => JSON.parse(l));
      expect(logged.map((l) => l.kind)).toEqual(["task.started", "approval.opened"]);
      expect(logged[0].id).toBe(started.json?.task_id);
      expect(JSON.stringify(logged)).not.toContain(taskToken);
      vi.restoreAllMocks();
    }
  });

  it("leaves the page whole, saying the directory did not answer", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
    const { res, html } = await asOperator("", broken);
    expect(res.status).toBe(200);
    expect(html).toContain("The directory did not answer");
    expect(html).toContain("No live tasks.");
    expect(html).toContain(GATEWAY_REVISION);
    expect(errors.some((l) => l.includes('"reason":"directory.unavailable"'))).toBe(true);
    const none = await asOperator("", { ...bindings, DIRECTORY: undefined });
    expect(none.html).toContain("no DIRECTORY binding");
  });
});
