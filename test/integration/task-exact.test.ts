/**
 * The task path in one Durable Object round trip (issue 13): rules reading `task.*` are decided by the
 * task's object in the transaction that admits the step, so they are as exact under concurrency as the
 * budgets; the answer waits for that one round trip only, and the settle rides on the task's next admit
 * (or goes alone shortly after), bounded; and what a held settle means stays fail closed (an in-flight
 * read counts as read, an in-flight prerequisite is "not yet").
 */
import { env as workerEnv } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import {
  CARRY_MS,
  flushSettles,
  type Held,
  heldSettles,
  holdSettle,
  MAX_HELD,
  MAX_HELD_PER_TASK,
} from "../../src/gateway/settles";
import type { ApprovalView } from "../../src/tasks/approval-types";
import type { TaskView } from "../../src/tasks/task-object";
import type { SettleNote } from "../../src/tasks/types";
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

describe("one round trip per call: the settle rides on the next admit", () => {
  /** The task namespace, counting RPCs to task objects by whether they finished before the answer. */
  function counting(fail: string[] = []) {
    const seen = { before: [] as string[], after: [] as string[], carried: [] as number[], answered: false };
    const real = env.TASKS!;
    const ns = {
      getByName(name: string) {
        const stub = real.getByName(name) as unknown as Record<string, (...a: unknown[]) => unknown>;
        // Every method the gateway may call on a task object, counted by when it was called.
        const methods = [
          "admitAll",
          "settleAll",
          "settleMany",
          "logRefused",
          "view",
          "requestApproval",
          "redeemApproval",
        ];
        return Object.fromEntries(
          methods.map((m) => [
            m,
            async (...args: unknown[]) => {
              if (m === "admitAll") seen.carried.push(((args[1] as unknown[] | undefined) ?? []).length);
              if (fail.includes(m)) throw new Error(`${m} failed (test)`);
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

  /** One call through the app with a real execution context: its `waitUntil` work is collected. */
  async function call(token: string, ns: unknown, path = USER) {
    const waits: Promise<unknown>[] = [];
    const ctx = { waitUntil: (p: Promise<unknown>) => waits.push(p), passThroughOnException() {}, props: {} };
    const res = await app.fetch(
      new Request(`${BASE}${path}`, { headers: { authorization: `Bearer ${token}` } }),
      { ...bindings, TASKS: ns } as never,
      ctx as never,
    );
    return { res, waits };
  }

  it("admitAll before the answer; nothing after it; the next call's admit carries the settle", async () => {
    const task = await newTask(app, "counted", await agentToken({ sub: "counter-1" }));
    const { seen, ns } = counting();
    vi.spyOn(console, "log").mockImplementation(() => {});
    const first = await call(task.token, ns);
    seen.answered = true;
    expect(first.res.status, await first.res.clone().text()).toBe(200);
    expect(seen.before).toEqual(["admitAll"]);
    expect([heldSettles(task.id), seen.after]).toEqual([1, []]);
    seen.answered = false;
    const second = await call(task.token, ns);
    seen.answered = true;
    expect(second.res.status).toBe(200);
    // The second admit carried the first call's settle: no RPC of its own, and the first call's wait ended.
    expect([seen.before, seen.carried]).toEqual([
      ["admitAll", "admitAll"],
      [0, 1],
    ]);
    await Promise.all(first.waits);
    expect(seen.after).toEqual([]);
    // The last call's settle, which no call carries, goes alone (here at once instead of after CARRY_MS).
    await flushSettles();
    await Promise.all(second.waits);
    expect(seen.after).toEqual(["settleMany"]);
    const steps = (await view(task.id)).steps;
    // The first settle was written in the second admit's transaction, before its call entry.
    expect(steps.map((s) => [s.kind, s.ref])).toEqual([
      ["open", null],
      ["call", null],
      ["settle", 2],
      ["call", null],
      ["settle", 4],
    ]);
    expect(steps.filter((s) => s.kind === "call").map((s) => [s.settled, s.status])).toEqual([
      [true, 200],
      [true, 200],
    ]);
  });

  it("a settle no call carries is sent on its own CARRY_MS after the answer, from the call's waitUntil", async () => {
    const task = await newTask(app, "counted", await agentToken({ sub: "counter-1" }));
    const { seen, ns } = counting();
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const { res, waits } = await call(task.token, ns);
      seen.answered = true;
      expect(res.status).toBe(200);
      await vi.advanceTimersByTimeAsync(CARRY_MS - 1);
      expect([heldSettles(task.id), seen.after]).toEqual([1, []]);
      await vi.advanceTimersByTimeAsync(1);
      await Promise.all(waits);
    } finally {
      vi.useRealTimers();
    }
    expect([heldSettles(task.id), seen.after]).toEqual([0, ["settleMany"]]);
    expect((await view(task.id)).steps.map((s) => s.kind)).toEqual(["open", "call", "settle"]);
  });

  it("an admit that fails (503, nothing forwarded) sends the settles it carried on their own", async () => {
    const task = await newTask(app, "counted", await agentToken({ sub: "counter-1" }));
    vi.spyOn(console, "log").mockImplementation(() => {});
    const ok = counting();
    expect((await call(task.token, ok.ns)).res.status).toBe(200);
    const broken = counting(["admitAll"]);
    const batch = crypto.randomUUID();
    const waits: Promise<unknown>[] = [];
    const ctx = { waitUntil: (p: Promise<unknown>) => waits.push(p), passThroughOnException() {}, props: {} };
    const res = await app.fetch(
      new Request(`${BASE}${USER}`, { headers: { authorization: `Bearer ${task.token}`, "x-test-batch": batch } }),
      { ...bindings, TASKS: broken.ns } as never,
      ctx as never,
    );
    expect([res.status, ((await res.json()) as { reason: string }).reason]).toEqual([503, "task.unavailable"]);
    expect((await recorded()).filter((r) => r.headers["x-test-batch"] === batch)).toEqual([]);
    await Promise.all(waits);
    const made = [...broken.seen.before, ...broken.seen.after];
    expect([broken.seen.carried, made, heldSettles(task.id)]).toEqual([[1], ["settleMany"], 0]);
    const steps = (await view(task.id)).steps;
    expect(steps.map((s) => s.kind)).toEqual(["open", "call", "settle"]);
    expect((await view(task.id)).counters.calls).toBe(1);
  });
});

describe("the gateway's held settles are bounded", () => {
  // What earlier tests left held would count toward the isolate's cap.
  beforeEach(() => flushSettles());
  /** A namespace whose objects only record the settles they are sent. */
  function recordingNs() {
    const sent: { task: string; notes: SettleNote[] }[] = [];
    const ns = {
      getByName: (task: string) => ({
        settleMany: async (notes: SettleNote[]) => {
          sent.push({ task, notes });
        },
      }),
    } as unknown as NonNullable<Env["TASKS"]>;
    return { sent, ns };
  }
  const held = (seq: number): Held => ({
    note: { seqs: [seq], status: 200, now: 1, timedOut: false },
    decisionId: "d",
  });

  it(`a task's held settles are sent at once when they reach ${MAX_HELD_PER_TASK}`, async () => {
    const { sent, ns } = recordingNs();
    const waits: Promise<unknown>[] = [];
    const id = `t-${crypto.randomUUID()}`;
    for (let i = 1; i < MAX_HELD_PER_TASK; i++) holdSettle(ns, id, held(i), (p) => waits.push(p));
    expect([sent, heldSettles(id)]).toEqual([[], MAX_HELD_PER_TASK - 1]);
    holdSettle(ns, id, held(MAX_HELD_PER_TASK), (p) => waits.push(p));
    await Promise.all(waits);
    expect(sent.map((s) => [s.task, s.notes.length])).toEqual([[id, MAX_HELD_PER_TASK]]);
    expect(heldSettles(id)).toBe(0);
  });

  it(`past ${MAX_HELD} in the isolate, the task that has waited longest is sent at once`, async () => {
    const { sent, ns } = recordingNs();
    const waits: Promise<unknown>[] = [];
    const ids = Array.from({ length: MAX_HELD + 1 }, (_, i) => `t-${i}-${crypto.randomUUID()}`);
    for (const [i, id] of ids.entries()) holdSettle(ns, id, held(i + 1), (p) => waits.push(p));
    await Promise.resolve();
    expect(heldSettles()).toBe(MAX_HELD);
    await flushSettles();
    await Promise.all(waits);
    // The first task's settle went when the cap was passed, the rest when flushed: each exactly once.
    expect(sent[0]?.task).toBe(ids[0]);
    expect(sent.map((s) => s.task).sort()).toEqual([...ids].sort());
    expect(heldSettles()).toBe(0);
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
  it("a prerequisite's settle held by the gateway: pending to a call that does not carry it, admitted to one that does", async () => {
    const task = await newTask(app, "sequenced");
    vi.spyOn(console, "log").mockImplementation(() => {});
    const read = await app.fetch(
      new Request(`${BASE}${ISSUE}`, { headers: { authorization: `Bearer ${task.token}` } }),
      bindings as never,
    );
    expect(read.status).toBe(200);
    expect(heldSettles(task.id)).toBe(1);
    // As another isolate would admit it: the read's answer has not reached the object, so "not yet".
    const render = {
      decision_id: crypto.randomUUID(),
      action: "github:markdown.render",
      service: "github",
      labels: ["kind:read", "risk:low"],
      resource: "",
      args: {},
      now: Date.now(),
    };
    const elsewhere = await env.TASKS!.getByName(task.id).admit(render);
    expect(elsewhere).toEqual({ ok: false, reason: "sequence.pending", retry_after_s: 1 });
    vi.restoreAllMocks();
    // This isolate's next call carries the read's settle: the read has succeeded by the time it is checked.
    const here = await send(app, "/github/markdown", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"text":"hi"}',
      bearer: task.token,
    });
    expect([here.res.status, here.upstream.length]).toEqual([200, 1]);
    const calls = (await view(task.id)).steps.filter((s) => s.kind === "call");
    expect(calls.map((c) => [c.action, c.outcome, c.reason])).toEqual([
      ["github:issues.get", "reserved", null],
      ["github:markdown.render", "refused", "sequence.pending"],
      ["github:markdown.render", "reserved", null],
    ]);
  });

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
