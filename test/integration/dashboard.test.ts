/**
 * GET /_firebreak/v1/dashboard inside workerd, and the directory that lists its tasks and approvals:
 * who may see it (operators by Access header, bearer or cookie; agents, tasks and people who are not
 * operators get 403 admin.denied; nobody signed in 401), the directory written in the background at a
 * task's start and end and an approval's opening and decision, the page showing what each task object
 * says (a live task's budget use, a pending approval until it is decided, never what the directory
 * alone claims), the decisions part saying plainly that there is no decision source, and a directory
 * that throws failing neither a task start nor a call nor the page.
 */
import { env as workerEnv } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { DIRECTORY_NAME, type DirectorySnapshot } from "../../src/tasks/directory-object";
import { evaluate, parse, storedRow } from "../helpers/decisions-sql";
import { ISSUERS, token } from "../helpers/tokens";
import { ask, decide, decisionInit, page as pageOf, person } from "./approval-support";
import {
  agentToken,
  BASE,
  bindings,
  expectAllowed,
  expectRefusal,
  GATEWAY_REVISION,
  gatewayApp,
  newTask,
  send,
  startTask,
  TASKS_PATH,
  taskRoute,
} from "./support";

const env = workerEnv as unknown as Env;
const app = gatewayApp();
const PATH = "/_firebreak/v1/dashboard";
const ISSUE = "/github/repos/acme/api/issues/1";

afterEach(() => vi.restoreAllMocks());

const operatorWorkload = () => token({ sub: "operator-1" });
const operatorPerson = () => token({ key: "es256", iss: ISSUERS.people, sub: "operator-1", claims: { groups: [] } });

async function dashboard(headers: Record<string, string> = {}, query = "", e: Record<string, unknown> = bindings) {
  const res = await app.fetch(new Request(`${BASE}${PATH}${query}`, { headers }), e as never);
  return { res, html: await res.text() };
}
const asOperator = async (query = "", e?: Record<string, unknown>) =>
  dashboard({ "cf-access-jwt-assertion": await operatorPerson() }, query, e);

const directory = () => env.DIRECTORY!.getByName(DIRECTORY_NAME);
const snapshot = () => directory().snapshot(Date.now(), 200) as Promise<DirectorySnapshot>;

/** The table row that holds `marker` (a task id, an approval link), or "" when the page has none. */
function rowOf(html: string, marker: string): string {
  const at = html.indexOf(marker);
  if (at === -1) return "";
  return html.slice(html.lastIndexOf("<tr>", at), html.indexOf("</tr>", at));
}

describe("who may see the dashboard", () => {
  it("nobody signed in: 401, a page asking to sign in", async () => {
    const { res, html } = await dashboard();
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'none'");
    expect(html).toContain("Sign in to see the dashboard");
    expect(html).toContain("(identity.missing)");
    expect(html).not.toContain("Live tasks");
  });

  it("an agent's workload token, its task token, a person who is not an operator: 403 admin.denied", async () => {
    const task = await newTask(app, "basic");
    const notOperator = await token({ key: "es256", iss: ISSUERS.people, sub: "alice", claims: { groups: [] } });
    for (const headers of <Record<string, string>[]>[
      { authorization: `Bearer ${await agentToken()}` },
      { authorization: `Bearer ${task.token}` },
      { "cf-access-jwt-assertion": task.token },
      { "cf-access-jwt-assertion": notOperator },
    ]) {
      const { res, html } = await dashboard(headers);
      expect(res.status, JSON.stringify(Object.keys(headers))).toBe(403);
      expect(html).toContain("(admin.denied)");
      expect(html).not.toContain("Live tasks");
      expect(html).not.toContain(task.id);
    }
  });

  it("an operator: 200 by Access header (a person), by bearer (a workload), by Access's cookie", async () => {
    for (const headers of <Record<string, string>[]>[
      { "cf-access-jwt-assertion": await operatorPerson() },
      { authorization: `Bearer ${await operatorWorkload()}` },
      { cookie: `theme=dark; CF_Authorization=${await operatorPerson()}` },
    ]) {
      const { res, html } = await dashboard(headers);
      expect(res.status, JSON.stringify(Object.keys(headers))).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(html).toContain("<h1>Dashboard</h1>");
    }
    const { html } = await asOperator();
    expect(html).toContain("signed in as <code>people operator-1</code>");
  });

  it("the JSON API's operator routes still take a bearer token only: Access's header cannot revoke a task", async () => {
    const task = await newTask(app, "basic");
    const revoke = (headers: Record<string, string>) =>
      app.fetch(new Request(`${BASE}${TASKS_PATH}/${task.id}/revoke`, { method: "POST", headers }), bindings as never);
    const ambient = await revoke({ "cf-access-jwt-assertion": await operatorPerson() });
    expect([ambient.status, ((await ambient.json()) as { reason: string }).reason]).toEqual([401, "identity.missing"]);
    expectAllowed(await send(app, ISSUE, { bearer: task.token }));
    const real = await revoke({ authorization: `Bearer ${await operatorWorkload()}` });
    expect(real.status).toBe(200);
  });

  it("an unknown period or parameter: 400 decisions.invalid_query, naming what it takes", async () => {
    for (const query of ["?since=2d", "?since=1h&since=7d", "?view=list"]) {
      const { res, html } = await asOperator(query);
      expect(res.status, query).toBe(400);
      expect(html).toContain("The dashboard takes one parameter, since: 1h, 24h, 7d. (decisions.invalid_query)");
    }
  });
});

describe("the directory, written in the background", () => {
  it("gets a task's start and its end", async () => {
    const task = await newTask(app, "basic");
    await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(task.id));
    const listed = (await snapshot()).tasks.find((t) => t.task_id === task.id)!;
    expect(listed).toMatchObject({ issuer: "remote", sub: "agent-1", profile: "basic", purpose: "test" });
    expect(listed.deadline).toBeGreaterThan(Date.now());
    expect((await taskRoute(app, `/${task.id}/complete`, task.token, "POST")).res.status).toBe(200);
    await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).not.toContain(task.id));
  });

  it("gets an operator's revoke and the kill switch's", async () => {
    const one = await newTask(app, "basic");
    const sub = `kill-${crypto.randomUUID()}`;
    const two = await newTask(app, "narrow", await token({ sub }));
    await vi.waitFor(async () =>
      expect((await snapshot()).tasks.map((t) => t.task_id)).toEqual(expect.arrayContaining([one.id, two.id])),
    );
    const op = `Bearer ${await operatorWorkload()}`;
    const post = (path: string, body?: unknown) =>
      app.fetch(
        new Request(`${BASE}${TASKS_PATH}${path}`, {
          method: "POST",
          headers: { authorization: op, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
        bindings as never,
      );
    expect((await post(`/${one.id}/revoke`)).status).toBe(200);
    expect((await post("/agents/revoke", { issuer: "remote", sub })).status).toBe(200);
    await vi.waitFor(async () => {
      const ids = (await snapshot()).tasks.map((t) => t.task_id);
      expect(ids).not.toContain(one.id);
      expect(ids).not.toContain(two.id);
    });
  });

  it("gets an approval when it opens, and its decision", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(app, task.token);
    await vi.waitFor(async () => expect((await snapshot()).approvals.map((x) => x.id)).toContain(a.id));
    expect((await snapshot()).approvals.find((x) => x.id === a.id)).toMatchObject({
      task_id: task.id,
      action: "github:pulls.merge",
      resource: "repo:acme/api",
      issuer: "remote",
      sub: "agent-1",
    });
    expect((await decide(app, a.id, "deny", await person())).json.status).toBe("denied");
    await vi.waitFor(async () => expect((await snapshot()).approvals.map((x) => x.id)).not.toContain(a.id));
  });
});

describe("the page", () => {
  it("lists a live task with its budget use, newest first, and the bundle in force", async () => {
    const older = await newTask(app, "basic");
    const task = await newTask(app, "basic");
    expectAllowed(await send(app, ISSUE, { bearer: task.token }));
    expectAllowed(await send(app, "/github/repos/acme/api/issues/2", { bearer: task.token }));
    await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(task.id));

    const { res, html } = await asOperator();
    expect(res.status).toBe(200);
    const row = rowOf(html, `data-task="${task.id}"`);
    expect(row).toContain("agent-1");
    expect(row).toContain('data-use="calls"');
    expect(row).toMatch(/<meter[^>]*max="10"[^>]*value="2"/);
    expect(row).toContain(" 2 / 10");
    expect(row).toContain("github");
    expect(html.indexOf(`data-task="${task.id}"`)).toBeLessThan(html.indexOf(`data-task="${older.id}"`));
    expect(html).toContain(GATEWAY_REVISION);
    expect(html).toContain(`<code>${GATEWAY_REVISION.slice(0, 12)}</code>`);
  });

  it("shows per-action caps and a pending approval with its link, and not once it is decided", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(app, task.token);
    await vi.waitFor(async () => expect((await snapshot()).approvals.map((x) => x.id)).toContain(a.id));
    const link = `href="/_firebreak/v1/approvals/${a.id}"`;
    const before = await asOperator();
    const approvalRow = rowOf(before.html, link);
    expect(approvalRow).toContain("github:pulls.merge");
    expect(approvalRow).toContain("repo:acme/api");
    expect(approvalRow).toContain(task.id);
    expect(rowOf(before.html, `data-task="${task.id}"`)).toMatch(/data-use="github:pulls.merge".*0 \/ 1/s);

    expect((await decide(app, a.id, "approve", await person())).json.status).toBe("approved");
    const after = await asOperator();
    expect(after.html).not.toContain(link);
    expect(after.html).toContain(`data-task="${task.id}"`);
  });

  it("shows only what the task objects say, whatever the directory lists", async () => {
    // The directory lists a task that ended without telling it (its write lost), and an approval no
    // task object holds.
    const ended = await newTask(app, "basic");
    await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(ended.id));
    const lost = { ...bindings, DIRECTORY: undefined };
    expect((await taskRoute(app, `/${ended.id}/complete`, ended.token, "POST", lost)).res.status).toBe(200);
    const now = Date.now();
    const agent = { issuer: "remote", sub: "agent-1" };
    const ghost = `ap_${ended.id.slice(2)}${"A".repeat(26)}`;
    const opened = { action: "github:pulls.merge", resource: "repo:x/y", agent, created: now, expires: now + 60_000 };
    const live = await newTask(app, "approving");
    await directory().record({ kind: "approval.opened", id: ghost, task_id: live.id, ...opened });
    expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(ended.id);
    expect((await snapshot()).approvals.map((x) => x.id)).toContain(ghost);

    // And an approval denied while the directory's write was lost: the directory still lists it open.
    const denied = await ask(app, live.token);
    const csrf = (await pageOf(app, denied.id, await person())).csrf;
    const no = await send(app, `/_firebreak/v1/approvals/${denied.id}/deny`, {
      ...decisionInit(await person(), csrf),
      env: lost,
    });
    expect(no.json?.status).toBe("denied");
    await vi.waitFor(async () => expect((await snapshot()).approvals.map((x) => x.id)).toContain(denied.id));

    const { res, html } = await asOperator();
    expect(res.status).toBe(200);
    expect(html).toContain(`data-task="${live.id}"`);
    expect(html).not.toContain(`data-task="${ended.id}"`);
    expect(html).not.toContain(ghost);
    expect(html).not.toContain(denied.id);
  });

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
    expect(sqls).toHaveLength(4);
    expect(html).toContain('id="estimate-note"');
    expect(html).toMatch(/<span class="n">≈ 11<\/span> <span class="k">decisions<\/span>/);
    expect(html).toMatch(/<span class="n">≈ 10<\/span> <span class="k">denied<\/span>/);
    expect(html).toContain("<title>github:repos.delete: 10</title>");
    expect(html).toContain("<title>remote:agent-1: 10</title>");
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

it("a refused start is never listed (the directory is written only once a start succeeded)", async () => {
  const refused = await startTask(app, "closed", { purpose: "refused-start" });
  expect([refused.res.status, refused.json?.reason]).toEqual([403, "task.profile_denied"]);
  const ok = await newTask(app, "basic");
  await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(ok.id));
  expect((await snapshot()).tasks.filter((t) => t.purpose === "refused-start")).toEqual([]);
});
