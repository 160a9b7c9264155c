/**
 * The agent Durable Object inside workerd: the live-task cap under concurrency, starts per sliding hour
 * with Retry-After, slots freed by ending or by the deadline, the kill switch and reinstating; approval
 * slots (the cap across the agent's tasks, retries, releases, expiry) and the notice window. Each test
 * uses its own agent key, so storage never leaks between tests. Negative cases assert nothing moved.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { type AgentLimits, type AgentObject, agentKey, type StartReason } from "../../src/tasks/agent-object";

const AGENTS = (env as unknown as Env).AGENTS!;
const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const LIMITS: AgentLimits = { live_tasks: 3, starts_per_hour: 100 };

type Stub = DurableObjectStub<AgentObject>;

function agent(): Stub {
  return AGENTS.getByName(agentKey({ issuer: "https://issuer.test", sub: `agent-${crypto.randomUUID()}` }));
}

const tid = () => `task-${crypto.randomUUID()}`;

async function start(stub: Stub, now = T0, limits = LIMITS, deadline = now + 600_000, task_id = tid()) {
  const r = await stub.startTask({ task_id, limits, deadline, now });
  if (!r.ok) throw new Error(`expected a start, refused ${r.reason}`);
  return task_id;
}

/** Expects the start refused with `reason`, and that nothing moved. */
async function refused(stub: Stub, reason: StartReason, now = T0, limits = LIMITS, deadline = now + 600_000) {
  const before = await stub.inspect(now);
  const r = await stub.startTask({ task_id: tid(), limits, deadline, now });
  expect(r).toMatchObject({ ok: false, reason });
  expect(await stub.inspect(now)).toEqual(before);
  return r;
}

describe("live tasks", () => {
  it("50 concurrent starts against live_tasks 3 admit exactly 3, every run", async () => {
    for (let run = 0; run < 3; run++) {
      const stub = agent();
      const ids = Array.from({ length: 50 }, tid);
      const results = await Promise.all(
        ids.map((task_id) => stub.startTask({ task_id, limits: LIMITS, deadline: T0 + 600_000, now: T0 })),
      );
      const admitted = ids.filter((_, i) => results[i]!.ok);
      expect(admitted).toHaveLength(3);
      expect(results.filter((r) => !r.ok && r.reason === "agent.live_tasks")).toHaveLength(47);
      const view = await stub.inspect(T0);
      expect(view.live.map((t) => t.task_id).sort()).toEqual([...admitted].sort());
      expect(view.starts_last_hour).toBe(3);
    }
  });

  it("an ended task frees its live slot, not its start", async () => {
    const stub = agent();
    const [a] = [await start(stub), await start(stub), await start(stub)];
    await refused(stub, "agent.live_tasks", T0 + 1000);
    expect(await stub.endTask(a!, T0 + 2000)).toEqual({ ended: true });
    await start(stub, T0 + 3000);
    const view = await stub.inspect(T0 + 3000);
    expect(view.live.map((t) => t.task_id)).not.toContain(a);
    expect(view.live).toHaveLength(3);
    expect(view.starts_last_hour).toBe(4);
    await refused(stub, "agent.live_tasks", T0 + 4000);
  });

  it("a task past its deadline no longer holds a slot", async () => {
    const stub = agent();
    const short = await start(stub, T0, LIMITS, T0 + 60_000);
    await start(stub);
    await start(stub);
    await refused(stub, "agent.live_tasks", T0 + 59_999);
    await start(stub, T0 + 60_000);
    const view = await stub.inspect(T0 + 60_000);
    expect(view.live.map((t) => t.task_id)).not.toContain(short);
    expect(view.live).toHaveLength(3);
  });

  it("endTask is idempotent and ignores unknown ids", async () => {
    const stub = agent();
    const a = await start(stub);
    expect(await stub.endTask(a, T0 + 1000)).toEqual({ ended: true });
    const after = await stub.inspect(T0 + 1000);
    expect(await stub.endTask(a, T0 + 2000)).toEqual({ ended: false });
    expect(await stub.endTask("task-unknown", T0 + 2000)).toEqual({ ended: false });
    expect(await stub.inspect(T0 + 1000)).toEqual(after);
    expect(after).toMatchObject({ live: [], starts_last_hour: 1 });
  });

  it("starting a task id it already holds is a retry: ok, nothing moved", async () => {
    const stub = agent();
    const a = await start(stub);
    await start(stub);
    await start(stub);
    const before = await stub.inspect(T0 + 1000);
    expect(await stub.startTask({ task_id: a, limits: LIMITS, deadline: T0 + 600_000, now: T0 + 1000 })).toEqual({
      ok: true,
    });
    expect(await stub.inspect(T0 + 1000)).toEqual(before);
  });
});

describe("starts per hour", () => {
  const limits = { live_tasks: 100, starts_per_hour: 3 };

  it("refuses past the sliding hour with the seconds until a start leaves it", async () => {
    const stub = agent();
    for (const t of [0, 600_000, 1_200_000]) await start(stub, T0 + t, limits);
    // Ending tasks frees live slots, never starts.
    for (const t of (await stub.inspect(T0 + 1_200_000)).live) await stub.endTask(t.task_id, T0 + 1_300_000);
    const r = await refused(stub, "agent.start_rate", T0 + 1_800_000, limits);
    expect(r).toEqual({ ok: false, reason: "agent.start_rate", retry_after_s: 1800 });
    const late = await refused(stub, "agent.start_rate", T0 + HOUR - 500, limits);
    expect(late).toMatchObject({ retry_after_s: 1 });
    await start(stub, T0 + HOUR, limits);
    expect(await stub.startTask({ task_id: tid(), limits, deadline: T0 + 2 * HOUR, now: T0 + HOUR + 1 })).toEqual({
      ok: false,
      reason: "agent.start_rate",
      retry_after_s: 600,
    });
  });

  it("a lower limit waits for enough starts to leave, not just the oldest", async () => {
    const stub = agent();
    for (const t of [0, 600_000, 1_200_000]) await start(stub, T0 + t, limits);
    const r = await refused(stub, "agent.start_rate", T0 + 1_800_000, { live_tasks: 100, starts_per_hour: 2 });
    expect(r).toMatchObject({ retry_after_s: 2400 }); // the second-oldest (T0 + 10 min) leaves at T0 + 70 min
  });

  it("a limit of 0 refuses every start, with no retry_after", async () => {
    const stub = agent();
    const r = await refused(stub, "agent.start_rate", T0, { live_tasks: 3, starts_per_hour: 0 });
    expect(r).toEqual({ ok: false, reason: "agent.start_rate" });
  });

  it("50 concurrent starts against 3 per hour admit exactly 3", async () => {
    const stub = agent();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => stub.startTask({ task_id: tid(), limits, deadline: T0 + HOUR, now: T0 })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.reason === "agent.start_rate")).toHaveLength(47);
    expect((await stub.inspect(T0)).starts_last_hour).toBe(3);
  });
});

describe("kill switch", () => {
  it("revokeAll returns the live task ids and blocks every later start", async () => {
    const stub = agent();
    const a = await start(stub);
    const b = await start(stub);
    const ended = await start(stub);
    await stub.endTask(ended, T0 + 500);
    await start(stub, T0, LIMITS, T0 + 1000); // past its deadline by the revoke: not live
    const { task_ids } = await stub.revokeAll(T0 + 2000, "ops@acme");
    expect(task_ids.sort()).toEqual([a, b].sort());
    expect(await stub.inspect(T0 + 2000)).toMatchObject({
      revoked: true,
      revoked_at: T0 + 2000,
      revoked_by: "ops@acme",
    });
    await refused(stub, "agent.revoked", T0 + 3000);
    // A retry after a partial failure returns what the caller has not ended yet; the first revoker is kept.
    await stub.endTask(a, T0 + 3000);
    expect(await stub.revokeAll(T0 + 4000, "ops2")).toEqual({ task_ids: [b] });
    expect(await stub.inspect(T0 + 4000)).toMatchObject({ revoked_at: T0 + 2000, revoked_by: "ops@acme" });
  });

  it("refuses even a retry of a task id it holds", async () => {
    const stub = agent();
    const a = await start(stub);
    await stub.revokeAll(T0 + 1000, "ops");
    expect(await stub.startTask({ task_id: a, limits: LIMITS, deadline: T0 + 600_000, now: T0 + 2000 })).toEqual({
      ok: false,
      reason: "agent.revoked",
    });
  });

  it("concurrent starts around a revoke: every admitted start is in its list, every other refused", async () => {
    const stub = agent();
    const limits = { live_tasks: 100, starts_per_hour: 100 };
    const ids = Array.from({ length: 40 }, tid);
    const inFlight = ids.map((task_id) => stub.startTask({ task_id, limits, deadline: T0 + HOUR, now: T0 }));
    const { task_ids } = await stub.revokeAll(T0, "ops");
    const results = await Promise.all(inFlight);
    const admitted = ids.filter((_, i) => results[i]!.ok);
    expect([...task_ids].sort()).toEqual([...admitted].sort());
    expect(results.every((r) => r.ok || r.reason === "agent.revoked")).toBe(true);
  });

  it("reinstate lifts it; the caps still hold", async () => {
    const stub = agent();
    const a = await start(stub);
    await stub.revokeAll(T0 + 1000, "ops");
    await stub.endTask(a, T0 + 1500);
    expect(await stub.reinstate("ops-lead", T0 + 2000)).toEqual({ reinstated: true });
    expect(await stub.inspect(T0 + 2000)).toMatchObject({
      revoked: false,
      revoked_at: T0 + 1000,
      reinstated_at: T0 + 2000,
      reinstated_by: "ops-lead",
    });
    await start(stub, T0 + 3000);
    await start(stub, T0 + 3000);
    await start(stub, T0 + 3000);
    await refused(stub, "agent.live_tasks", T0 + 3000);
  });

  it("reinstating an agent that is not revoked writes nothing", async () => {
    const stub = agent();
    await start(stub);
    const before = await stub.inspect(T0);
    expect(await stub.reinstate("ops", T0 + 1000)).toEqual({ reinstated: false });
    expect(await stub.inspect(T0)).toEqual(before);
    expect(before.reinstated_at).toBeNull();
  });
});

describe("bad requests", () => {
  it("throws on malformed limits or a deadline not after now, and moves nothing", async () => {
    const stub = agent();
    await start(stub);
    const before = await stub.inspect(T0);
    const bad = [
      { limits: { live_tasks: -1, starts_per_hour: 3 } },
      { limits: { live_tasks: 3, starts_per_hour: Number.NaN } },
      { limits: { live_tasks: 1.5, starts_per_hour: 3 } },
      { deadline: T0 },
      { task_id: "" },
    ];
    for (const over of bad) {
      const req = { task_id: tid(), limits: LIMITS, deadline: T0 + 1000, now: T0, ...over };
      const error = await stub.startTask(req).then(
        () => null,
        (e: unknown) => e,
      );
      expect(String(error)).toMatch(/agent\.bad_request/);
    }
    expect(await stub.inspect(T0)).toEqual(before);
  });
});

describe("approval slots", () => {
  const hold = (
    stub: Stub,
    digest: string,
    over: { now?: number; expires_at?: number; limit?: number; task_id?: string } = {},
  ) => stub.holdApproval({ task_id: "t-1", digest, expires_at: T0 + 900_000, limit: 2, now: T0, ...over });

  it("holds up to the limit; a digest already waiting is a retry; Retry-After is the first expiry", async () => {
    const stub = agent();
    expect(await hold(stub, "d1")).toEqual({ ok: true, held: true });
    expect(await hold(stub, "d2", { expires_at: T0 + 600_000 })).toEqual({ ok: true, held: true });
    expect(await hold(stub, "d1")).toEqual({ ok: true, held: false });
    expect(await hold(stub, "d3", { now: T0 + 1000 })).toEqual({
      ok: false,
      reason: "approval.agent_limit",
      retry_after_s: 599,
    });
    expect((await stub.inspect(T0 + 1000)).approvals_waiting).toBe(2);
    // At the first expiry that slot stops counting by itself.
    expect(await hold(stub, "d3", { now: T0 + 600_000 })).toEqual({ ok: true, held: true });
    expect(await hold(stub, "d4", { limit: 0 })).toEqual({ ok: false, reason: "approval.agent_limit" });
  });

  it("500 concurrent holds against a limit of 20 take exactly 20", async () => {
    const stub = agent();
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => hold(stub, `d${i}`, { limit: 20, task_id: `t-${i % 10}` })),
    );
    expect(results.filter((r) => r.ok && r.held)).toHaveLength(20);
    expect(results.filter((r) => !r.ok && r.reason === "approval.agent_limit")).toHaveLength(480);
    expect((await stub.inspect(T0)).approvals_waiting).toBe(20);
  });

  it("released by approval id once bound, by digest before, and by its task's end; idempotent", async () => {
    const stub = agent();
    await start(stub, T0, LIMITS, T0 + 3_600_000, "t-1");
    for (const d of ["d1", "d2", "d3"]) await hold(stub, d, { limit: 10 });
    expect(await stub.approvalOpened({ digest: "d1", approval_id: "ap_1", expires_at: T0 + 900_000, now: T0 })).toBe(
      null,
    );
    expect(await stub.releaseApproval({ approval_id: "ap_1" }, T0)).toEqual({ released: true });
    expect(await stub.releaseApproval({ approval_id: "ap_1" }, T0)).toEqual({ released: false });
    expect(await stub.releaseApproval({ digest: "d2" }, T0)).toEqual({ released: true });
    expect((await stub.inspect(T0)).approvals_waiting).toBe(1);
    await stub.endTask("t-1", T0);
    expect((await stub.inspect(T0)).approvals_waiting).toBe(0);
  });

  it("a slot ends with its task's deadline when that comes before the approval's expiry", async () => {
    const stub = agent();
    await start(stub, T0, LIMITS, T0 + 60_000, "t-1");
    await hold(stub, "d1", { limit: 1 });
    expect((await hold(stub, "d2", { limit: 1 })).ok).toBe(false);
    expect(await hold(stub, "d2", { limit: 1, now: T0 + 60_000 })).toEqual({ ok: true, held: true });
  });

  it("throws on a malformed hold and holds nothing", async () => {
    const stub = agent();
    const bad: [string, object][] = [
      ["d1", { limit: -1 }],
      ["d1", { limit: 1.5 }],
      ["d1", { expires_at: T0 }],
      ["d1", { task_id: "" }],
      ["", {}],
    ];
    for (const [digest, over] of bad) {
      const error = await hold(stub, digest, over).then(
        () => null,
        (e: unknown) => e,
      );
      expect(String(error)).toMatch(/agent\.bad_request/);
    }
    expect((await stub.inspect(T0)).approvals_waiting).toBe(0);
  });
});

describe("notice window", () => {
  const notices = { per_window: 2, window_ms: 60_000 };
  const opened = (stub: Stub, n: number, now: number) =>
    stub.approvalOpened({ digest: `d${n}`, approval_id: `ap_${n}`, expires_at: now + 900_000, now, notices });

  it("posts per_window, then one summary, then nothing until the window ends; then a new window", async () => {
    const stub = agent();
    for (let n = 0; n < 3; n++)
      await stub.holdApproval({ task_id: "t", digest: `d${n}`, expires_at: T0 + 900_000, limit: 10, now: T0 });
    const verdicts = [];
    for (let n = 0; n < 5; n++) verdicts.push(await opened(stub, n, T0 + n * 1000));
    expect(verdicts).toEqual([
      { notify: "post" },
      { notify: "post" },
      { notify: "summary", waiting: 3, posted: 2, window_ends: T0 + 60_000 },
      { notify: "quiet", window_ends: T0 + 60_000 },
      { notify: "quiet", window_ends: T0 + 60_000 },
    ]);
    expect(await opened(stub, 5, T0 + 60_000)).toEqual({ notify: "post" });
  });

  it("concurrent openings get per_window posts and one summary, never more", async () => {
    const stub = agent();
    const verdicts = await Promise.all(Array.from({ length: 50 }, (_, n) => opened(stub, n, T0)));
    const kinds = verdicts.map((v) => v?.notify);
    expect(kinds.filter((k) => k === "post")).toHaveLength(2);
    expect(kinds.filter((k) => k === "summary")).toHaveLength(1);
    expect(kinds.filter((k) => k === "quiet")).toHaveLength(47);
  });
});

describe("agentKey", () => {
  it("keeps issuer and sub apart", () => {
    const a = agentKey({ issuer: "https://idp:8443", sub: "s" });
    const b = agentKey({ issuer: "https://idp", sub: "8443:s" });
    expect(a).not.toBe(b);
    expect(agentKey({ issuer: "https://issuer.test", sub: "agent-1" })).toBe("https%3A%2F%2Fissuer.test:agent-1");
  });
});
