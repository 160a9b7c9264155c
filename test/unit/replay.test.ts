/**
 * `replay()`: a hand-built log of two tasks, decided again with variants of a small policy set. The
 * deployed set re-decides every call as it was recorded (so the recorded decisions and the task
 * state are read back right); each variant changes exactly the calls listed, in the group named.
 */
import { describe, expect, it } from "vitest";
import { mergeLogs, parseLog } from "../../src/replay/log";
import { changeCount, type ReplayReport, replay } from "../../src/replay/replay";
import { CI_ISSUER, compileSet } from "../helpers/policy-set";
import { bundle, ITEMS_GET, LOG, RULES, type Rule, SERVICE, T1 } from "./replay-fixture";

const logs = () => mergeLogs(parseLog(LOG, "log.jsonl"));
const withRule = (id: string, change: Rule | null) =>
  RULES.flatMap((r) => (r.id !== id ? [r] : change === null ? [] : [{ ...r, ...change }]));

/** Every change as `task seq: before -> after [group]`. */
function changes(r: ReplayReport): string[] {
  return r.groups.flatMap((g) =>
    g.changes.map(
      (c) =>
        `${c.task === T1 ? "T1" : "T2"} ${c.seq}: ${c.before.effect} -> ${c.after.effect} (${c.after.reason}) [${g.name}]`,
    ),
  );
}

describe("replay with the deployed bundle", () => {
  it("re-decides every call as recorded: nothing changes", () => {
    const r = replay(bundle(), logs());
    expect(changes(r)).toEqual([]);
    expect({ tasks: r.tasks, entries: r.entries, redecided: r.redecided, skipped: r.skipped }).toEqual({
      tasks: 2,
      entries: 16,
      redecided: 13,
      skipped: { no_facts: 2, request_refused: 1, unknown_outcome: 0 },
    });
  });

  it("reads overlapping exports (a task twice, entries out of order) as one log", () => {
    const lines = LOG.trim().split("\n");
    const again = [lines[0], ...lines.slice(1, 8).reverse()].join("\n"); // T1's line and its first entries
    const merged = mergeLogs([...parseLog(again, "b"), ...parseLog(LOG, "a")]);
    expect(merged.map((t) => t.entries.map((e) => e.seq))).toEqual(logs().map((t) => t.entries.map((e) => e.seq)));
    const b = bundle();
    expect(replay(b, merged)).toEqual(replay(b, logs()));
  });
});

describe("replay with a candidate bundle reports exactly the decisions that change", () => {
  it("a rule removed: its allows become default deny, refused-by-budget calls included", () => {
    const r = replay(bundle({ rules: withRule("reads", null) }), logs());
    expect(changes(r)).toEqual([
      "T1 2: allow -> deny (policy.no_match) [default deny]",
      "T1 4: allow -> deny (policy.no_match) [default deny]",
      "T1 9: allow -> deny (policy.no_match) [default deny]",
      "T1 12: allow -> deny (policy.no_match) [default deny]",
    ]);
    expect(r.groups[0]!.changes[3]!.before).toEqual({
      effect: "allow",
      reason: "policy.allowed",
      ended: "budget.exhausted",
    });
  });

  it("a new deny rule: the one call it matches, grouped by it with its source", () => {
    const rules = [
      ...RULES,
      { id: "no-item-2", effect: "deny", actions: ["svc:items.get"], when: 'resource == "item:2"' },
    ];
    const r = replay(bundle({ rules }), logs());
    expect(changes(r)).toEqual(["T1 12: allow -> deny (policy.denied) [no-item-2]"]);
    expect(r.groups[0]!.rules).toEqual([{ id: "no-item-2", source: expect.stringMatching(/rules\.yaml:\d+$/) }]);
  });

  it("a changed condition: only the call the new condition no longer allows", () => {
    const r = replay(bundle({ rules: withRule("updates-small", { when: "request.args.count < 3" }) }), logs());
    expect(changes(r)).toEqual(["T2 9: allow -> deny (policy.no_match) [default deny]"]);
  });

  it("an action whose path the catalog no longer has: no longer classified", () => {
    const service = {
      ...SERVICE,
      actions: { ...SERVICE.actions, "items.get": { ...ITEMS_GET, path: "/things/{id}" } },
    };
    const r = replay(bundle({ service }), logs());
    expect(changes(r)).toEqual([
      "T1 2: allow -> deny (action.unknown) [no longer classified]",
      "T1 12: allow -> deny (action.unknown) [no longer classified]",
    ]);
  });

  it("an action renamed on the same path and still allowed: no decision changes", () => {
    const { "items.get": get, ...rest } = SERVICE.actions;
    const r = replay(bundle({ service: { ...SERVICE, actions: { ...rest, "items.fetch": get } } }), logs());
    expect(changes(r)).toEqual([]);
  });

  it("an approve rule added: allowed calls now wait for a person; denied ones stay denied", () => {
    const rules = [...RULES, { id: "notes-need-approval", effect: "approve", actions: ["svc:notes.create"] }];
    const r = replay(bundle({ rules }), logs());
    expect(changes(r)).toEqual(["T1 6: allow -> approval_required (approval.required) [notes-need-approval]"]);
  });

  it("an approve rule removed: the approval and its retry (facts borrowed from the retry) change", () => {
    const r = replay(bundle({ rules: withRule("big-updates-need-approval", null) }), logs());
    expect(changes(r)).toEqual([
      "T2 2: approval_required -> deny (policy.no_match) [default deny]",
      "T2 4: approval_required -> deny (policy.no_match) [default deny]",
    ]);
    expect(r.groups[0]!.changes.map((c) => c.kind)).toEqual(["approval", "call"]);
  });

  it("the profile's approval risk: allowed calls at that risk ask a person, grouped by the profile", () => {
    const profile = { approvals: { risk: "medium" } };
    const r = replay(bundle({ profile }), logs());
    expect(changes(r)).toEqual([
      "T2 7: allow -> approval_required (approval.required) [profile:work]",
      "T2 9: allow -> approval_required (approval.required) [profile:work]",
    ]);
    expect(r.groups[0]!.rules).toEqual([{ id: "profile:work", source: expect.stringContaining("work.yaml") }]);
  });

  it("task.calls as the task object counted: admitted calls only, not approvals or refusals", () => {
    // T2 seq 7 was decided after 1 admitted call (approval entries do not count), seq 9 after 2.
    const r = replay(bundle({ rules: withRule("early-updates", { when: "task.calls >= 2" }) }), logs());
    expect(changes(r)).toEqual(["T2 9: allow -> deny (policy.denied) [early-updates]"]);
  });

  it("task.labels_read as the task object held it: a data label once a call settled 2xx", () => {
    // users.get settled 404 at seq 5 (nothing read), 200 at seq 10: a rule on services sees both calls.
    const rules = withRule("no-notes-after-pii", { when: '"svc" in task.services && task.labels_read.size() > 0' });
    expect(changes(replay(bundle({ rules }), logs()))).toEqual([]);
    const early = withRule("no-notes-after-pii", { when: '"svc" in task.services' });
    expect(changes(replay(bundle({ rules: early }), logs()))).toEqual([
      "T1 6: allow -> deny (policy.denied) [no-notes-after-pii]",
    ]);
  });

  it("the agent's issuer no longer trusted: every call of its tasks changes", () => {
    const r = replay(
      compileSet({
        "firebreak.yaml": { secrets: ["API_TOKEN"], issuers: [{ ...CI_ISSUER, name: "ci2" }] },
        "services/svc.yaml": SERVICE,
        "rules/rules.yaml": { rules: [{ id: "all", effect: "allow", actions: ["svc:*"] }] },
      }),
      logs(),
    );
    expect(r.groups.map((g) => [g.name, g.changes.length])).toEqual([["issuer no longer in the bundle", 13]]);
    expect(changeCount(r)).toBe(13);
  });
});
