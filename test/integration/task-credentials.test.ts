/**
 * Credentials minted per task (issue 14, docs/credentials.md), through the gateway against the fake
 * token servers of test/helpers/token-servers.ts: the fixture's `ghapp` service is GitHub through a
 * GitHub App (4242, installation 42 on acme: api, web, paged), `contacts` an API behind OAuth client
 * credentials. The `minting` profile scopes ghapp to acme/*; every test starts as an agent of its own.
 *
 * The minted token is read from the task's object (runInDurableObject) only to prove where it went:
 * to the upstream, and nowhere else. The token servers record by token id (sha256, 16 hex digits, as
 * the step log names it), so tests running beside this file cannot blur what is asserted.
 */
import { runInDurableObject } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { credentialId } from "../../src/credentials/http";
import type { Env } from "../../src/env";
import { agentKey } from "../../src/tasks/agent-object";
import type { TaskObject } from "../../src/tasks/task-object";
import { token } from "../helpers/tokens";
import { decide, person } from "./approval-support";
import {
  expectAllowed,
  expectRefusal,
  failConnectionsTo,
  forwarded,
  gatewayApp,
  type Sent,
  send,
  startTask,
  taskRoute,
  testClock,
} from "./support";

const env = workerEnv as unknown as Env;
const ghapp = (...repositories: string[]) => ({ ghapp: { repositories } });
const ISSUE = "/ghapp/repos/acme/api/issues/1";

interface Servers {
  github: {
    issued: { token_id: string; repositories: string[] | null; permissions: Record<string, string> }[];
    revokedIds: string[];
    tokenRequests: { repositories: string[] | null; status: number }[];
  };
  oauth: { issued: { token_id: string; scopes: string[] }[]; revokedIds: string[] };
}
const servers = async () => (await (await fetch("http://recorder.test/token-servers")).json()) as Servers;

/** A task of `minting` for a fresh agent, started at `clock`'s time. */
async function mintingTask(repositories = ["acme/api"], clock = testClock()) {
  const sub = `cred-${crypto.randomUUID()}`;
  const app = gatewayApp({ clock: clock.now });
  const bearer = await token({ sub, now: clock.seconds() });
  const started = await startTask(app, "minting", { bearer, scope: ghapp(...repositories) });
  const id = started.json?.task_id as string;
  const stub = env.TASKS!.getByName(id);
  return { sub, app, bearer, started, id, token: started.json?.task_token as string, stub, clock };
}

/** What the task's object holds: service -> { secret, id } (the test's only way to see a secret). */
async function held(stub: DurableObjectStub<TaskObject>) {
  return runInDurableObject(stub, (_i, state) =>
    Object.fromEntries(
      state.storage.sql
        .exec<{ service: string; secret: string | null; id: string }>("SELECT service, secret, id FROM credentials")
        .toArray()
        .map((r) => [r.service, { secret: r.secret, id: r.id }]),
    ),
  );
}

/** The secret appears nowhere the agent or an operator can read: answer, log lines, data points. */
function expectHidden(secret: string, ...sent: Sent[]) {
  for (const s of sent) {
    expect(s.text).not.toContain(secret);
    expect(JSON.stringify(s.logCalls)).not.toContain(secret);
    expect(JSON.stringify(s.points)).not.toContain(secret);
    expect(JSON.stringify([...s.res.headers])).not.toContain(secret);
  }
}

async function credentialEntries(stub: DurableObjectStub<TaskObject>) {
  const view = (await stub.inspect(0, 200))!;
  return { text: JSON.stringify(view), entries: view.steps.filter((s) => s.kind === "credential") };
}

describe("a GitHub App token per task", () => {
  it("is minted for exactly the task's repositories and the profile's permissions, and sent upstream", async () => {
    const t = await mintingTask(["acme/api", "acme/web"]);
    expect(t.started.res.status, t.started.text).toBe(201);
    const { ghapp: gh, contacts } = await held(t.stub);
    const seen = await servers();
    expect(seen.github.issued.find((i) => i.token_id === gh!.id)).toEqual({
      token_id: gh!.id,
      repositories: ["api", "web"],
      permissions: { issues: "write", pull_requests: "read" },
    });
    expect(seen.oauth.issued.find((i) => i.token_id === contacts!.id)).toEqual({
      token_id: contacts!.id,
      scopes: ["contacts.read"],
    });
    expect(await credentialId(gh!.secret!)).toBe(gh!.id);

    const call = await send(t.app, ISSUE, { bearer: t.token });
    expect(forwarded(call).headers.authorization).toBe(`Bearer ${gh!.secret}`);
    expectAllowed(call);
    const crm = await send(t.app, "/contacts/contacts", { bearer: t.token });
    expect(forwarded(crm).headers.authorization).toBe(`Bearer ${contacts!.secret}`);
    expect(t.started.text).not.toContain(gh!.secret!);
    expectHidden(gh!.secret!, call, crm);
    expectHidden(contacts!.secret!, call, crm);

    // The step log names each credential by its id, never by its secret.
    const log = await credentialEntries(t.stub);
    expect(log.text).not.toContain(gh!.secret!);
    expect(log.text).not.toContain(contacts!.secret!);
    expect(
      log.entries
        .map((e) => [e.service, (e.args as Record<string, unknown>).id, (e.args as Record<string, unknown>).event])
        .sort(),
    ).toEqual(
      [
        ["contacts", contacts!.id, "mint"],
        ["ghapp", gh!.id, "mint"],
      ].sort(),
    );
  });

  it("refuses a repository outside the task's scope before forwarding; the token could not reach it either", async () => {
    const t = await mintingTask(["acme/api"]);
    const outside = "/ghapp/repos/acme/web/issues/1";
    const refused = await send(t.app, outside, { bearer: t.token });
    expectRefusal(refused, 403, "task.out_of_scope");
    // The second layer: with Firebreak's own check off, GitHub refuses the token that names only api.
    await runInDurableObject(t.stub, (instance) => {
      (instance as unknown as { enforceScope: boolean }).enforceScope = false;
    });
    const through = await send(t.app, outside, { bearer: t.token });
    expect(through.res.status, through.text).toBe(404);
    expect(through.json?.message).toBe("Not Found");
  });

  it("is revoked upstream when the task completes, and GitHub refuses it afterwards", async () => {
    const t = await mintingTask();
    const creds = await held(t.stub);
    const before = creds.ghapp!;
    expectAllowed(await send(t.app, ISSUE, { bearer: t.token }));
    const done = await taskRoute(t.app, `/${t.id}/complete`, t.token, "POST");
    expect(done.res.status, done.text).toBe(200);
    expect((await servers()).github.revokedIds).toContain(before.id);
    expect((await held(t.stub)).ghapp?.secret ?? null).toBeNull();
    const after = await fetch("https://api.github.com/repos/acme/api/issues/1", {
      headers: { authorization: `Bearer ${before.secret}` },
    });
    expect(after.status).toBe(401);
    const log = await credentialEntries(t.stub);
    expect(
      log.entries
        .filter((e) => (e.args as Record<string, unknown>).event === "revoke")
        .map((e) => e.service)
        .sort(),
    ).toEqual(["contacts", "ghapp"]);
    expect((await servers()).oauth.revokedIds).toContain(creds.contacts!.id);
    // And the task's calls are refused by the task, nothing forwarded.
    expectRefusal(await send(t.app, ISSUE, { bearer: t.token }), 403, "task.completed");
  });

  it("is revoked when an operator revokes the task, and when the agent's kill switch is set", async () => {
    const operator = await token({ sub: "operator-1" });
    const one = await mintingTask();
    const two = await mintingTask();
    const first = (await held(one.stub)).ghapp!.id;
    const second = (await held(two.stub)).ghapp!.id;
    expect((await taskRoute(one.app, `/${one.id}/revoke`, operator, "POST")).res.status).toBe(200);
    const killed = await two.app.fetch(
      new Request(`https://gw.example/_firebreak/v1/tasks/agents/revoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${operator}`, "content-type": "application/json" },
        body: JSON.stringify({ issuer: "remote", sub: two.sub }),
      }),
      env as never,
    );
    expect(killed.status, await killed.text()).toBe(200);
    const revoked = (await servers()).github.revokedIds;
    expect(revoked).toContain(first);
    expect(revoked).toContain(second);
    expect((await held(one.stub)).ghapp?.secret ?? null).toBeNull();
    expect((await held(two.stub)).ghapp?.secret ?? null).toBeNull();
  });

  it("is revoked when the task expires (the deadline alarm)", async () => {
    const { runDurableObjectAlarm } = await import("cloudflare:test");
    // Ahead of the real time: the task's own alarm never fires by itself, the test runs it.
    const t = await mintingTask(["acme/api"], testClock(Date.now() + 60_000));
    const minted = (await held(t.stub)).ghapp!.id;
    const deadline = (await t.stub.view())!.deadline;
    t.clock.set(deadline + 1);
    vi.setSystemTime(t.clock.ms());
    try {
      expect(await runDurableObjectAlarm(t.stub)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
    expect((await t.stub.view())!.state).toBe("expired");
    expect((await servers()).github.revokedIds).toContain(minted);
  });

  it("is renewed before it expires, for a task that outlives it: the old one revoked, the new one sent", async () => {
    const t = await mintingTask();
    const old = (await held(t.stub)).ghapp!;
    expectAllowed(await send(t.app, ISSUE, { bearer: t.token }));
    // GitHub's tokens live an hour; renewal is due five minutes before.
    t.clock.advance(56 * 60_000);
    const call = await send(t.app, ISSUE, { bearer: t.token });
    const fresh = (await held(t.stub)).ghapp!;
    expect(fresh.id).not.toBe(old.id);
    expect(forwarded(call).headers.authorization).toBe(`Bearer ${fresh.secret}`);
    expectAllowed(call);
    expect((await servers()).github.issued.find((i) => i.token_id === fresh.id)?.repositories).toEqual(["api"]);
    // The old one is revoked in the background, after the answer.
    await expect.poll(async () => (await servers()).github.revokedIds, { timeout: 5_000 }).toContain(old.id);
    const events = (await credentialEntries(t.stub)).entries.map((e) => [
      e.service,
      (e.args as Record<string, unknown>).event,
    ]);
    expect(events).toContainEqual(["ghapp", "renew"]);
    expect(events).toContainEqual(["ghapp", "revoke"]);
  });
});

describe("an approved call", () => {
  it("goes out with the task's minted token when the agent redeems the approval", async () => {
    const t = await (async () => {
      const sub = `cred-${crypto.randomUUID()}`;
      const app = gatewayApp();
      const started = await startTask(app, "minting-guarded", {
        bearer: await token({ sub }),
        scope: ghapp("acme/api"),
      });
      expect(started.res.status, started.text).toBe(201);
      const id = started.json?.task_id as string;
      return { app, id, token: started.json?.task_token as string, stub: env.TASKS!.getByName(id) };
    })();
    const asked = await send(t.app, ISSUE, { bearer: t.token });
    expectRefusal(asked, 403, "approval.required", "approval_required");
    const approval = String((asked.json?.approval as { id?: string } | undefined)?.id);
    const yes = await decide(t.app, approval, "approve", await person());
    expect(yes.json.status).toBe("approved");
    const retry = await send(t.app, ISSUE, { bearer: t.token, headers: { "firebreak-approval": approval } });
    expect(retry.res.status, retry.text).toBe(200);
    const minted = (await held(t.stub)).ghapp!;
    expect(forwarded(retry).headers.authorization).toBe(`Bearer ${minted.secret}`);
    expect(retry.text).not.toContain(minted.secret!);
  });
});

describe("when no credential can be had", () => {
  /** A refused start: its status and reason, no task, no slot held by the agent, nothing forwarded. */
  async function expectNoTask(t: Awaited<ReturnType<typeof mintingTask>>, status: number, reason: string) {
    expect([t.started.res.status, t.started.json?.reason], t.started.text).toEqual([status, reason]);
    expect(t.started.json?.task_token).toBeUndefined();
    const agent = env.AGENTS!.getByName(agentKey({ issuer: "remote", sub: t.sub }));
    expect((await agent.inspect(Date.now())).live).toEqual([]);
  }

  it("a token GitHub refuses (a repository the installation lacks) refuses the start: 503 credential.refused", async () => {
    const t = await mintingTask(["acme/ghost"]);
    await expectNoTask(t, 503, "credential.refused");
    const asked = (await servers()).github.tokenRequests.filter((r) => r.repositories?.includes("ghost"));
    expect(asked.map((r) => r.status)).toContain(422);
  });

  it("an unreachable token endpoint refuses the start: 503 credential.unreachable, and what was minted is revoked", async () => {
    const down = failConnectionsTo("api.github.com");
    let t: Awaited<ReturnType<typeof mintingTask>>;
    try {
      t = await mintingTask();
    } finally {
      down.restore();
    }
    await expectNoTask(t, 503, "credential.unreachable");
    expect(down.refused.some((u) => u.endsWith("/app/installations/42/access_tokens"))).toBe(true);
  });

  it("a bare workload token cannot call a service that mints per task: credential.unavailable, nothing sent", async () => {
    const app = gatewayApp();
    const bare = await send(app, ISSUE, { bearer: await token({ sub: `cred-${crypto.randomUUID()}` }) });
    expectRefusal(bare, 503, "credential.unavailable");
    expect(bare.upstream).toEqual([]);
  });
});
