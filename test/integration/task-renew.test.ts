/**
 * Renewing a task needs the agent's identity, not only the task token (issue 14): the task token is the
 * bearer and the agent's own workload token rides in `Firebreak-Agent-Token`, of the same issuer and
 * subject as the task. A refused renewal mints nothing and logs nothing; an accepted one is logged.
 */
import { env as workerEnv } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { agentToken, gatewayApp, inlineToken, newTask, renewTask } from "./support";

const env = workerEnv as unknown as Env;
const app = gatewayApp();

async function renew(taskId: string, bearer: string, agent: string | null) {
  const r = await renewTask(app, taskId, bearer, agent);
  return { status: r.res.status, text: r.text, json: (r.json ?? {}) as Record<string, unknown> };
}

/** The task's log entries of one kind, read from its object. */
async function entries(taskId: string, kind: string) {
  const view = await env.TASKS!.getByName(taskId).inspect(0, 500);
  return (view?.steps ?? []).filter((e) => e.kind === kind);
}

describe("renewing a task", () => {
  it("with the agent's workload token beside the task token: a fresh token, and the log says who", async () => {
    const task = await newTask(app, "basic");
    const r = await renew(task.id, task.token, await agentToken());
    expect(r.status, r.text).toBe(200);
    expect(decodeJwt(r.json.task_token as string)).toMatchObject({ task_id: task.id, sub: "agent-1" });
    const renewed = await entries(task.id, "renew");
    expect(renewed.map((e) => e.by)).toEqual(["remote agent-1"]);
    expect((await env.TASKS!.getByName(task.id).verifyLog(true)).ok).toBe(true);
  });

  it.each([
    ["no workload token", async () => null, 401, "task.agent_token_required"],
    ["another subject's workload token", () => agentToken({ sub: "agent-2" }), 403, "task.agent_mismatch"],
    ["the same subject from another issuer", () => inlineToken(), 403, "task.agent_mismatch"],
    ["an expired workload token", () => agentToken({ exp: -120, iat: -400 }), 401, "identity.expired"],
    ["a header that is not a token", async () => "not a token", 401, "identity.malformed"],
  ])("is refused with %s: nothing minted, nothing logged", async (_, agent, status, reason) => {
    const task = await newTask(app, "basic");
    const r = await renew(task.id, task.token, await agent());
    expect([r.status, r.json.reason], r.text).toEqual([status, reason]);
    expect(r.json.task_token).toBeUndefined();
    expect(await entries(task.id, "renew")).toEqual([]);
  });

  it("is refused with a task token where the workload token goes, and never echoes it", async () => {
    const task = await newTask(app, "basic");
    const other = await newTask(app, "basic");
    const r = await renew(task.id, task.token, other.token);
    expect([r.status, r.json.reason], r.text).toEqual([401, "task.agent_token_required"]);
    expect(r.text).not.toContain(other.token);
    expect(r.text).not.toContain(task.token);
    expect(await entries(task.id, "renew")).toEqual([]);
  });

  it("a stolen task token alone cannot outlive its own expiry by renewing", async () => {
    const task = await newTask(app, "basic");
    for (let i = 0; i < 3; i++) {
      const r = await renew(task.id, task.token, null);
      expect(r.json.reason).toBe("task.agent_token_required");
    }
    expect(await entries(task.id, "renew")).toEqual([]);
  });
});
