/**
 * The task path in one Durable Object round trip (issue 13): rules reading `task.*` are decided by the
 * task's object in the transaction that admits the step, so they are as exact under concurrency as the
 * budgets; the answer waits for that one round trip only, the settle comes after it; and what the
 * held settle means stays fail closed (an in-flight read counts as read, an in-flight prerequisite is
 * "not yet").
 */
import { env as workerEnv } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import type { ApprovalView } from "../../src/tasks/approval-types";
import type { TaskView } from "../../src/tasks/task-object";
import { agentToken, BASE, bindings, createAppFor, expectRefusal, newTask, recorded, send } from "./support";

const env = workerEnv as unknown as Env;
const ISSUE = "/github/repos/acme/api/issues/1";
const USER = "/github/user";
const COMMENTS = "/github/repos/acme/api/issues/1/comments";
// Hundreds of calls in one test isolate: the fixture's 1 s upstream timeout is not the subject here.
const app = createAppFor({ upstream_timeout_ms: 15_000 });

afterEach(() => vi.restoreAllMocks());

/** Sends `n` requests at once with one batch header; the statuses and reasons, and what the upstream got. */
async function burst(requests: { path: string; init?: RequestInit }[], token: string) {
  const batch = crypto.randomUUID();
  vi.spyOn(console, "log").mockImplementation(() => {});
  const responses = await Promise.all(
    requests.map(({ path, init }) =>
      app.fetch(
        new Request(`${BASE}${path}`, {
          ...init,
          headers: {
            ...(init?.headers as Record<string, string>),
            authorization: `Bearer ${token}`,
            "x-test-batch": batch,
          },
        }),
        bindings as never,
      ),
    ),
  );
  const answers = await Promise.all(
    responses.map(async (r) => ({ status: r.status, reason: ((await r.json()) as { reason?: string }).reason })),
  );
  const upstream = (await recorded()).filter((r) => r.headers["x-test-batch"] === batch);
  return { answers, upstream };
}

async function view(taskId: string): Promise<TaskView> {
  return (await env.TASKS!.getByName(taskId).inspect(0, 500)) as unknown as TaskView;
}

describe("a rule over task.calls is exact under concurrency", () => {
  it.each([50, 200])("%i concurrent calls under `task.calls < 5`: exactly 5 forwarded", async (n) => {
    const task = await newTask(app, "counted", await agentToken({ sub: "counter-1" }));
    const { answers, upstream } = await burst(
      Array.from({ length: n }, () => ({ path: USER })),
      task.token,
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    // The allow rule no longer matches: default deny, decided by the object, nothing forwarded.
    const refused = answers.filter((a) => a.status !== 200);
    expect(new Set(refused.map((a) => `${a.status} ${a.reason}`))).toEqual(new Set(["403 policy.no_match"]));
    expect(upstream).toHaveLength(5);
    const log = await view(task.id);
    expect(log.counters.calls).toBe(5);
    const calls = log.steps.filter((s) => s.kind === "call");
    expect(calls.filter((s) => s.outcome === "reserved")).toHaveLength(5);
    // Every refused call is in the task's log with its reason, written by the same transaction.
    expect(calls.filter((s) => s.outcome === "refused" && s.reason === "policy.no_match")).toHaveLength(n - 5);
  });
});

describe("the toxic flow under concurrency", () => {
  it("never forwards a write admitted after the PII read was reserved", async () => {
    const tasks = await Promise.all(Array.from({ length: 12 }, () => newTask(app, "basic")));
    const comment = { method: "POST", headers: { "content-type": "application/json" }, body: '{"body":"hi"}' };
    let readsReserved = 0;
    for (const task of tasks) {
      const requests = [
        { path: "/slack/api/users.info?user=U1" },
        ...Array.from({ length: 4 }, () => ({ path: COMMENTS, init: comment })),
      ];
      // The read goes in the middle: some writes arrive before it, some after.
      requests.splice(2, 0, requests.shift()!);
      const { upstream } = await burst(requests, task.token);
      const calls = (await view(task.id)).steps.filter((s) => s.kind === "call");
      const read = calls.find((s) => s.action === "slack:users.info" && s.outcome === "reserved");
      const writes = calls.filter((s) => s.action === "github:issues.comments.create");
      const admitted = writes.filter((s) => s.outcome === "reserved");
      if (read !== undefined) {
        readsReserved += 1;
        expect(admitted.every((w) => w.seq < read.seq)).toBe(true);
        const after = writes.filter((w) => w.seq > read.seq);
        expect(after.every((w) => w.outcome === "refused" && w.reason === "sequence.forbidden_after")).toBe(true);
      }
      // What the upstream received is exactly what was admitted.
      expect(upstream.filter((u) => u.method === "POST")).toHaveLength(admitted.length);
    }
    expect(readsReserved).toBeGreaterThan(0);
  });
});

describe("one round trip before the answer", () => {
  /** The task namespace, counting RPCs to task objects by whether they finished before the answer. */
  function counting() {
    const seen = { before: [] as string[], after: [] as string[], answered: false };
    const real = env.TASKS!;
    const ns = {
      getByName(name: string) {
        const stub = real.getByName(name) as unknown as Record<string, (...a: unknown[]) => unknown>;
        // Every method the gateway may call on a task object, counted by when it was called.
        const methods = ["admitAll", "settleAll", "logRefused", "view", "requestApproval", "redeemApproval"];
        return Object.fromEntries(
          methods.map((m) => [
            m,
            async (...args: unknown[]) => {
              const result = await stub[m]!(...args);
              // Finished before the answer: the request waited for it.
              (seen.answered ? seen.after : seen.before).push(m);
              return result;
            },
          ]),
        );
      },
    };
    return { seen, ns };
  }

  it("a task call whose rule reads task.calls: admitAll before the answer, the settle after it", async () => {
    const task = await newTask(app, "counted", await agentToken({ sub: "counter-1" }));
    const { seen, ns } = counting();
    const waits: Promise<unknown>[] = [];
    const ctx = { waitUntil: (p: Promise<unknown>) => waits.push(p), passThroughOnException() {}, props: {} };
    vi.spyOn(console, "log").mockImplementation(() => {});
    const res = await app.fetch(
      new Request(`${BASE}${USER}`, { headers: { authorization: `Bearer ${task.token}` } }),
      { ...bindings, TASKS: ns } as never,
      ctx as never,
    );
    seen.answered = true;
    expect(res.status, await res.clone().text()).toBe(200);
    await Promise.all(waits);
    expect(seen.before).toEqual(["admitAll"]);
    expect(seen.after).toEqual(["settleAll"]);
    // The settle was held in memory and is written by the next read of the task.
    const steps = (await view(task.id)).steps;
    expect(steps.map((s) => s.kind)).toEqual(["open", "call", "settle"]);
  });
});

describe("a person asked by a rule over the task's state", () => {
  it("the object decides that a person must approve: the approval opens, nothing is forwarded", async () => {
    const task = await newTask(app, "counted", await agentToken({ sub: "counter-1" }));
    const render = { method: "POST", headers: { "content-type": "application/json" }, body: '{"text":"hi"}' };
    const first = await send(app, "/github/markdown", { ...render, bearer: task.token });
    expect(first.res.status, first.text).toBe(200);
    const second = await send(app, "/github/markdown", { ...render, bearer: task.token });
    expect([second.res.status, second.json?.reason, second.records[0]?.effect]).toEqual([
      403,
      "approval.required",
      "approval_required",
    ]);
    expect(second.upstream).toEqual([]);
    expect(second.records[0]?.rules).toEqual(["counted-render-later"]);
    const approvals = (await env.TASKS!.getByName(task.id).listApprovals(Date.now())) as unknown as ApprovalView[];
    expect(approvals.map((a) => [a.status, a.request.action, a.rules])).toEqual([
      ["pending", "github:markdown.render", ["counted-render-later"]],
    ]);
    expect((await view(task.id)).counters.calls).toBe(1);
  });
});

describe("what a held settle means", () => {
  it("a prerequisite in flight answers sequence.pending (429, Retry-After); timed out, sequence.requires", async () => {
    const fast = createAppFor({ upstream_timeout_ms: 1000 });
    const task = await newTask(fast, "after-slow");
    vi.spyOn(console, "log").mockImplementation(() => {});
    const slow = fast.fetch(
      new Request(`${BASE}/slow/thing`, { headers: { authorization: `Bearer ${task.token}` } }),
      bindings as never,
    );
    await vi.waitFor(async () => expect((await view(task.id)).counters.calls).toBe(1));
    vi.restoreAllMocks();
    const early = await send(fast, ISSUE, { bearer: task.token });
    expectRefusal(early, 429, "sequence.pending");
    expect(early.res.headers.get("retry-after")).toBe("1");
    expect(early.upstream).toEqual([]);
    // The slow read times out: not a success, so the prerequisite is missing, for good.
    expect((await slow).status).toBe(504);
    await vi.waitFor(async () => expect((await view(task.id)).steps.some((s) => s.kind === "settle")).toBe(true));
    expectRefusal(await send(fast, ISSUE, { bearer: task.token }), 403, "sequence.requires");
  });
});
