/**
 * GET /_firebreak/v1/dashboard inside workerd, and the directory that lists its tasks and approvals:
 * who may see it (operators by Access header, bearer or cookie; agents, tasks and people who are not
 * operators get 403 admin.denied; nobody signed in 401), the directory written in the background at a
 * task's start and end and an approval's opening and decision, and the page showing what each task
 * object says (a live task's budget use, a pending approval until it is decided, never what the
 * directory alone claims). Sources and failures: dashboard-failures.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ISSUERS, token } from "../helpers/tokens";
import { ask, decide, decisionInit, page as pageOf, person } from "./approval-support";
import {
  app,
  asOperator,
  dashboard,
  directory,
  ISSUE,
  operatorPerson,
  operatorWorkload,
  rowOf,
  snapshot,
} from "./dashboard-support";
import {
  agentToken,
  BASE,
  bindings,
  expectAllowed,
  GATEWAY_REVISION,
  newTask,
  send,
  startTask,
  TASKS_PATH,
  taskRoute,
} from "./support";

afterEach(() => vi.restoreAllMocks());

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
});

it("a refused start is never listed (the directory is written only once a start succeeded)", async () => {
  const refused = await startTask(app, "closed", { purpose: "refused-start" });
  expect([refused.res.status, refused.json?.reason]).toEqual([403, "task.profile_denied"]);
  const ok = await newTask(app, "basic");
  await vi.waitFor(async () => expect((await snapshot()).tasks.map((t) => t.task_id)).toContain(ok.id));
  expect((await snapshot()).tasks.filter((t) => t.purpose === "refused-start")).toEqual([]);
});
