/**
 * A task's scope at its start (issue 14; src/policy/scope.ts, docs/credentials.md "Task scope"): the
 * gateway fixture's `scoped` profile lets a task reach acme's repositories and octo-org/docs on
 * GitHub, and every start names its own within that. A start inside is 201 with the scope it holds; one
 * outside, without one, with too many or with a malformed one is refused before any object is called,
 * and the agent's object is asked afterwards: no live slot, no start counted. Every test starts as an
 * agent of its own, so what the agent object counts is that test's alone.
 */
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { newTaskId } from "../../src/identity/task-token";
import { MAX_TASK_REPOSITORIES } from "../../src/policy/scope";
import type { ProfileSpec } from "../../src/policy/types";
import { agentKey } from "../../src/tasks/agent-object";
import { type StartObjects, startTask as startObjects } from "../../src/tasks/start";
import type { OpenInit } from "../../src/tasks/task-object";
import gatewayBundle from "../.generated/gateway.json";
import { token } from "../helpers/tokens";
import { gatewayApp, startTask } from "./support";

const env = workerEnv as unknown as Env;
const app = gatewayApp();
const github = (...repositories: unknown[]) => ({ github: { repositories } });

/** A fresh agent: its token, and what its object counts now. */
async function freshAgent() {
  const sub = `scope-${crypto.randomUUID()}`;
  const stub = env.AGENTS!.getByName(agentKey({ issuer: "remote", sub }));
  return { bearer: await token({ sub }), counts: () => stub.inspect(Date.now()) };
}

/** Starts a task of `profile` with `scope` (left out when undefined) as a fresh agent. */
async function start(scope: unknown, profile = "scoped") {
  const agent = await freshAgent();
  const started = await startTask(app, profile, { bearer: agent.bearer, scope });
  return { ...started, reason: started.json?.reason, counts: agent.counts };
}

/** A refused start: its status and reason, and the agent's object holds no slot and counted no start. */
async function expectRefused(scope: unknown, status: number, reason: string, profile = "scoped") {
  const s = await start(scope, profile);
  expect([s.res.status, s.reason], s.text).toEqual([status, reason]);
  expect(s.json?.task_token).toBeUndefined();
  const counts = await s.counts();
  expect(counts.live).toEqual([]);
  expect(counts.starts_last_hour).toBe(0);
}

describe("a start with a scope within the profile's", () => {
  it("is 201, holds the scope lower-case, unique and sorted, and takes a slot", async () => {
    const s = await start(github("acme/web", "ACME/Api", "acme/api", "octo-org/Docs"));
    expect(s.res.status, s.text).toBe(201);
    expect(s.json?.scope).toEqual(github("acme/api", "acme/web", "octo-org/docs"));
    const counts = await s.counts();
    expect(counts.live.map((t) => t.task_id)).toEqual([s.json?.task_id]);
  });

  it(`takes up to ${MAX_TASK_REPOSITORIES} repositories`, async () => {
    const names = Array.from({ length: MAX_TASK_REPOSITORIES }, (_, i) => `acme/repo-${i}`);
    const s = await start(github(...names));
    expect(s.res.status, s.text).toBe(201);
    expect(s.json?.scope).toEqual(github(...[...names].sort()));
  });

  it("a profile without a scope starts without one, and its answer has none", async () => {
    const s = await start(undefined, "narrow");
    expect(s.res.status, s.text).toBe(201);
    expect(s.json).not.toHaveProperty("scope");
  });
});

describe("a start whose scope the profile does not allow: task.scope_denied, nothing started", () => {
  it.each([
    ["another owner's repository", github("acme/api", "evil/api")],
    ["a repository of an owner the profile names one repository of", github("octo-org/other")],
    ["a service the profile does not scope", { ...github("acme/api"), slack: { repositories: ["acme/api"] } }],
  ])("%s", async (_, scope) => {
    await expectRefused(scope, 403, "task.scope_denied");
  });

  it("any scope, for a profile that sets none", async () => {
    await expectRefused(github("acme/api"), 403, "task.scope_denied", "narrow");
  });
});

describe("a start of a scoped profile that names no scope: task.scope_required, nothing started", () => {
  it.each([
    ["no scope", undefined],
    ["an empty scope", {}],
  ])("%s", async (_, scope) => {
    await expectRefused(scope, 400, "task.scope_required");
  });
});

describe("a malformed or oversized scope: request.body_invalid, nothing started", () => {
  it.each([
    [
      "more repositories than the bound",
      github(...Array.from({ length: MAX_TASK_REPOSITORIES + 1 }, (_, i) => `acme/r${i}`)),
    ],
    ["no repositories", github()],
    ["a name without its owner", github("api")],
    ["a pattern (a task names repositories)", github("acme/*")],
    ["a path", github("acme/api/issues")],
    ["an owner starting with a hyphen", github("-acme/api")],
    ["an owner over 39 characters", github(`${"a".repeat(40)}/api`)],
    ["a space in the name", github("acme/a b")],
    ["a dot-dot name", github("acme/..")],
    ["a name over 100 characters", github(`acme/${"r".repeat(101)}`)],
    ["a repository that is not a string", github("acme/api", 7)],
    ["repositories not a list", { github: { repositories: "acme/api" } }],
    ["a key beside repositories", { github: { repositories: ["acme/api"], permissions: { issues: "write" } } }],
    ["a service's scope that is a list", { github: ["acme/api"] }],
    ["a scope that is a list", [github("acme/api")]],
    ["a scope that is a string", "acme/api"],
    ["a scope that is null", null],
  ])("%s", async (_, scope) => {
    await expectRefused(scope, 400, "request.body_invalid");
  });

  it("syntax is checked before the profile: a malformed name outside the scope is body_invalid", async () => {
    await expectRefused(github("evil/api", "evil/a b"), 400, "request.body_invalid");
  });
});

describe("startTask hands the task's object the scope", () => {
  it("open(init) gets the checked scope (the object keeps it in phase 2: OpenInit.scope)", async () => {
    const profile = gatewayBundle.profiles.find((p) => p.name === "scoped") as unknown as ProfileSpec;
    const who = { issuer: "remote", iss: "https://oidc.acme.example", sub: `scope-${crypto.randomUUID()}`, claims: {} };
    const task_id = newTaskId();
    const agentStub = env.AGENTS!.getByName(agentKey(who));
    const taskStub = env.TASKS!.getByName(task_id);
    const opened: OpenInit[] = [];
    const objects: StartObjects = {
      agent: { startTask: (r) => agentStub.startTask(r), endTask: (id, now) => agentStub.endTask(id, now) },
      task: {
        open: (init) => {
          opened.push(init);
          return taskStub.open(init);
        },
        revoke: (now, by) => taskStub.revoke(now, by),
      },
    };
    const scope = { github: { repositories: ["acme/api"] } };
    const limits = { live_tasks: 3, starts_per_hour: 100 };
    const started = await startObjects(objects, {
      task_id,
      profile,
      agent: who,
      purpose: "t",
      scope,
      limits,
      now: Date.now(),
    });
    expect(started.ok).toBe(true);
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ task_id, scope });
  });
});
