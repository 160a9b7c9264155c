/**
 * `startTask` (src/tasks/start.ts) against the real agent and task objects inside workerd, one step
 * made to fail at a time: each failure undoes what came before it, and the agent object is asked
 * afterwards what it counts (no live task left behind); `mintTaskToken` for the start and the renewal.
 */
import { env as workerEnv } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { newTaskId, TASK_KEY_VAR } from "../../src/identity/task-token";
import type { Agent } from "../../src/policy/evaluate";
import type { ProfileSpec } from "../../src/policy/types";
import { type AgentLimits, agentKey } from "../../src/tasks/agent-object";
import { mintTaskToken, taskSigner } from "../../src/tasks/mint";
import { type StartObjects, startTask } from "../../src/tasks/start";
import gatewayBundle from "../.generated/gateway.json";
import { bindings } from "./support";

const env = workerEnv as unknown as Env;
const PROFILE = gatewayBundle.profiles.find((p) => p.name === "basic") as unknown as ProfileSpec;
const LIMITS: AgentLimits = { live_tasks: 3, starts_per_hour: 100 };

function agent(): Agent {
  return { issuer: "remote", iss: "https://oidc.acme.example", sub: `start-${crypto.randomUUID()}`, claims: {} };
}

/** The real objects of a fresh agent and task id; a test replaces one method to make its step fail. */
function objects(who: Agent, task_id = newTaskId()) {
  const agentStub = env.AGENTS!.getByName(agentKey(who));
  const taskStub = env.TASKS!.getByName(task_id);
  const real: StartObjects = {
    agent: { startTask: (r) => agentStub.startTask(r), endTask: (id, now) => agentStub.endTask(id, now) },
    task: { open: (init) => taskStub.open(init), revoke: (now, by) => taskStub.revoke(now, by) },
  };
  return { task_id, agentStub, taskStub, real };
}

const input = (who: Agent, task_id: string, now = Date.now(), limits = LIMITS) => ({
  task_id,
  profile: PROFILE,
  agent: who,
  purpose: "start test",
  limits,
  now,
});

describe("startTask", () => {
  it("reserves, opens and confirms: the task is live and holds one of the agent's slots", async () => {
    const who = agent();
    const { task_id, agentStub, taskStub, real } = objects(who);
    const now = Date.now();
    const started = await startTask(real, input(who, task_id, now));
    expect(started).toEqual({ ok: true, deadline: now + PROFILE.max_lifetime_s * 1000 });
    expect((await taskStub.inspect())?.task).toMatchObject({ state: "live", agent: { sub: who.sub } });
    const view = await agentStub.inspect(Date.now());
    expect(view.live.map((t) => t.task_id)).toEqual([task_id]);
    expect(view.starts_last_hour).toBe(1);
  });

  it("a refused reservation opens nothing", async () => {
    const who = agent();
    const { task_id, agentStub, taskStub, real } = objects(who);
    const started = await startTask(real, input(who, task_id, Date.now(), { live_tasks: 0, starts_per_hour: 100 }));
    expect(started).toMatchObject({ ok: false, reason: "agent.live_tasks" });
    expect(await taskStub.inspect()).toBeNull();
    expect((await agentStub.inspect(Date.now())).live).toEqual([]);
  });

  it("an open that throws gives the slot back: task.unavailable, no live task counted", async () => {
    const who = agent();
    const { task_id, agentStub, taskStub, real } = objects(who);
    const failing: StartObjects = {
      ...real,
      task: { ...real.task, open: () => Promise.reject(new Error("task object down")) },
    };
    const started = await startTask(failing, input(who, task_id));
    expect(started).toEqual({ ok: false, reason: "task.unavailable", detail: "start: task object down" });
    expect(await taskStub.inspect()).toBeNull();
    const view = await agentStub.inspect(Date.now());
    expect(view.live).toEqual([]);
    // The start itself still counts against the hourly rate: only the live slot is given back.
    expect(view.starts_last_hour).toBe(1);
  });

  it("an id already opened by another agent is refused and gives the slot back; that task is untouched", async () => {
    const owner = agent();
    const { task_id, taskStub } = objects(owner);
    const first = await startTask(objects(owner, task_id).real, input(owner, task_id));
    expect(first.ok).toBe(true);
    const before = await taskStub.inspect();

    const who = agent();
    const { agentStub, real } = objects(who, task_id);
    const started = await startTask(real, input(who, task_id));
    expect(started).toEqual({ ok: false, reason: "task.unavailable", detail: "task.agent_mismatch" });
    expect((await agentStub.inspect(Date.now())).live).toEqual([]);
    expect(await taskStub.inspect()).toEqual(before);
  });

  it("the kill switch between reservation and open: the task is revoked, the slot given back", async () => {
    const who = agent();
    const { task_id, agentStub, taskStub, real } = objects(who);
    const racing: StartObjects = {
      ...real,
      task: {
        ...real.task,
        open: async (init) => {
          await agentStub.revokeAll(Date.now(), "operator");
          return real.task.open(init);
        },
      },
    };
    const started = await startTask(racing, input(who, task_id));
    expect(started).toMatchObject({ ok: false, reason: "agent.revoked" });
    expect((await taskStub.inspect())?.task.state).toBe("revoked");
    const view = await agentStub.inspect(Date.now());
    expect(view.revoked).toBe(true);
    expect(view.live).toEqual([]);
  });

  it("a confirmation that throws revokes the task and gives the slot back", async () => {
    const who = agent();
    const { task_id, agentStub, taskStub, real } = objects(who);
    let calls = 0;
    const flaky: StartObjects = {
      ...real,
      agent: {
        ...real.agent,
        startTask: (r) => (++calls === 2 ? Promise.reject(new Error("agent object down")) : real.agent.startTask(r)),
      },
    };
    const started = await startTask(flaky, input(who, task_id));
    expect(started).toEqual({ ok: false, reason: "task.unavailable", detail: "start: agent object down" });
    expect(calls).toBe(2);
    expect((await taskStub.inspect())?.task.state).toBe("revoked");
    expect((await agentStub.inspect(Date.now())).live).toEqual([]);
  });
});

describe("mintTaskToken", () => {
  it("signs for the gateway's origin, the agent and the task; exp is min(now + ttl, deadline)", async () => {
    const signer = await taskSigner(env);
    if (!signer.ok) throw new Error(`no signer: ${signer.reason}`);
    const who = { ...agent(), claims: { team: "core" } };
    const task_id = newTaskId();
    const now = Date.now();
    const long = await mintTaskToken(signer.signer, { task_id, agent: who, profile: PROFILE }, now + 3600_000, now);
    expect(long.expires_at).toBe(Math.floor((now + PROFILE.ttl_s * 1000) / 1000) * 1000);
    expect(decodeJwt(long.token)).toMatchObject({
      iss: bindings.GATEWAY_ORIGIN,
      aud: bindings.GATEWAY_ORIGIN,
      sub: who.sub,
      agent_issuer: "remote",
      task_id,
      profile: PROFILE.name,
      agent_claims: { team: "core" },
    });
    const short = await mintTaskToken(signer.signer, { task_id, agent: who, profile: PROFILE }, now + 5000, now);
    expect(short.expires_at).toBe(Math.floor((now + 5000) / 1000) * 1000);
  });

  it("has no signer without the gateway's origin or a usable key, and never names the key", async () => {
    expect(await taskSigner({ ...env, GATEWAY_ORIGIN: "" })).toMatchObject({
      ok: false,
      reason: "task.unavailable",
      detail: "GATEWAY_ORIGIN not set",
    });
    expect(await taskSigner({ ...env, [TASK_KEY_VAR]: undefined })).toMatchObject({
      ok: false,
      reason: "task.keys_unavailable",
      detail: `${TASK_KEY_VAR} is not set`,
    });
  });
});
