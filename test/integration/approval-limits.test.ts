/**
 * What one agent can do to people through approvals, across all its tasks (docs/approvals.md,
 * "Limits"): at most 20 approvals waiting at once (the 21st new one is 429 `approval.agent_limit`
 * with Retry-After, nothing forwarded, nobody notified, no approval opened), a slot freed by a
 * decision, a task's end or the approval's expiry; at most 5 webhook posts per agent and minute, then
 * one summary; the agent object unreachable fails closed (`agent.unavailable`); the dashboard groups
 * waiting approvals by agent.
 *
 * Each test runs on its own clock, a day past the previous test's, so every slot and notification
 * window of an earlier test is over; each has its own webhook URL, so its posts are its own.
 */
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import {
  APPROVAL_NOTICE_WINDOW_MS,
  APPROVAL_NOTICES_PER_WINDOW,
  MAX_AGENT_PENDING_APPROVALS,
} from "../../src/core/limits";
import type { Env } from "../../src/env";
import { agentKey } from "../../src/tasks/agent-object";
import { ISSUERS, token } from "../helpers/tokens";
import { decide, mergeInit } from "./approval-support";
import {
  agentToken,
  BASE,
  bindings,
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
const DAY = 86_400_000;
const TTL_MS = 900_000; // the approving profile's approvals.ttl (the default)
const CAP = MAX_AGENT_PENDING_APPROVALS;
let days = 0;

type Issuer = "remote" | "inline";

/** A test's own world: a clock past every earlier test's, an app on it, its own webhook URL. */
function world() {
  const clock = testClock(Date.now() + ++days * DAY);
  const app = gatewayApp({ clock: clock.now });
  const hook = `https://hooks.test.example/limits/${crypto.randomUUID()}`;
  const bound = { ...bindings, FIREBREAK_APPROVAL_WEBHOOK: hook };
  const workload = (issuer: Issuer) =>
    issuer === "inline" ? inlineToken({ now: clock.seconds() }) : agentToken({ now: clock.seconds() });
  return {
    clock,
    app,
    /** A new task of agent-1 (of the remote issuer unless told) that may merge after approval. */
    task: async (issuer: Issuer = "remote") => newTask(app, "approving", await workload(issuer)),
    /** Merges pull `n` with the task's token: a new approval for every `n`. */
    merge: (bearer: string, n: number, e: Record<string, unknown> = bound) =>
      send(app, `/github/repos/acme/api/pulls/${n}/merge`, { ...mergeInit(bearer), env: e }),
    posts: async () => (await recorded()).filter((r) => r.url === hook),
    agent: (issuer: Issuer = "remote") => env.AGENTS!.getByName(agentKey({ issuer, sub: "agent-1" })),
    approvals: (taskId: string) => env.TASKS!.getByName(taskId).listApprovals(clock.ms(), 200),
    /** An approver's token on this clock. */
    approver: () =>
      token({
        key: "es256",
        iss: ISSUERS.people,
        sub: "alice",
        claims: { groups: ["approvers"] },
        now: clock.seconds(),
      }),
  };
}
type World = ReturnType<typeof world>;

const stepsOf = async (taskId: string) => (await env.TASKS!.getByName(taskId).inspect(0, 500))!.steps;
const notices = async (taskIds: string[]) =>
  (await Promise.all(taskIds.map(stepsOf))).flat().filter((s) => s.kind === "notify");

function expectRequired(sent: Sent): string {
  expectRefusal(sent, 403, "approval.required", "approval_required");
  return (sent.json!.approval as { id: string }).id;
}

/** `count` new approvals in one task (pulls from..from+count-1), one after another. */
async function open(w: World, t: { token: string }, from: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = from; n < from + count; n++) ids.push(expectRequired(await w.merge(t.token, n)));
  return ids;
}

/** Two tasks of 10 waiting approvals each: the agent at its cap. */
async function atCap(w: World) {
  const a = await w.task();
  const b = await w.task();
  const ids = [...(await open(w, a, 1, 10)), ...(await open(w, b, 11, 10))];
  expect(await w.agent().inspect(w.clock.ms())).toMatchObject({ approvals_waiting: CAP });
  return { a, b, ids };
}

/** The cap+1-th approval refused: 429 with Retry-After, nothing forwarded, no approval, no post, logged. */
async function expectCapped(w: World, t: { id: string; token: string }, n: number, retryAfter: number) {
  const sent = await w.merge(t.token, n);
  expectRefusal(sent, 429, "approval.agent_limit");
  expect(sent.res.headers.get("retry-after")).toBe(String(retryAfter));
  expect(sent.json?.approval).toBeUndefined();
  expect(await w.approvals(t.id)).toEqual([]);
  // The refusal is in the task's log (the task object was never asked), and nobody was told.
  await vi.waitFor(async () =>
    expect((await stepsOf(t.id)).filter((s) => s.kind === "call").map((s) => [s.outcome, s.reason])).toEqual([
      ["refused", "approval.agent_limit"],
    ]),
  );
  expect((await w.posts()).filter((p) => p.body.includes(t.id))).toEqual([]);
}

describe("waiting approvals per agent, across its tasks", () => {
  it(`a new approval past ${CAP} waiting is refused; a retry of a waiting one takes no slot`, async () => {
    const w = world();
    const { a, ids } = await atCap(w);
    const c = await w.task();
    await expectCapped(w, c, 21, TTL_MS / 1000);
    // The same request again, at the cap: its approval is waiting, so it is the same one, no new slot.
    expect(expectRequired(await w.merge(a.token, 1))).toBe(ids[0]);
    expect(await w.agent().inspect(w.clock.ms())).toMatchObject({ approvals_waiting: CAP });
    // Another agent has its own count.
    const other = await w.task("inline");
    expectRequired(await w.merge(other.token, 1));
  });

  it("a decided approval frees its slot, and so does the end of a task", async () => {
    const w = world();
    const { b, ids } = await atCap(w);
    const c = await w.task();
    const no = await decide(w.app, ids[0]!, "deny", await w.approver());
    expect(no.json.status).toBe("denied");
    await vi.waitFor(async () => expect((await w.agent().inspect(w.clock.ms())).approvals_waiting).toBe(CAP - 1));
    expectRequired(await w.merge(c.token, 21));
    expectRefusal(await w.merge(c.token, 22), 429, "approval.agent_limit");
    // Completing task b ends its 10 approvals: they can never be decided, so they stop counting.
    const done = await taskRoute(w.app, `/${b.id}/complete`, b.token, "POST");
    expect(done.res.status, done.text).toBe(200);
    expect((await w.agent().inspect(w.clock.ms())).approvals_waiting).toBe(CAP - 10);
    expectRequired(await w.merge(c.token, 22));
  });

  it("an expired approval frees its slot when the clock passes its expiry", async () => {
    const w = world();
    await atCap(w);
    w.clock.advance(600_000);
    await expectCapped(w, await w.task(), 21, 300); // Retry-After: until the first slot expires
    w.clock.advance(300_000); // exactly the approvals' expires_at: expired from then on
    expect((await w.agent().inspect(w.clock.ms())).approvals_waiting).toBe(0);
    expectRequired(await w.merge((await w.task()).token, 22));
  });

  it("100 concurrent new approvals in 10 tasks open exactly 20, and 6 posts reach the webhook", async () => {
    const w = world();
    const tasks: { id: string; token: string }[] = [];
    for (let i = 0; i < 10; i++) tasks.push(await w.task());
    const sent = await Promise.all(
      tasks.flatMap((t, i) => Array.from({ length: 10 }, (_, j) => w.merge(t.token, 100 + i * 10 + j))),
    );
    const reasons = sent.map((s) => s.json?.reason);
    expect(reasons.filter((r) => r === "approval.required")).toHaveLength(CAP);
    expect(reasons.filter((r) => r === "approval.agent_limit")).toHaveLength(100 - CAP);
    expect(sent.every((s) => s.upstream.length === 0)).toBe(true);
    const opened = (await Promise.all(tasks.map((t) => w.approvals(t.id)))).flat();
    expect(opened).toHaveLength(CAP);
    expect(await w.agent().inspect(w.clock.ms())).toMatchObject({ approvals_waiting: CAP });
    // Each opened approval's notice is settled: 5 posted, 1 summary, 14 not posted.
    await vi.waitFor(async () => expect(await notices(tasks.map((t) => t.id))).toHaveLength(CAP), { timeout: 10_000 });
    expect(await w.posts()).toHaveLength(APPROVAL_NOTICES_PER_WINDOW + 1);
  });
});

describe("approval notifications per agent", () => {
  it(`posts ${APPROVAL_NOTICES_PER_WINDOW} a minute, then one summary, then nothing until the window ends`, async () => {
    const w = world();
    const t = await w.task();
    const ids = await open(w, t, 1, 8);
    await vi.waitFor(async () => expect(await notices([t.id])).toHaveLength(8));
    const posts = await w.posts();
    expect(posts).toHaveLength(APPROVAL_NOTICES_PER_WINDOW + 1);
    const own = posts.filter((p) => ids.some((id) => p.body.includes(id)));
    expect(own).toHaveLength(APPROVAL_NOTICES_PER_WINDOW);
    const summary = JSON.parse(posts.find((p) => !own.includes(p))!.body) as { text: string; blocks: unknown[] };
    expect(summary.text).toMatch(/^Approvals waiting: remote:agent-1 has [6-8] approvals waiting for a person\./);
    expect(summary.text).toContain(`${bindings.GATEWAY_ORIGIN}/_firebreak/v1/dashboard`);
    expect(JSON.stringify(summary.blocks)).toContain("Open the dashboard");
    // The log says what became of each: posted, the summary, or not posted (until when).
    const said = (await notices([t.id])).map((n) => [
      n.outcome,
      n.reason === null ? null : n.reason.replace(/until .*/, "until"),
    ]);
    expect(said.sort()).toEqual(
      [
        ...Array(APPROVAL_NOTICES_PER_WINDOW).fill(["sent", null]),
        ["sent", "summary"],
        ["skipped", "agent notice limit until"],
        ["skipped", "agent notice limit until"],
      ].sort(),
    );
    // A new window: the next approval is posted on its own again.
    w.clock.advance(APPROVAL_NOTICE_WINDOW_MS);
    const next = expectRequired(await w.merge((await w.task()).token, 9));
    await vi.waitFor(async () => expect((await w.posts()).filter((p) => p.body.includes(next))).toHaveLength(1));
    expect(await w.posts()).toHaveLength(APPROVAL_NOTICES_PER_WINDOW + 2);
  });
});

describe("the agent object unreachable", () => {
  it("fails closed: 503 agent.unavailable, no approval opened, nothing forwarded, nobody told", async () => {
    const w = world();
    const down = {
      getByName: () => ({ holdApproval: () => Promise.reject(new Error("agent object down")) }),
    };
    for (const AGENTS of [undefined, down]) {
      const t = await w.task();
      const sent = await w.merge(t.token, 1, { ...bindings, AGENTS });
      expectRefusal(sent, 503, "agent.unavailable");
      expect(await w.approvals(t.id)).toEqual([]);
      await vi.waitFor(async () =>
        expect((await stepsOf(t.id)).filter((s) => s.kind === "call").map((s) => s.reason)).toEqual([
          "agent.unavailable",
        ]),
      );
    }
    expect(await w.posts()).toEqual([]);
  });
});

describe("the dashboard groups waiting approvals by agent", () => {
  it("one group per agent with its count, the most waiting first, newest first, at most 10 rows", async () => {
    const w = world();
    const [a, b] = [await w.task(), await w.task()];
    const ids: string[] = [];
    for (let n = 1; n <= 12; n++) {
      w.clock.advance(1000); // distinct creation times: newest first is a real order
      ids.push(expectRequired(await w.merge((n <= 10 ? a : b).token, n)));
    }
    w.clock.advance(1000);
    const solo = expectRequired(await w.merge((await w.task("inline")).token, 1));
    await vi.waitFor(async () => {
      const snap = await env.DIRECTORY!.getByName("directory").snapshot(w.clock.ms(), 200);
      expect(snap.approvals.map((x) => x.id)).toEqual(expect.arrayContaining([...ids, solo]));
    });
    const operator = await token({
      key: "es256",
      iss: ISSUERS.people,
      sub: "operator-1",
      claims: { groups: [] },
      now: w.clock.seconds(),
    });
    const res = await w.app.fetch(
      new Request(`${BASE}/_firebreak/v1/dashboard`, { headers: { "cf-access-jwt-assertion": operator } }),
      bindings as never,
    );
    const html = await res.text();
    expect(res.status, html).toBe(200);
    const groups = [...html.matchAll(/<section class="approval-group" data-agent="([^"]+)" data-count="(\d+)">/g)];
    expect(groups.map((g) => [g[1], g[2]])).toEqual([
      ["remote:agent-1", "12"],
      ["inline:agent-1", "1"],
    ]);
    const remote = html.slice(groups[0]!.index, groups[1]!.index);
    expect(remote).toContain("remote:agent-1: 12 waiting, newest first, the newest 10 shown");
    const shown = [...remote.matchAll(/href="\/_firebreak\/v1\/approvals\/(ap_[0-9A-Z]+)"/g)].map((m) => m[1]);
    expect(shown).toEqual(ids.slice(2).reverse());
    expect(html).toContain("Pending approvals (13 from 2 agents)");
    expect(html).toContain(`/_firebreak/v1/approvals/${solo}`);
  });
});
