/**
 * Storage isolation between test files (issue 3): every workers test file gets its own Durable Object
 * storage. Two files (isolation-a/-b.test.ts) each start one task on the same agent object name, wait
 * long enough for the other file to have done the same, and then expect to see exactly their own
 * start. Shared storage fails at least one of them whatever the order: run one after the other, the
 * second sees two starts; run together, both do. Within one file storage is shared, which is why every
 * other test opens its own task with a fresh random id (and agents with random subjects).
 */
import { env as workerEnv } from "cloudflare:workers";
import { expect } from "vitest";
import type { Env } from "../../src/env";
import { newTaskId } from "../../src/identity/task-token";

const SHARED_NAME = "isolation:probe";

export async function expectOwnStorage(): Promise<void> {
  const agents = (workerEnv as unknown as Env).AGENTS!.getByName(SHARED_NAME);
  const now = Date.now();
  const limits = { live_tasks: 100, starts_per_hour: 100 };
  const task_id = newTaskId();
  expect(await agents.startTask({ task_id, limits, deadline: now + 60_000, now })).toEqual({ ok: true });
  await new Promise((r) => setTimeout(r, 1500));
  const view = await agents.inspect(Date.now());
  expect(view.live.map((t) => t.task_id)).toEqual([task_id]);
  expect(view.starts_last_hour).toBe(1);
}
