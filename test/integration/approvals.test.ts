/**
 * Human approval through the gateway (issue 4): a call that needs a person is refused with where to
 * poll and nothing is forwarded; a person from a person issuer who matches the approvers approves on
 * the page (form token, same origin); the agent repeats the identical request with Firebreak-Approval
 * and it is admitted once, budgets still applying. Every other path is a refusal with its own code, and
 * each asserts that nothing reached the upstream.
 */
import { env as workerEnv } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { taskIdOfApproval } from "../../src/tasks/approval-ids";
import type { TaskView } from "../../src/tasks/task-object";
import { token } from "../helpers/tokens";
import {
  type Approval,
  decide as decideOn,
  MERGE,
  MERGE_BODY,
  mergeInit,
  openApprovalAt,
  page as pageOf,
  person,
} from "./approval-support";
import {
  type App,
  BASE,
  bindings,
  CANARY,
  expectRefusal,
  gatewayApp,
  inlineToken,
  newTask,
  recorded,
  type Sent,
  send,
  taskRoute,
  testClock,
} from "./support";

const env = workerEnv as unknown as Env;
const app = gatewayApp();
const merge = (t: string, extra: { headers?: Record<string, string>; body?: string; path?: string } = {}) =>
  send(app, extra.path ?? MERGE, mergeInit(t, extra));

afterEach(() => vi.restoreAllMocks());

/** Asks for an approval and checks the answer in full: where to poll, which rule asked. */
async function ask(t: string, extra: { path?: string } = {}): Promise<Approval> {
  const sent = await merge(t, extra);
  expectRefusal(sent, 403, "approval.required", "approval_required");
  const approval = sent.json?.approval as Approval;
  expect(approval.id).toMatch(/^ap_[0-9A-HJKMNP-TV-Z]{52}$/);
  expect(approval.status_url).toBe(`${bindings.GATEWAY_ORIGIN}/_firebreak/v1/approvals/${approval.id}/status`);
  expect(sent.records[0]).toMatchObject({ effect: "approval_required", rules: ["merges-need-approval"] });
  return approval;
}
const page = (id: string, bearer: string | null) => pageOf(app, id, bearer);
const decide = (
  id: string,
  verdict: "approve" | "deny",
  bearer: string,
  opts?: { csrf?: string | null; site?: string },
) => decideOn(app, id, verdict, bearer, opts);

async function status(id: string, bearer: string, on: App = app) {
  const res = await on.fetch(
    new Request(`${BASE}/_firebreak/v1/approvals/${id}/status`, { headers: { authorization: `Bearer ${bearer}` } }),
    bindings as never,
  );
  return { res, json: (await res.json()) as Record<string, unknown> };
}

const stepsOf = async (taskId: string) => (await env.TASKS!.getByName(taskId).inspect(0, 500))!.steps;
const merged = async () => (await recorded()).filter((r) => r.method === "PUT" && r.url.includes("/merge"));

function expectGranted(sent: Sent, approvalId: string): void {
  expect(sent.res.status, sent.text).toBe(200);
  expect(sent.res.headers.get("firebreak-decision")).toBe("allow");
  expect(sent.records.map((r) => [r.effect, r.reason, r.detail])).toEqual([
    ["allow", "approval.granted", `approval ${approvalId}`],
  ]);
  expect(sent.upstream).toHaveLength(1);
  expect(sent.upstream[0]!.body).toBe(MERGE_BODY);
  expect(Object.keys(sent.upstream[0]!.headers)).not.toContain("firebreak-approval");
}

describe("approve, then the identical retry is admitted once", () => {
  it("round trip: ask, notify, page, approve, poll, retry once, reuse refused", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    expect(taskIdOfApproval(a.id)).toBe(task.id);

    const pending = await status(a.id, task.token);
    expect([pending.res.status, pending.json.status]).toEqual([200, "pending"]);
    expectRefusal(await merge(task.token, { headers: { "firebreak-approval": a.id } }), 403, "approval.pending");

    // The approvers were told, in the background: one webhook POST, Slack-compatible, with the page link.
    await vi.waitFor(async () => {
      expect((await recorded()).filter((r) => r.body.includes(a.id))).toHaveLength(1);
    });
    const hook = (await recorded()).find((r) => r.body.includes(a.id))!;
    expect(hook.url).toBe(CANARY.FIREBREAK_APPROVAL_WEBHOOK);
    const message = JSON.parse(hook.body) as { text: string; blocks: unknown[] };
    expect(message.text).toContain("github:pulls.merge");
    expect(message.text).toContain("remote:agent-1");
    expect(JSON.stringify(message.blocks)).toContain(`/_firebreak/v1/approvals/${a.id}`);
    await vi.waitFor(async () => expect((await stepsOf(task.id)).some((s) => s.kind === "notify")).toBe(true));

    const shown = await page(a.id, await person());
    expect(shown.res.status).toBe(200);
    expect(shown.res.headers.get("content-security-policy")).toContain("form-action 'self'");
    for (const field of ["PUT /repos/acme/api/pulls/7/merge", "github:pulls.merge", "repo:acme/api", "high", "squash"])
      expect(shown.html).toContain(field);
    expect(shown.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const yes = await decide(a.id, "approve", await person());
    expect([yes.res.status, yes.json.status]).toEqual([200, "approved"]);
    expect((await status(a.id, task.token)).json.status).toBe("approved");

    const before = (await merged()).length;
    expectGranted(await merge(task.token, { headers: { "firebreak-approval": a.id } }), a.id);
    expectRefusal(await merge(task.token, { headers: { "firebreak-approval": a.id } }), 403, "approval.used");
    expect((await merged()).length).toBe(before + 1);
    expect((await status(a.id, task.token)).json.status).toBe("used");

    // The log holds the request, the person's decision (who, when), the notification and the call.
    const steps = await stepsOf(task.id);
    const approve = steps.find((s) => s.kind === "approve")!;
    expect([approve.by, approve.outcome, approve.args?.email]).toEqual(["people alice", "approved", "alice@acme.test"]);
    const used = steps.filter((s) => s.kind === "call" && s.by === `approval ${a.id}`);
    expect(used.map((s) => [s.outcome, s.reason])).toEqual([
      ["refused", "approval.pending"],
      ["reserved", null],
      ["refused", "approval.used"],
    ]);
    const view = (await taskRoute(app, `/${task.id}`, task.token)).json as unknown as TaskView & {
      log: { ok: boolean };
    };
    expect(view.log.ok).toBe(true);
  });

  it("the same request asked again waits on the same approval (one notification)", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    const b = await ask(task.token);
    expect(b.id).toBe(a.id);
    const other = await ask(task.token, { path: "/github/repos/acme/api/pulls/8/merge" });
    expect(other.id).not.toBe(a.id);
  });
});

describe("the retry must be the approved request, exactly", () => {
  it("a changed body, path or query is approval.mismatch; the approval stays usable", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    await decide(a.id, "approve", await person());
    const use = { "firebreak-approval": a.id };
    const before = (await merged()).length;
    expectRefusal(
      await merge(task.token, { headers: use, body: '{"merge_method":"merge"}' }),
      403,
      "approval.mismatch",
    );
    expectRefusal(await merge(task.token, { headers: use, body: `${MERGE_BODY} ` }), 403, "approval.mismatch");
    expectRefusal(
      await merge(task.token, { headers: use, path: "/github/repos/acme/api/pulls/8/merge" }),
      403,
      "approval.mismatch",
    );
    expectRefusal(await merge(task.token, { headers: use, path: `${MERGE}?sha=abc` }), 403, "approval.mismatch");
    expect((await merged()).length).toBe(before);
    expectGranted(await merge(task.token, { headers: use }), a.id);
  });

  it("another task's approval, or a made-up id, is refused; the other task's approval is untouched", async () => {
    const mine = await newTask(app, "approving");
    const theirs = await newTask(app, "approving");
    const a = await ask(theirs.token);
    await decide(a.id, "approve", await person());
    expectRefusal(await merge(mine.token, { headers: { "firebreak-approval": a.id } }), 403, "approval.unknown");
    expectRefusal(await merge(mine.token, { headers: { "firebreak-approval": "ap_nope" } }), 403, "approval.unknown");
    expect((await status(a.id, mine.token)).json.reason).toBe("approval.unknown");
    expect((await status(a.id, theirs.token)).json.status).toBe("approved");
  });

  it("budgets still apply: at the retry, and before anyone is asked", async () => {
    const task = await newTask(app, "approving"); // one merge per task
    const path = "/github/repos/acme/api/pulls/8/merge";
    const first = await ask(task.token);
    const second = await ask(task.token, { path });
    await decide(first.id, "approve", await person());
    await decide(second.id, "approve", await person());
    expectGranted(await merge(task.token, { headers: { "firebreak-approval": first.id } }), first.id);
    // Approved, but the budget is used up now: refused at the retry, and the approval is not spent.
    expectRefusal(
      await merge(task.token, { path, headers: { "firebreak-approval": second.id } }),
      403,
      "budget.exhausted",
    );
    expect((await status(second.id, task.token)).json.status).toBe("approved");
    // A merge the budget refuses already is refused as such: no approval opened, nobody notified.
    const before = (await recorded()).length;
    const third = await merge(task.token, { path: "/github/repos/acme/api/pulls/9/merge" });
    expectRefusal(third, 403, "budget.exhausted");
    expect(third.json?.approval).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    expect((await recorded()).slice(before).filter((r) => r.body.includes(task.id))).toEqual([]);
  });

  it("concurrent retries with one approval admit exactly one", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    await decide(a.id, "approve", await person());
    const before = (await merged()).length;
    const results = await Promise.all(
      Array.from({ length: 25 }, () => merge(task.token, { headers: { "firebreak-approval": a.id } })),
    );
    const codes = results.map((r) => r.json?.reason ?? r.res.status);
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === "approval.used")).toHaveLength(24);
    expect((await merged()).length).toBe(before + 1);
  });
});

describe("no answer, or no, means no", () => {
  it("a denied approval refuses the retry approval.denied", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    const csrf = (await page(a.id, await person())).csrf; // the form as a second approver's tab still shows it
    const no = await decide(a.id, "deny", await person("bob", { groups: ["approvers"] }));
    expect(no.json.status).toBe("denied");
    expect((await status(a.id, task.token)).json.status).toBe("denied");
    expectRefusal(await merge(task.token, { headers: { "firebreak-approval": a.id } }), 403, "approval.denied");
    const again = await decide(a.id, "approve", await person(), { csrf });
    expect([again.res.status, again.json.reason]).toEqual([409, "approval.decided"]);
    const steps = await stepsOf(task.id);
    expect(steps.find((s) => s.kind === "deny")?.by).toBe("people bob");
  });

  it("an approval past its expiry is approval.expired, approved or not", async () => {
    const clock = testClock();
    const timed = gatewayApp({ clock: clock.now });
    const task = await newTask(timed, "approving");
    // A 30 s lifetime (the shortest a profile may set), for exactly this request.
    const opened = await openApprovalAt(task.id, clock.ms(), 30);
    const csrf = (await pageOf(timed, opened.id, await person())).csrf;
    expect((await decideOn(timed, opened.id, "approve", await person(), { csrf })).json.status).toBe("approved");
    clock.set(opened.expires_at); // expired from expires_at on
    expect((await status(opened.id, task.token, timed)).json.status).toBe("expired");
    const retry = mergeInit(task.token, { headers: { "firebreak-approval": opened.id } });
    expectRefusal(await send(timed, MERGE, retry), 403, "approval.expired");
    const late = await decideOn(timed, opened.id, "approve", await person(), { csrf });
    expect(late.json.reason).toBe("approval.expired");
  });
});

describe("who may approve", () => {
  it("a person without the approvers' claim is refused approver.not_allowed; the approval stays pending", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    const outsider = await person("mallory", { groups: ["developers"] });
    const shown = await page(a.id, outsider);
    expect([shown.res.status, shown.csrf]).toEqual([403, null]);
    expect(shown.html).toContain("approver.not_allowed");
    const tried = await decide(a.id, "approve", outsider, { csrf: (await page(a.id, await person())).csrf });
    expect([tried.res.status, tried.json.reason]).toEqual([403, "approver.not_allowed"]);
    expect((await status(a.id, task.token)).json.status).toBe("pending");
  });

  it("an agent identity can never approve: a workload token, or the task's own token", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    const csrf = (await page(a.id, await person())).csrf;
    for (const bearer of [await token({ sub: "operator-1" }), task.token]) {
      expect((await page(a.id, bearer)).res.status).toBe(403);
      const tried = await decide(a.id, "approve", bearer, { csrf });
      expect([tried.res.status, tried.json.reason]).toEqual([403, "approver.agent_identity"]);
    }
    expect((await status(a.id, task.token)).json.status).toBe("pending");
  });

  it("nobody approves a request made under their own subject", async () => {
    const task = await newTask(app, "approving"); // agent-1's task
    const a = await ask(task.token);
    const me = await person("agent-1");
    const shown = await page(a.id, me);
    expect([shown.res.status, shown.csrf]).toEqual([200, null]);
    expect(shown.html).toContain("Nobody approves a request made under their own identity.");
    const csrf = (await page(a.id, await person())).csrf;
    const tried = await decide(a.id, "approve", me, { csrf });
    expect([tried.res.status, tried.json.reason]).toEqual([403, "approver.self"]);
    // Nor under their email as the agent's subject.
    const byEmail = await decide(a.id, "approve", await person("carol", { groups: ["approvers"], email: "Agent-1" }), {
      csrf,
    });
    expect(byEmail.json.reason).toBe("approver.self");
    expect((await status(a.id, task.token)).json.status).toBe("pending");
  });

  it("no token, or a stale or cross-site form, decides nothing", async () => {
    const task = await newTask(app, "approving");
    const a = await ask(task.token);
    expect((await page(a.id, null)).res.status).toBe(401);
    const bad = await decide(a.id, "approve", await person(), { csrf: "x".repeat(43) });
    expect([bad.res.status, bad.json.reason]).toEqual([403, "approval.csrf"]);
    const cross = await decide(a.id, "approve", await person(), { site: "cross-site" });
    expect([cross.res.status, cross.json.reason]).toEqual([403, "approval.csrf"]);
    expect((await status(a.id, task.token)).json.status).toBe("pending");
  });
});

describe("when a person is asked", () => {
  it("a profile can ask for a person at a risk level, even for a call a rule allows", async () => {
    const task = await newTask(app, "guarded"); // approvals.risk: low, approvers: leads
    const sent = await send(app, "/github/repos/acme/api/issues/1", { bearer: task.token });
    expectRefusal(sent, 403, "approval.required", "approval_required");
    expect(sent.records[0]!.rules).toEqual(["profile:guarded"]);
    const id = (sent.json!.approval as Approval).id;
    expect((await decide(id, "approve", await person())).json.reason).toBe("approver.not_allowed");
    expect((await decide(id, "approve", await person("lee", { groups: ["leads"] }))).json.status).toBe("approved");
    const retried = await send(app, "/github/repos/acme/api/issues/1", {
      bearer: task.token,
      headers: { "firebreak-approval": id },
    });
    expect([retried.res.status, retried.records[0]!.reason]).toEqual([200, "approval.granted"]);
  });

  it("approvals need a task: a bare workload token gets approval.required with no approval opened", async () => {
    const sent = await merge(await token({ sub: "agent-1" }));
    expectRefusal(sent, 403, "approval.required", "approval_required");
    expect(sent.json?.approval).toBeUndefined();
    expect(sent.json?.message).toContain("approvals need a task");
  });

  it("a person's token never acts as an agent", async () => {
    expectRefusal(
      await send(app, "/github/repos/acme/api/issues/1", { bearer: await person() }),
      401,
      "identity.unknown_issuer",
    );
  });

  it("a notification that fails changes nothing: same answer, recorded failed, the approval still works", async () => {
    // agent-1 of the inline issuer: another agent, whose notification window this file has not used
    // (agent-1 of remote has had its 5 notices this minute: docs/approvals.md, "Limits").
    const task = await newTask(app, "approving", await inlineToken());
    const failing = { ...bindings, FIREBREAK_APPROVAL_WEBHOOK: "https://hooks-down.test.example/hook" };
    const sent = await send(app, MERGE, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: MERGE_BODY,
      bearer: task.token,
      env: failing,
    });
    expectRefusal(sent, 403, "approval.required", "approval_required");
    const a = sent.json?.approval as Approval;
    await vi.waitFor(
      async () => {
        const note = (await stepsOf(task.id)).find((s) => s.kind === "notify");
        expect([note?.outcome, note?.reason, note?.args?.attempts]).toEqual(["failed", "http 500", 3]);
      },
      { timeout: 8000 },
    );
    expect((await recorded()).filter((r) => r.url === "https://hooks-down.test.example/hook")).toHaveLength(3);
    await decide(a.id, "approve", await person());
    expectGranted(await merge(task.token, { headers: { "firebreak-approval": a.id } }), a.id);
  });
});

describe("the approval page's recent steps", () => {
  it("show each refused step's OWASP Agentic id beside its outcome", async () => {
    const task = await newTask(app, "approving");
    const outside = await send(app, "/github/repos/acme/api/issues/1/comments", {
      bearer: task.token,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: "hi" }),
    });
    expectRefusal(outside, 403, "task.action_not_in_profile");
    const asi = outside.records[0]?.asi;
    expect(asi).toMatch(/^ASI\d\d$/);
    const a = await ask(task.token);
    const shown = await page(a.id, await person());
    expect(shown.res.status).toBe(200);
    expect(shown.html).toContain(`<th scope="col">ASI</th>`);
    const row = /<tr>(?:(?!<\/tr>).)*task\.action_not_in_profile(?:(?!<\/tr>).)*<\/tr>/s.exec(shown.html)?.[0] ?? "";
    expect(row).toContain(`>${asi}<`);
  });
});
