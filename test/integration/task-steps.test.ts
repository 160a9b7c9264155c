/**
 * A request of several steps (a GraphQL document's root fields, a JSON-RPC batch) in the task object:
 * each step is checked against what the steps before it reserved, all are admitted or none, a refusal
 * logs every step refused and moves no counter, and the steps settle together. Under hundreds of
 * concurrent documents no document is ever half admitted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import type { Budgets, ProfileSpec } from "../../src/policy/types";
import type { TaskObject } from "../../src/tasks/task-object";
import type { StepRequest } from "../../src/tasks/types";

const TASKS = (env as unknown as Env).TASKS!;
const T0 = Date.now();
const ACTIONS = [
  "github:pulls.get",
  "github:pulls.merge",
  "github:issues.get",
  "github:graphql.mergePullRequest",
  "github:graphql.pullRequest",
];
/** The GraphQL fields that do what the REST actions do (same_effect_as), as the compiler emits them. */
const EFFECTS = {
  "github:graphql.mergePullRequest": ["github:pulls.merge"],
  "github:graphql.pullRequest": ["github:pulls.get"],
};

function profile(budgets: Partial<Budgets> = {}): ProfileSpec {
  return {
    name: "steps",
    agents: null,
    ttl_s: 600,
    max_lifetime_s: 3600,
    actions: ACTIONS,
    budgets: { calls: null, per_action: {}, per_label: {}, services: null, windows: [], totals: [], ...budgets },
    sequence: {
      requires: [{ action: "github:pulls.merge", after: ["github:pulls.get"] }],
      forbid_after: [],
      correlate: [],
    },
    effects: EFFECTS,
    approvals: { ttl_s: 900, risk: null, approvers: null },
    source: "test",
  };
}

async function openTask(p: ProfileSpec): Promise<DurableObjectStub<TaskObject>> {
  const id = `task-${crypto.randomUUID()}`;
  const stub = TASKS.getByName(id);
  const agent = { issuer: "https://issuer.test", sub: "agent-1" };
  expect(await stub.open({ task_id: id, profile: p, agent, purpose: "steps", now: T0 })).toMatchObject({ ok: true });
  return stub;
}

const step = (action: string, decision_id = "d-1"): StepRequest => ({
  decision_id,
  action,
  service: "github",
  labels: ["kind:write", "risk:high"],
  resource: "repo:acme/api",
  args: {},
  now: T0 + 1000,
});

describe("several steps in one request", () => {
  it("a merge beside the read it requires is refused with it: the read has not succeeded yet", async () => {
    const stub = await openTask(profile());
    const before = (await stub.inspect())!.counters;
    const r = await stub.admitAll([step("github:pulls.get"), step("github:pulls.merge")]);
    expect(r).toEqual({ ok: false, reason: "sequence.requires" });
    const view = (await stub.inspect())!;
    expect(view.counters).toEqual(before);
    const calls = view.steps.filter((s) => s.kind === "call");
    expect(calls.map((s) => [s.action, s.outcome, s.reason])).toEqual([
      ["github:pulls.get", "refused", "sequence.requires"],
      ["github:pulls.merge", "refused", "sequence.requires"],
    ]);
  });

  it("roll back what the earlier steps reserved when a later one is refused", async () => {
    const stub = await openTask(profile({ per_action: { "github:pulls.get": 1 } }));
    const r = await stub.admitAll([step("github:pulls.get"), step("github:pulls.get")]);
    expect(r).toEqual({ ok: false, reason: "budget.exhausted" });
    expect((await stub.inspect())!.counters).toEqual({});
    // Nothing was used up: the same step alone is admitted now.
    expect(await stub.admitAll([step("github:pulls.get")])).toMatchObject({ ok: true, seqs: [expect.any(Number)] });
  });

  it("are admitted together and settle together", async () => {
    const stub = await openTask(profile({ calls: 10 }));
    const r = await stub.admitAll([step("github:pulls.get"), step("github:issues.get")]);
    if (!r.ok) throw new Error(r.reason);
    expect(r.seqs).toHaveLength(2);
    await stub.settleAll(r.seqs, 200, T0 + 2000);
    const view = (await stub.inspect())!;
    expect(view.counters.calls).toBe(2);
    expect(view.steps.filter((s) => s.kind === "settle").map((s) => s.status)).toEqual([200, 200]);
    // The merge's `requires` sees the read that succeeded in the same task.
    expect(await stub.admitAll([step("github:pulls.merge")])).toMatchObject({ ok: true });
  });

  it("are never half admitted under 200 concurrent documents of 2 steps and a budget of 51 calls", async () => {
    const stub = await openTask(profile({ calls: 51 }));
    const docs = Array.from({ length: 200 }, (_, i) =>
      stub.admitAll([step("github:pulls.get", `d-${i}`), step("github:issues.get", `d-${i}`)]),
    );
    const results = await Promise.all(docs);
    const admitted = results.filter((r) => r.ok);
    expect(admitted).toHaveLength(25);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "budget.exhausted")).toBe(true);
    const view = (await stub.inspect(0, 500))!;
    expect(view.counters.calls).toBe(50);
    const byDoc = new Map<string, string[]>();
    for (const s of view.steps.filter((e) => e.kind === "call")) {
      byDoc.set(s.decision_id!, [...(byDoc.get(s.decision_id!) ?? []), s.outcome!]);
    }
    for (const outcomes of byDoc.values()) expect(new Set(outcomes).size).toBe(1);
  });

  it("an alias counts as its target: a GraphQL merge spends the REST merge's budget and needs its read", async () => {
    const stub = await openTask(profile({ per_action: { "github:pulls.merge": 1 } }));
    // Its `requires` holds for the alias: no pull request was read yet.
    const early = await stub.admitAll([step("github:graphql.mergePullRequest")]);
    expect(early).toEqual({ ok: false, reason: "sequence.requires" });
    // The GraphQL read satisfies the REST merge's `requires` (it has pulls.get's effect).
    const read = await stub.admitAll([step("github:graphql.pullRequest")]);
    if (!read.ok) throw new Error(read.reason);
    await stub.settleAll(read.seqs, 200, T0 + 1500);
    expect(await stub.admitAll([step("github:graphql.mergePullRequest")])).toMatchObject({ ok: true });
    // One merge in all: the REST merge is refused now, by the budget both count against.
    expect(await stub.admitAll([step("github:pulls.merge")])).toEqual({ ok: false, reason: "budget.exhausted" });
    const counters = (await stub.inspect())!.counters;
    expect(counters["action:github:pulls.merge"]).toBe(1);
    expect(counters["action:github:graphql.mergePullRequest"]).toBe(1);
  });

  it("a person is not asked for a document the budgets refuse: every step is checked first", async () => {
    const stub = await openTask(profile({ per_action: { "github:pulls.merge": 1 } }));
    const read = await stub.admitAll([step("github:pulls.get")]);
    if (!read.ok) throw new Error(read.reason);
    await stub.settleAll(read.seqs, 200, T0 + 1500);
    const merges = [step("github:pulls.merge", "d-two"), step("github:graphql.mergePullRequest", "d-two")];
    const asked = await stub.requestApproval({
      digest: "sha256:two-merges",
      decision_id: "d-two",
      request: {
        method: "POST",
        service: "github",
        path: "/graphql",
        query: [],
        action: "github:pulls.merge",
        kind: "write",
        risk: "high",
        resource: "repo:acme/api",
        args: {},
        body_sha256: "0".repeat(64),
      },
      rules: ["merge-needs-approval"],
      approvers: [{ issuer: ["people"] }],
      ttl_s: 900,
      max_pending: 10,
      step: merges[0]!,
      steps: merges,
      now: T0 + 2000,
    });
    // The first merge alone would pass; the second spends the same budget: refused, nobody asked.
    expect(asked).toEqual({ ok: false, reason: "budget.exhausted" });
    expect(await stub.listApprovals(T0 + 2000)).toEqual([]);
    const view = (await stub.inspect())!;
    expect(view.counters["action:github:pulls.merge"] ?? 0).toBe(0);
    const refusedCalls = view.steps.filter((e) => e.kind === "call" && e.outcome === "refused");
    expect(refusedCalls.map((e) => [e.action, e.reason])).toEqual([
      ["github:pulls.merge", "budget.exhausted"],
      ["github:graphql.mergePullRequest", "budget.exhausted"],
    ]);
  });
});
