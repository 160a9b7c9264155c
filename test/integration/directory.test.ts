/**
 * The directory Durable Object on its own (a fresh object per test), and the one hook the dashboard
 * tests do not reach: an approval used by the agent's retry. Writes commute (an end before its start,
 * a settle before its opening), `used` outranks `approved`, approvals of an ended task are not open,
 * expired rows are not listed, the size stays bounded (pruned after a day, capped), and a malformed
 * event is refused as a whole.
 */
import { runInDurableObject } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import {
  DIRECTORY_NAME,
  type DirectoryEvent,
  type DirectoryObject,
  KEEP_MS,
  MAX_ROWS,
} from "../../src/tasks/directory-object";
import { approved, MERGE, mergeInit } from "./approval-support";
import { gatewayApp, newTask, send } from "./support";

const env = workerEnv as unknown as Env;
const NOW = Date.parse("2026-05-01T12:00:00Z");
const agent = { issuer: "remote", sub: "agent-1" };

const fresh = () => env.DIRECTORY!.getByName(`test-${crypto.randomUUID()}`);
type Stub = ReturnType<typeof fresh>;

const started = (task_id: string, at = NOW, lifetime = 600_000): DirectoryEvent => ({
  kind: "task.started",
  task_id,
  agent,
  profile: "basic",
  purpose: "triage",
  started: at,
  deadline: at + lifetime,
});
const opened = (id: string, task_id: string, at = NOW, ttl = 900_000): DirectoryEvent => ({
  kind: "approval.opened",
  id,
  task_id,
  action: "github:pulls.merge",
  resource: "repo:acme/api",
  agent,
  created: at,
  expires: at + ttl,
});

async function rows(stub: Stub, table: "tasks" | "approvals"): Promise<Record<string, unknown>[]> {
  return runInDurableObject(stub, (_o: DirectoryObject, state) =>
    state.storage.sql.exec(`SELECT * FROM ${table}`).toArray(),
  );
}
const ids = async (stub: Stub, now = NOW + 1000) => {
  const s = await stub.snapshot(now, 200);
  return { tasks: s.tasks.map((t) => t.task_id), approvals: s.approvals.map((a) => a.id) };
};

describe("writes commute", () => {
  it("an end that arrives before its start leaves the task ended", async () => {
    const d = fresh();
    await d.record({ kind: "task.ended", task_id: "t_1", state: "completed", at: NOW });
    await d.record(started("t_1", NOW - 1000));
    await d.record(started("t_2"));
    expect((await ids(d)).tasks).toEqual(["t_2"]);
    expect((await rows(d, "tasks")).find((r) => r.task_id === "t_1")).toMatchObject({
      ended_state: "completed",
      profile: "basic",
    });
  });

  it("a settle before its opening leaves the approval settled; the first settle time is kept", async () => {
    const d = fresh();
    await d.record(started("t_1"));
    await d.record({ kind: "approval.settled", id: "ap_1", task_id: "t_1", state: "denied", at: NOW + 5 });
    await d.record(opened("ap_1", "t_1"));
    await d.record(opened("ap_2", "t_1"));
    await d.record({ kind: "approval.settled", id: "ap_1", task_id: "t_1", state: "approved", at: NOW + 9 });
    expect((await ids(d)).approvals).toEqual(["ap_2"]);
    expect((await rows(d, "approvals")).find((r) => r.id === "ap_1")).toMatchObject({
      settled_state: "denied",
      settled_at: NOW + 5,
      action: "github:pulls.merge",
    });
  });

  it("used outranks approved, whichever arrives first", async () => {
    const d = fresh();
    await d.record({ kind: "approval.settled", id: "ap_1", task_id: "t_1", state: "approved", at: NOW });
    await d.record({ kind: "approval.settled", id: "ap_1", task_id: "t_1", state: "used", at: NOW + 1 });
    await d.record({ kind: "approval.settled", id: "ap_2", task_id: "t_1", state: "used", at: NOW + 1 });
    await d.record({ kind: "approval.settled", id: "ap_2", task_id: "t_1", state: "approved", at: NOW });
    const states = (await rows(d, "approvals")).map((r) => [r.id, r.settled_state, r.settled_at]);
    expect(states.sort()).toEqual([
      ["ap_1", "used", NOW],
      ["ap_2", "used", NOW + 1],
    ]);
  });
});

describe("what the snapshot lists", () => {
  it("live tasks and open approvals newest first, up to the limit, with the totals", async () => {
    const d = fresh();
    for (let i = 0; i < 5; i++) await d.record(started(`t_${i}`, NOW + i));
    for (let i = 0; i < 3; i++) await d.record(opened(`ap_${i}`, "t_0", NOW + i));
    const s = await d.snapshot(NOW + 100, 2);
    expect(s.tasks.map((t) => t.task_id)).toEqual(["t_4", "t_3"]);
    expect(s.approvals.map((a) => a.id)).toEqual(["ap_2", "ap_1"]);
    expect([s.live_tasks, s.open_approvals]).toEqual([5, 3]);
    expect(s.tasks[0]).toEqual({
      ...agent,
      task_id: "t_4",
      profile: "basic",
      purpose: "triage",
      started: NOW + 4,
      deadline: NOW + 600_004,
    });
  });

  it("no task past its deadline, no approval past its expiry or of a task that ended or expired", async () => {
    const d = fresh();
    await d.record(started("t_short", NOW, 1000));
    await d.record(started("t_live"));
    await d.record(started("t_done"));
    await d.record({ kind: "task.ended", task_id: "t_done", state: "revoked", at: NOW + 10 });
    await d.record(opened("ap_live", "t_live"));
    await d.record(opened("ap_brief", "t_live", NOW, 500));
    await d.record(opened("ap_done", "t_done"));
    await d.record(opened("ap_short", "t_short"));
    expect(await ids(d, NOW + 2000)).toEqual({ tasks: ["t_live"], approvals: ["ap_live"] });
    expect(await ids(d, NOW + 100)).toEqual({
      tasks: ["t_live", "t_short"],
      approvals: ["ap_brief", "ap_live", "ap_short"],
    });
  });
});

describe("its size", () => {
  it("rows ended, settled or expired more than a day ago are pruned at a later write", async () => {
    const d = fresh();
    const old = NOW - KEEP_MS - 60_000;
    await d.record(started("t_ended", old));
    await d.record({ kind: "task.ended", task_id: "t_ended", state: "completed", at: old });
    await d.record(started("t_expired", old, 1000));
    await d.record(started("t_recent", NOW - 3600_000));
    await d.record({ kind: "task.ended", task_id: "t_recent", state: "completed", at: NOW - 3600_000 });
    await d.record(opened("ap_settled", "t_ended", old));
    await d.record({ kind: "approval.settled", id: "ap_settled", task_id: "t_ended", state: "denied", at: old });
    await d.record(opened("ap_expired", "t_expired", old, 1000));
    expect((await rows(d, "tasks")).length).toBe(3);
    await d.record(started("t_new"));
    expect((await rows(d, "tasks")).map((r) => r.task_id).sort()).toEqual(["t_new", "t_recent"]);
    expect(await rows(d, "approvals")).toEqual([]);
  });

  it(`keeps at most ${MAX_ROWS} rows a table, the most recently written`, async () => {
    const d = fresh();
    await runInDurableObject(d, (_o: DirectoryObject, state) => {
      for (let i = 0; i < MAX_ROWS + 5; i++) {
        state.storage.sql.exec(
          "INSERT INTO tasks (task_id, started, deadline, seen) VALUES (?, ?, ?, ?)",
          `t_${i}`,
          NOW + i,
          NOW + 10 * 86_400_000,
          NOW + i,
        );
      }
    });
    await d.record(started("t_newest", NOW + MAX_ROWS + 10));
    const kept = await rows(d, "tasks");
    expect(kept.length).toBe(MAX_ROWS);
    const names = new Set(kept.map((r) => r.task_id));
    expect(names.has("t_newest")).toBe(true);
    for (const gone of ["t_0", "t_1", "t_2", "t_3", "t_4", "t_5"]) expect(names.has(gone), gone).toBe(false);
    expect(names.has("t_6")).toBe(true);
  });
});

describe("malformed events", () => {
  it("are refused whole, nothing written; long text is cut", async () => {
    const d = fresh();
    const bad = [
      { kind: "task.deleted", task_id: "t_1", at: NOW },
      { kind: "task.ended", task_id: "t_1", state: "expired", at: NOW },
      { kind: "task.ended", task_id: "", state: "completed", at: NOW },
      { kind: "task.ended", task_id: "t_1", state: "completed", at: -1 },
      { kind: "task.ended", task_id: "t_1", state: "completed", at: "now" },
      { ...started("t_1"), agent: { issuer: "remote" } },
      { ...started("t_1"), purpose: 7 },
      null,
    ];
    for (const e of bad) {
      const error = await d.record(e as DirectoryEvent).then(
        () => null,
        (err: unknown) => err,
      );
      expect(String(error), JSON.stringify(e)).toMatch(/directory: /);
    }
    expect(await rows(d, "tasks")).toEqual([]);
    await d.record({ ...started("t_long"), purpose: "p".repeat(5000), extra: "dropped" } as unknown as DirectoryEvent);
    const [row] = await rows(d, "tasks");
    expect(String(row!.purpose).length).toBe(300);
    expect(Object.keys(row!)).not.toContain("extra");
  });
});

describe("the redeem path", () => {
  it("an approval used by the agent's retry is settled `used` in the directory", async () => {
    const app = gatewayApp();
    const task = await newTask(app, "approving");
    const id = await approved(app, task.token);
    const retry = await send(app, MERGE, mergeInit(task.token, { headers: { "firebreak-approval": id } }));
    expect([retry.res.status, retry.records[0]?.reason]).toEqual([200, "approval.granted"]);
    const directory = env.DIRECTORY!.getByName(DIRECTORY_NAME);
    await vi.waitFor(async () =>
      expect((await rows(directory, "approvals")).find((r) => r.id === id)).toMatchObject({
        task_id: task.id,
        settled_state: "used",
      }),
    );
  });
});
