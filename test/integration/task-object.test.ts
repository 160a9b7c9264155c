/**
 * The task Durable Object inside workerd: admission under concurrency, every budget and sequence rule,
 * lifecycle (complete, revoke, alarm expiry) and the hash-chained step log. Each test opens its own
 * task id, so storage never leaks between tests. Negative cases assert that no counter moved.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import type { Budgets, ProfileSpec, SequenceRules } from "../../src/policy/types";
import { MAX_LOG_ENTRIES } from "../../src/tasks/task-log";
import { type AdmitReason, SETTLE_GRACE_MS, type TaskObject, type TaskView } from "../../src/tasks/task-object";
import { TaskStore } from "../../src/tasks/task-store";
import type { StepRequest } from "../../src/tasks/types";

const TASKS = (env as unknown as Env).TASKS!;
const AGENT = { issuer: "https://issuer.test", sub: "agent-1" };
/** Deadlines are real alarm times: the clock starts now and tasks live an hour unless a test says so. */
const T0 = Date.now();

type Stub = DurableObjectStub<TaskObject>;

/** Catalog of the tests: action -> service and labels. */
const ACTIONS: Record<string, { service: string; labels: string[] }> = {
  "github:issues.get": { service: "github", labels: ["kind:read", "risk:low", "data:source_code"] },
  "github:issues.comment": { service: "github", labels: ["kind:write", "risk:low"] },
  "github:checks.get": { service: "github", labels: ["kind:read", "risk:low"] },
  "github:pulls.merge": { service: "github", labels: ["kind:write", "risk:high"] },
  "crm:contacts.get": { service: "crm", labels: ["kind:read", "risk:medium", "data:pii"] },
  "slack:chat.post": { service: "slack", labels: ["kind:write", "risk:medium"] },
  "stripe:refunds.create": { service: "stripe", labels: ["kind:write", "risk:high", "data:financial"] },
};

function profile(budgets: Partial<Budgets> = {}, sequence: Partial<SequenceRules> = {}, lifetimeS = 3600) {
  return {
    name: "test",
    agents: null,
    ttl_s: 600,
    max_lifetime_s: lifetimeS,
    actions: Object.keys(ACTIONS),
    budgets: { calls: null, per_action: {}, per_label: {}, services: null, windows: [], totals: [], ...budgets },
    sequence: { requires: [], forbid_after: [], correlate: [], ...sequence },
    effects: {},
    approvals: { ttl_s: 900, risk: null, approvers: null },
    source: "test",
  } satisfies ProfileSpec;
}

async function openTask(p: ProfileSpec, now = T0): Promise<{ id: string; stub: Stub }> {
  const id = `task-${crypto.randomUUID()}`;
  const stub = TASKS.getByName(id);
  expect(await stub.open({ task_id: id, profile: p, agent: AGENT, purpose: "test", now })).toMatchObject({ ok: true });
  return { id, stub };
}

function step(action: string, over: Partial<StepRequest> = {}): StepRequest {
  const { service, labels } = ACTIONS[action]!;
  return {
    decision_id: crypto.randomUUID(),
    action,
    service,
    labels,
    resource: "repo:acme/api",
    args: {},
    now: T0 + 1000,
    ...over,
  };
}

async function admitOk(stub: Stub, s: StepRequest): Promise<number> {
  const r = await stub.admit(s);
  if (!r.ok) throw new Error(`expected ${s.action} admitted, refused ${r.reason}`);
  return r.seq;
}

/** Admits `s`, expects `reason`, and checks that the refusal was logged and moved nothing. */
async function refused(stub: Stub, s: StepRequest, reason: AdmitReason) {
  const before = (await stub.inspect(0, 500))!;
  const r = await stub.admit(s);
  expect(r).toMatchObject({ ok: false, reason });
  const after = (await stub.inspect(0, 500))!;
  expect(after.counters).toEqual(before.counters);
  expect(after.window_calls).toBe(before.window_calls);
  expect(after.labels_read).toEqual(before.labels_read);
  const last = after.steps[after.steps.length - 1]!;
  expect(last).toMatchObject({ kind: "call", action: s.action, outcome: "refused", reason });
  return r;
}

const counters = async (stub: Stub) => (await stub.inspect())!.counters;

describe("open", () => {
  it("creates the task once, with its deadline and an open entry", async () => {
    const { id, stub } = await openTask(profile());
    const again = await stub.open({
      task_id: id,
      profile: profile({ calls: 1 }),
      agent: AGENT,
      purpose: "x",
      now: T0 + 5,
    });
    expect(again).toEqual({ ok: true, deadline: T0 + 3_600_000 });
    const view = (await stub.inspect())!;
    expect(view.task).toMatchObject({ task_id: id, state: "live", agent: AGENT, deadline: T0 + 3_600_000 });
    expect(view.budgets.calls).toBeNull(); // the second open kept the first profile
    expect(view.steps.map((s) => s.kind)).toEqual(["open"]);
  });

  it("refuses a second open by another agent and leaves the task as it was", async () => {
    const { id, stub } = await openTask(profile());
    const other = { issuer: AGENT.issuer, sub: "agent-2" };
    const r = await stub.open({ task_id: id, profile: profile(), agent: other, purpose: "x", now: T0 });
    expect(r).toEqual({ ok: false, reason: "task.agent_mismatch" });
    const view = (await stub.inspect())!;
    expect(view.task.agent).toEqual({ ...AGENT, claims: {} });
    expect(view.steps.map((s) => s.kind)).toEqual(["open"]);
  });

  it("admits nothing on an object that was never opened", async () => {
    const stub = TASKS.getByName(`task-${crypto.randomUUID()}`);
    expect(await stub.admit(step("github:issues.get"))).toEqual({ ok: false, reason: "task.unknown" });
    expect(await stub.inspect()).toBeNull();
    expect(await stub.verifyLog()).toEqual({ ok: true });
  });
});

describe("calls cap under concurrency", () => {
  for (const n of [50, 500]) {
    it(`${n} concurrent admits against a cap of 10 admit exactly 10, every run`, async () => {
      for (let run = 0; run < 3; run++) {
        const { stub } = await openTask(profile({ calls: 10 }));
        const results = await Promise.all(Array.from({ length: n }, () => stub.admit(step("github:issues.get"))));
        const ok = results.filter((r) => r.ok);
        expect(ok).toHaveLength(10);
        expect(new Set(ok.map((r) => (r.ok ? r.seq : 0))).size).toBe(10);
        expect(results.filter((r) => !r.ok && r.reason === "budget.exhausted")).toHaveLength(n - 10);
        expect((await counters(stub)).calls).toBe(10);
        expect(await stub.verifyLog()).toEqual({ ok: true });
      }
    });
  }
});

describe("budgets", () => {
  const refund = (amount: unknown, now = T0 + 1000) =>
    step("stripe:refunds.create", { args: { amount } as Record<string, number>, now });
  const totals = [{ action: "stripe:refunds.create", arg: "amount", max: 50_000 }];

  it("running totals hold under concurrency; a failed call gives its reservation back", async () => {
    const { stub } = await openTask(profile({ totals }));
    const results = await Promise.all(Array.from({ length: 20 }, () => stub.admit(refund(10_000))));
    const seqs = results.flatMap((r) => (r.ok ? [r.seq] : []));
    expect(seqs).toHaveLength(5);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "budget.total_exceeded")).toBe(true);
    expect((await counters(stub))["total:stripe:refunds.create:amount"]).toBe(50_000);
    await refused(stub, refund(1), "budget.total_exceeded");

    await stub.settle(seqs[0]!, 500, T0 + 2000);
    await stub.settle(seqs[0]!, 500, T0 + 2000); // settling twice gives nothing back twice
    expect(await counters(stub)).toMatchObject({ "total:stripe:refunds.create:amount": 40_000, calls: 5 });
    await admitOk(stub, refund(10_000));
    await refused(stub, refund(10_000), "budget.total_exceeded");
  });

  it("keeps the reservation of a 2xx or 4xx call, returns it on no answer", async () => {
    const { stub } = await openTask(profile({ totals }));
    const a = await admitOk(stub, refund(20_000));
    const b = await admitOk(stub, refund(20_000));
    const c = await admitOk(stub, refund(10_000));
    await stub.settle(a, 200, T0 + 2000);
    await stub.settle(b, 402, T0 + 2000);
    await stub.settle(c, null, T0 + 2000);
    expect(await counters(stub)).toMatchObject({ "total:stripe:refunds.create:amount": 40_000, calls: 3 });
    const view = (await stub.inspect())!;
    expect(view.steps.filter((s) => s.kind === "call").map((s) => [s.status, s.settled])).toEqual([
      [200, true],
      [402, true],
      [null, true],
    ]);
  });

  it("fails closed on a missing, non-numeric or negative totals argument", async () => {
    const { stub } = await openTask(profile({ totals }));
    await refused(stub, step("stripe:refunds.create"), "budget.total_unknown");
    await refused(stub, refund("100"), "budget.total_unknown");
    await refused(stub, refund(-5_000), "budget.total_unknown");
    await refused(stub, refund(Number.NaN), "budget.total_unknown");
  });

  it("caps calls per action and per label", async () => {
    const p = profile({ per_action: { "github:issues.comment": 2 }, per_label: { "kind:write": 3 } });
    const { stub } = await openTask(p);
    await admitOk(stub, step("github:issues.comment"));
    await admitOk(stub, step("github:issues.comment"));
    await refused(stub, step("github:issues.comment"), "budget.exhausted");
    await admitOk(stub, step("slack:chat.post"));
    await refused(stub, step("github:pulls.merge"), "budget.exhausted");
    await admitOk(stub, step("github:issues.get"));
    expect(await counters(stub)).toMatchObject({ "label:kind:write": 3, "action:github:issues.comment": 2, calls: 4 });
  });

  it("caps distinct services; a service already touched stays open", async () => {
    const { stub } = await openTask(profile({ services: 2 }));
    await admitOk(stub, step("github:issues.get"));
    await admitOk(stub, step("slack:chat.post"));
    await refused(stub, step("crm:contacts.get"), "budget.services");
    await admitOk(stub, step("github:issues.comment"));
    expect((await stub.inspect())!.services.sort()).toEqual(["github", "slack"]);
  });

  it("refuses past a sliding window with the seconds until the oldest call leaves it", async () => {
    const { stub } = await openTask(profile({ windows: [{ calls: 3, seconds: 60 }] }));
    for (const t of [0, 10_000, 20_000]) await admitOk(stub, step("github:issues.get", { now: T0 + t }));
    const r = await refused(stub, step("github:issues.get", { now: T0 + 30_000 }), "budget.window");
    expect(r).toMatchObject({ retry_after_s: 30 });
    const late = await refused(stub, step("github:issues.get", { now: T0 + 59_500 }), "budget.window");
    expect(late).toMatchObject({ retry_after_s: 1 });
    await admitOk(stub, step("github:issues.get", { now: T0 + 60_000 }));
    expect(await stub.admit(step("github:issues.get", { now: T0 + 60_001 }))).toEqual({
      ok: false,
      reason: "budget.window",
      retry_after_s: 10,
    });
  });

  it("refuses an action outside the profile", async () => {
    const p = { ...profile(), actions: ["github:issues.get"] };
    const { stub } = await openTask(p);
    await refused(stub, step("github:issues.comment"), "task.action_not_in_profile");
  });
});

describe("sequence rules", () => {
  it("requires: an action only after another succeeded (2xx) in this task", async () => {
    const { stub } = await openTask(
      profile({}, { requires: [{ action: "github:pulls.merge", after: ["github:checks.get"] }] }),
    );
    await refused(stub, step("github:pulls.merge"), "sequence.requires");
    const failed = await admitOk(stub, step("github:checks.get"));
    // In flight is not succeeded, and may yet succeed: "not yet", retryable.
    const pending = await refused(stub, step("github:pulls.merge"), "sequence.pending");
    expect(pending).toMatchObject({ retry_after_s: 1 });
    await stub.settle(failed, 503, T0 + 2000);
    await refused(stub, step("github:pulls.merge"), "sequence.requires");
    await stub.settle(await admitOk(stub, step("github:checks.get")), 200, T0 + 2000);
    await admitOk(stub, step("github:pulls.merge"));
  });

  const toxic = { forbid_after: [{ read: ["data:pii"], deny: ["kind:write"], allow_services: ["github"] }] };

  it("forbid_after: a PII read settled 2xx blocks a Slack post, not a write to an allowed service", async () => {
    const { stub } = await openTask(profile({}, toxic));
    await stub.settle(await admitOk(stub, step("crm:contacts.get")), 200, T0 + 2000);
    expect((await stub.inspect())!.labels_read).toEqual(["data:pii"]);
    await refused(stub, step("slack:chat.post"), "sequence.forbidden_after");
    await admitOk(stub, step("github:issues.comment"));
  });

  it("forbid_after: a task that never read PII may post to Slack", async () => {
    const { stub } = await openTask(profile({}, toxic));
    await stub.settle(await admitOk(stub, step("github:issues.get")), 200, T0 + 2000);
    expect((await stub.inspect())!.labels_read).toEqual(["data:source_code"]);
    await admitOk(stub, step("slack:chat.post"));
  });

  it("forbid_after: a PII read counts from its admission, before and whatever its answer", async () => {
    const { stub } = await openTask(profile({}, toxic));
    const read = await admitOk(stub, step("crm:contacts.get"));
    // Its answer has not come back: the read may already have happened upstream.
    await refused(stub, step("slack:chat.post"), "sequence.forbidden_after");
    await stub.settle(read, 500, T0 + 2000);
    expect((await stub.inspect())!.labels_read).toEqual(["data:pii"]);
    await refused(stub, step("slack:chat.post"), "sequence.forbidden_after");
  });

  it("correlate: a write only to a resource this task read", async () => {
    const rules = { correlate: [{ action: "github:issues.comment", read_by: ["github:issues.get"] }] };
    const { stub } = await openTask(profile({}, rules));
    const issue1 = { resource: "issue:acme/api#1" };
    await refused(stub, step("github:issues.comment", issue1), "sequence.unread_resource");
    await stub.settle(await admitOk(stub, step("github:issues.get", issue1)), 200, T0 + 2000);
    await admitOk(stub, step("github:issues.comment", issue1));
    await refused(stub, step("github:issues.comment", { resource: "issue:acme/api#2" }), "sequence.unread_resource");
    // Returned by another action does not count.
    const issue3 = { resource: "issue:acme/api#3" };
    await stub.settle(await admitOk(stub, step("github:checks.get", issue3)), 200, T0 + 2000);
    await refused(stub, step("github:issues.comment", issue3), "sequence.unread_resource");
  });
});

describe("lifecycle", () => {
  it("complete refuses every later admit at once", async () => {
    const { stub } = await openTask(profile());
    await admitOk(stub, step("github:issues.get"));
    expect(await stub.complete(T0 + 2000)).toEqual({ ok: true });
    await refused(stub, step("github:issues.get"), "task.completed");
    expect(await stub.complete(T0 + 3000)).toEqual({ ok: false, reason: "task.completed" });
    expect(await stub.revoke(T0 + 3000, "ops")).toEqual({ ok: false, reason: "task.completed" });
    expect((await stub.inspect())!.task).toMatchObject({ state: "completed", ended_at: T0 + 2000 });
  });

  it("revoke refuses at once, including admits in flight while it runs", async () => {
    const { stub } = await openTask(profile());
    const inFlight = Array.from({ length: 60 }, () => stub.admit(step("github:issues.get")));
    expect(await stub.revoke(T0 + 1500, "ops@acme")).toEqual({ ok: true });
    const sentAfter = await Promise.all(Array.from({ length: 30 }, () => stub.admit(step("github:issues.get"))));
    expect(sentAfter.every((r) => !r.ok && r.reason === "task.revoked")).toBe(true);
    // In flight: the interleaving varies; each admit is reserved before the revoke or refused after it.
    const results = await Promise.all(inFlight);
    const view = (await stub.inspect(0, 500))!;
    const at = view.steps.find((s) => s.kind === "revoke")!;
    expect(at.by).toBe("ops@acme");
    expect(view.steps.filter((s) => s.seq > at.seq && s.outcome === "reserved")).toEqual([]);
    for (const r of results) {
      if (r.ok) expect(r.seq).toBeLessThan(at.seq);
      else expect(r.reason).toBe("task.revoked");
    }
    expect(view.counters.calls ?? 0).toBe(results.filter((r) => r.ok).length);
    await refused(stub, step("github:issues.get"), "task.revoked");
  });

  it("the alarm expires a live task at its deadline and logs it once", async () => {
    const { stub } = await openTask(profile({}, {}, 60), Date.now() - 120_000);
    await runDurableObjectAlarm(stub); // it may already have fired by itself: the deadline is past
    await runDurableObjectAlarm(stub);
    const view = (await stub.inspect())!;
    expect(view.task.state).toBe("expired");
    expect(view.steps.filter((s) => s.kind === "expire")).toHaveLength(1);
    await refused(stub, step("github:issues.get", { now: Date.now() }), "task.expired");
    expect(await stub.verifyLog()).toEqual({ ok: true });
  });

  it("an early alarm leaves the task live", async () => {
    const { stub } = await openTask(profile());
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.inspect())!.task.state).toBe("live");
  });

  it("refuses task.expired at the deadline even before the alarm runs", async () => {
    const { stub } = await openTask(profile({}, {}, 60));
    await admitOk(stub, step("github:issues.get", { now: T0 + 59_999 }));
    await refused(stub, step("github:issues.get", { now: T0 + 60_000 }), "task.expired");
    const kinds = (await stub.inspect())!.steps.map((s) => s.kind);
    expect(kinds).toEqual(["open", "call", "expire", "call"]);
    expect(await stub.complete(T0 + 70_000)).toEqual({ ok: false, reason: "task.expired" });
  });
});

describe("step log", () => {
  async function busyTask() {
    const { stub } = await openTask(profile({ calls: 3 }));
    const a = await admitOk(stub, step("github:issues.get"));
    await stub.settle(a, 200, T0 + 2000);
    await admitOk(stub, step("slack:chat.post"));
    await admitOk(stub, step("github:issues.comment"));
    await stub.admit(step("github:issues.get")); // refused: logged too
    return stub;
  }

  it("chains every entry, refused steps included, and pages through them", async () => {
    const stub = await busyTask();
    expect(await stub.verifyLog()).toEqual({ ok: true });
    const first = (await stub.inspect(0, 4))!;
    expect(first.steps.map((s) => s.seq)).toEqual([1, 2, 3, 4]);
    const rest = (await stub.inspect(first.next_cursor!, 4))!;
    expect(rest.steps.map((s) => [s.kind, s.outcome])).toEqual([
      ["call", "reserved"],
      ["call", "refused"],
    ]);
    expect(rest.next_cursor).toBeNull();
  });

  const tampered = async (sql: string, brokenAt: number) => {
    const stub = await busyTask();
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec(sql);
    });
    expect(await stub.verifyLog()).toEqual({ ok: false, broken_at: brokenAt });
  };

  it("detects an edited entry", () => tampered("UPDATE steps SET resource = 'repo:acme/other' WHERE seq = 4", 4));
  it("detects an edited settle status", () => tampered("UPDATE steps SET status = 500 WHERE seq = 2", 2));
  it("detects a deleted entry in the middle", () => tampered("DELETE FROM steps WHERE seq = 3", 3));
  it("detects a truncated tail", () => tampered("DELETE FROM steps WHERE seq = 6", 6));
  it("detects edited request facts", async () => {
    const { stub } = await openTask(profile());
    const facts = { method: "GET", path: "/repos/acme/api/issues/1", query: [] as [string, string][], args: {} };
    expect((await stub.admit({ ...step("github:issues.get"), facts })).ok).toBe(true);
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(`UPDATE steps SET facts = '{"method":"GET"}' WHERE seq = 2`);
    });
    expect(await stub.verifyLog()).toEqual({ ok: false, broken_at: 2 });
  });

  it("an object made before facts and claims existed gains the columns, and its old entries still verify", async () => {
    const { stub } = await openTask(profile());
    await admitOk(stub, step("github:issues.get"));
    await runInDurableObject(stub, (_instance, state) => {
      // As the tables were before: no facts column, no claims column.
      state.storage.sql.exec("ALTER TABLE steps DROP COLUMN facts");
      state.storage.sql.exec("ALTER TABLE task DROP COLUMN claims");
      const store = new TaskStore(state.storage.sql);
      store.migrate();
      const cols = (t: string) =>
        state.storage.sql
          .exec<{ name: string }>(`SELECT name FROM pragma_table_info('${t}')`)
          .toArray()
          .map((r) => r.name);
      expect(cols("steps")).toContain("facts");
      expect(cols("task")).toContain("claims");
    });
    expect(await stub.verifyLog()).toEqual({ ok: true });
  });
});

describe("bounded log", () => {
  it("a flood of refused calls: the first 1,000 in full, the rest counted and summarised, still chained", async () => {
    const { stub } = await openTask({ ...profile(), actions: ["github:issues.get"] });
    const n = 2500;
    const results = await Promise.all(Array.from({ length: n }, () => stub.admit(step("github:issues.comment"))));
    expect(results.every((r) => !r.ok && r.reason === "task.action_not_in_profile")).toBe(true);
    expect(await stub.complete(T0 + 5000)).toEqual({ ok: true });
    const pages: TaskView["steps"] = [];
    for (let cursor = 0; ; ) {
      const page = (await stub.inspect(cursor, 500)) as unknown as TaskView;
      pages.push(...page.steps);
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    const full = pages.filter((s) => s.kind === "call" && s.outcome === "refused");
    expect(full).toHaveLength(1000);
    const summaries = pages.filter((s) => s.kind === "refusals");
    const counted = summaries.reduce((sum, s) => sum + (s.args?.["task.action_not_in_profile"] as number), 0);
    expect(counted).toBe(n - 1000);
    // Open, the full entries, at most a summary per 1,000 counted, the end.
    expect(pages.length).toBeLessThanOrEqual(1 + 1000 + 2 + 1);
    expect((await stub.inspect())!.refused).toEqual({ "task.action_not_in_profile": n });
    expect((await stub.inspect())!.counters).toEqual({});
    expect(await stub.verifyLog()).toEqual({ ok: true });
    expect(await stub.verifyLog(true)).toEqual({ ok: true });
  });

  it("a full log refuses every admit task.log_full, counting it and writing nothing", async () => {
    const { stub } = await openTask(profile());
    await runInDurableObject(stub, (instance: TaskObject, state) => {
      // As if MAX_LOG_ENTRIES entries had been written (the chain is not the subject here).
      state.storage.sql.exec("UPDATE task SET head_seq = ? WHERE id = 1", MAX_LOG_ENTRIES);
      (instance as unknown as { store: TaskStore }).store.forget();
    });
    const r = await stub.admit(step("github:issues.get"));
    expect(r).toEqual({ ok: false, reason: "task.log_full" });
    const view = (await stub.inspect())!;
    expect([view.log_length, view.counters, view.refused]).toEqual([MAX_LOG_ENTRIES, {}, { "task.log_full": 1 }]);
  });

  it("verification is incremental; a full one catches an entry changed after it was verified", async () => {
    const { stub } = await openTask(profile());
    await stub.settle(await admitOk(stub, step("github:issues.get")), 200, T0 + 2000);
    expect(await stub.verifyLog()).toEqual({ ok: true });
    await runInDurableObject(stub, (_i: TaskObject, state) => {
      state.storage.sql.exec("UPDATE steps SET resource = 'repo:evil/x' WHERE seq = 2");
    });
    await admitOk(stub, step("github:issues.get"));
    // From where it was verified: the new entry holds.
    expect(await stub.verifyLog()).toEqual({ ok: true });
    expect(await stub.verifyLog(true)).toEqual({ ok: false, broken_at: 2 });
  });

  it("a settle that never comes: the alarm closes the call as unknown and keeps its reservation", async () => {
    const totals = [{ action: "stripe:refunds.create", arg: "amount", max: 100 }];
    const { stub } = await openTask(profile({ totals }), Date.now());
    const now = Date.now();
    await admitOk(stub, step("stripe:refunds.create", { now, args: { amount: 60 } }));
    vi.setSystemTime(now + SETTLE_GRACE_MS + 1);
    try {
      await runDurableObjectAlarm(stub);
    } finally {
      vi.useRealTimers();
    }
    const view = (await stub.inspect())!;
    const settle = view.steps.find((s) => s.kind === "settle")!;
    expect([settle.status, settle.reason]).toEqual([null, "settle.missing"]);
    expect(view.steps.find((s) => s.kind === "call")!.settled).toBe(true);
    expect(view.counters["total:stripe:refunds.create:amount"]).toBe(60);
    expect(await stub.verifyLog()).toEqual({ ok: true });
  });
});

describe("held settles under concurrency", () => {
  it("merges racing the prerequisite's settle are pending or admitted, never refused for good", async () => {
    const { stub } = await openTask(
      profile({}, { requires: [{ action: "github:pulls.merge", after: ["github:checks.get"] }] }),
    );
    const check = await admitOk(stub, step("github:checks.get"));
    const merges = Array.from({ length: 100 }, (_, i) =>
      stub.admit(step("github:pulls.merge", { now: T0 + 2000 + i })),
    );
    const settled = stub.settle(check, 200, T0 + 2000);
    const results = await Promise.all(merges);
    await settled;
    // Before the settle was written: "not yet" (retryable); after it: admitted. Never "never".
    const outcomes = new Set(results.map((r) => (r.ok ? "ok" : r.reason)));
    expect([...outcomes].every((o) => o === "ok" || o === "sequence.pending")).toBe(true);
    // After the settle every merge passes.
    await admitOk(stub, step("github:pulls.merge"));
    const view = (await stub.inspect(0, 500))!;
    const settleSeq = view.steps.find((s) => s.kind === "settle")!.seq;
    for (const r of results) if (r.ok) expect(r.seq).toBeGreaterThan(settleSeq);
  });
});
