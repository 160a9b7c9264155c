/**
 * Replay end to end: the gateway as it ships (bundled, in miniflare, every outbound fetch caught by the
 * recording fake upstream) takes real calls in two tasks: allowed reads, a denied read, a merge held
 * for a person, approved on its page and retried, a call outside the catalog, and a user lookup denied
 * by a rule on `task.calls`. `firebreak task-log` (a child process, an operator's token) exports both
 * logs over HTTP; `firebreak compile` builds a candidate from a modified copy of the fixture policies;
 * `firebreak replay` (a child process) reports exactly the three decisions it changes, grouped by rule,
 * exit 1, and nothing at all with the bundle that is deployed, exit 0.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import keys from "../fixtures/keys.json" with { type: "json" };
import { ISSUERS, token } from "../helpers/tokens";
import { outbound } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const exec = promisify(execFile);
const CANARY = { GITHUB_TOKEN: "canary-gh-replay-71c3d0", SLACK_BOT_TOKEN: "canary-slack-replay-2b9e44" };
const TASK_KEY = {
  ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: "replay-task-key",
  alg: "EdDSA",
};
const DEPLOYED = join(ROOT, "test", ".generated", "gateway.json");
const MERGE = "/github/repos/acme/api/pulls/1/merge";
/** `commit_message` is not a declared argument of github:pulls.merge: it is never in the log. */
const MERGE_BODY = '{"merge_method":"squash","commit_message":"body-canary-5d2e90"}';

const work = mkdtempSync(join(tmpdir(), "firebreak-replay-e2e-"));
let gw: Gateway;
let operator: string;
let agent: string;
const tasks: { approving: string; basic: string } = { approving: "", basic: "" };
/** Decision id of each call by name. */
const ids: Record<string, string> = {};

async function call(path: string, bearer: string, init: { method?: string; headers?: object; body?: string } = {}) {
  const headers = { authorization: `Bearer ${bearer}`, ...init.headers };
  const res = (await gw.mf.dispatchFetch(new URL(path, gw.url), { ...init, headers } as never)) as unknown as Response;
  const text = await res.text();
  return { status: res.status, id: res.headers.get("firebreak-decision-id") ?? "", json: JSON.parse(text || "null") };
}

async function startTask(profile: string): Promise<{ id: string; token: string }> {
  const r = await call("/_firebreak/v1/tasks", agent, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ profile, purpose: "replay e2e" }),
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return { id: r.json.task_id, token: r.json.task_token };
}

/** Sends a call, checks its status and reason, and keeps its decision id under `name`. */
async function expectCall(
  name: string,
  bearer: string,
  path: string,
  status: number,
  reason: string | null,
  init = {},
) {
  const r = await call(path, bearer, init);
  expect([r.status, r.json?.reason ?? null], name).toEqual([status, reason]);
  ids[name] = r.id;
  return r;
}

/** A person approves on the page: its form token, posted same-origin. */
async function approveAs(approvalId: string): Promise<void> {
  const person = await token({
    key: "es256",
    iss: ISSUERS.people,
    sub: "alice",
    claims: { groups: ["approvers"], email: "alice@acme.test" },
  });
  const page = (await gw.mf.dispatchFetch(new URL(`/_firebreak/v1/approvals/${approvalId}`, gw.url), {
    headers: { "cf-access-jwt-assertion": person },
  })) as unknown as Response;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  expect(csrf).toBeDefined();
  const res = (await gw.mf.dispatchFetch(new URL(`/_firebreak/v1/approvals/${approvalId}/approve`, gw.url), {
    method: "POST",
    headers: {
      "cf-access-jwt-assertion": person,
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      "sec-fetch-site": "same-origin",
    },
    body: new URLSearchParams({ csrf: csrf! }).toString(),
  })) as unknown as Response;
  expect(((await res.json()) as { status: string }).status).toBe("approved");
}

/** Refused calls reach the log in the background: wait until every decision id of the task is there. */
async function logged(taskId: string, decisionIds: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await call(`/_firebreak/v1/tasks/${taskId}?limit=500`, operator);
    const have = new Set((r.json.steps as { decision_id: string | null }[]).map((s) => s.decision_id));
    if (decisionIds.every((id) => have.has(id))) return;
    if (Date.now() > deadline) throw new Error(`log of ${taskId} misses decisions`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const cli = (args: string[], env: Record<string, string> = {}) =>
  exec(process.execPath, [join(ROOT, "bin", "firebreak.mjs"), ...args], {
    cwd: ROOT,
    env: { ...process.env, FIREBREAK_ADMIN_TOKEN: operator, ...env },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

beforeAll(async () => {
  gw = await startGateway({
    bundlePath: DEPLOYED,
    bindings: {
      ...CANARY,
      GATEWAY_ORIGIN: "https://firebreak.test.example",
      FIREBREAK_TASK_KEY: JSON.stringify(TASK_KEY),
      TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
    },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
  operator = await token({ sub: "operator-1" });
  agent = await token({ sub: "agent-1", claims: { team: "infra" } });

  // Task A (profile approving): reads, a denied read, a merge that a person approves, an unknown call.
  const a = await startTask("approving");
  tasks.approving = a.id;
  await expectCall("read-1", a.token, "/github/repos/acme/api/issues/1", 200, null);
  await expectCall("read-evil", a.token, "/github/repos/evil/api/issues/1", 403, "policy.denied");
  await expectCall("read-2", a.token, "/github/repos/acme/api/issues/2", 200, null);
  const merge = { method: "PUT", headers: { "content-type": "application/json" }, body: MERGE_BODY };
  const held = await expectCall("merge-asked", a.token, MERGE, 403, "approval.required", merge);
  await approveAs(held.json.approval.id);
  const retry = { ...merge, headers: { ...merge.headers, "firebreak-approval": held.json.approval.id } };
  await expectCall("merge-retried", a.token, MERGE, 200, null, retry);
  await expectCall("unknown", a.token, "/github/repos/acme/api/traffic/views", 403, "action.unknown");

  // Task B (profile basic): three reads, then a lookup the rule lookups-early-in-a-task denies (task.calls >= 3).
  const b = await startTask("basic");
  tasks.basic = b.id;
  for (const n of [3, 4, 5]) await expectCall(`read-${n}`, b.token, `/github/repos/acme/api/issues/${n}`, 200, null);
  await expectCall("lookup", b.token, "/slack/api/users.info?user=U1", 403, "policy.denied");

  await logged(
    a.id,
    ["read-1", "read-evil", "read-2", "merge-asked", "merge-retried", "unknown"].map((n) => ids[n]!),
  );
  await logged(
    b.id,
    ["read-3", "read-4", "read-5", "lookup"].map((n) => ids[n]!),
  );
});

afterAll(async () => {
  await gw?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** The fixture policies with three edits: a deny rule removed, a threshold raised, a deny rule added. */
function candidatePolicies(): string {
  const dir = join(work, "candidate");
  cpSync(join(ROOT, "test", "fixtures", "policies", "gateway"), dir, { recursive: true });
  const rulesFile = join(dir, "rules", "rules.yaml");
  let rules = readFileSync(rulesFile, "utf8");
  const evil = / {2}- id: no-evil-repos\n( {4}.*\n)+/;
  expect(rules).toMatch(evil);
  rules = rules.replace(evil, "");
  expect(rules).toContain("task.calls >= 3");
  rules = rules.replace("task.calls >= 3", "task.calls >= 5");
  rules += `  - id: deny-issue-2\n    effect: deny\n    actions: ["github:issues.get"]\n    when: 'request.params.number == "2"'\n`;
  writeFileSync(rulesFile, rules);
  return dir;
}

describe("firebreak task-log then firebreak replay", () => {
  const logs = join(work, "logs");

  it("exports each task's log over HTTP with an operator's token", async () => {
    mkdirSync(logs);
    for (const [name, id] of Object.entries(tasks)) {
      const r = await cli(["task-log", id, "--url", gw.url.origin]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines[0].task).toMatchObject({ task_id: id, agent: { issuer: "remote", sub: "agent-1" } });
      expect(lines[0].log).toEqual({ ok: true });
      expect(lines.slice(1).map((s) => s.seq)).toEqual(lines.slice(1).map((_, i) => i + 1));
      writeFileSync(join(logs, `${name}.jsonl`), r.stdout);
    }
    const all = readFileSync(join(logs, "approving.jsonl"), "utf8") + readFileSync(join(logs, "basic.jsonl"), "utf8");
    for (const secret of [...Object.values(CANARY), operator, agent]) expect(all).not.toContain(secret);
    expect(all).toContain('"args":{"merge_method":"squash"}'); // the declared argument, as facts
    expect(all).not.toContain("body-canary-5d2e90"); // never the body
  });

  it("refuses a token that is not an operator's: exit 1, the reason, never the token", async () => {
    const r = await cli(["task-log", tasks.basic, "--url", gw.url.origin], { FIREBREAK_ADMIN_TOKEN: agent });
    expect([r.code, r.stdout]).toEqual([1, ""]);
    expect(r.stderr).toContain("the gateway answered 403 admin.denied");
    expect(r.stderr).not.toContain(agent);
  });

  it("with the deployed bundle: nothing changes, exit 0", async () => {
    const r = await cli(["replay", "--bundle", DEPLOYED, "--from", logs]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("no decision changes");
    expect(r.stdout.trim().split("\n").at(-1)).toBe("10 calls re-decided, 0 change, 0 skipped without facts");
  });

  it("with a candidate: exactly the three decisions that change, grouped by rule, exit 1", async () => {
    const candidate = join(work, "candidate.json");
    const compiled = await cli(["compile", "--policies", candidatePolicies(), "--out", candidate]);
    expect(compiled.code, compiled.stderr).toBe(0);

    const json = await cli(["replay", "--bundle", candidate, "--from", logs, "--json"]);
    expect(json.code, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.summary).toMatchObject({ tasks: 2, redecided: 10, changed: 3 });
    const groups = report.groups.map((g: { group: string; changes: { decision_id: string }[] }) => [
      g.group,
      g.changes.map((c) => c.decision_id),
    ]);
    expect(groups).toEqual([
      ["agent-reads", [ids["read-evil"], ids.lookup]],
      ["deny-issue-2", [ids["read-2"]]],
    ]);
    const [evil, lookup] = report.groups[0].changes;
    expect(evil).toMatchObject({
      task: tasks.approving,
      action: "github:issues.get",
      resource: "repo:evil/api",
      before: { effect: "deny", reason: "policy.denied" },
      after: { effect: "allow", reason: "policy.allowed", rules: ["agent-reads"] },
    });
    expect(lookup).toMatchObject({
      task: tasks.basic,
      action: "slack:users.info",
      request: { method: "GET", path: "/api/users.info", query: [["user", "U1"]], args: { user: "U1" } },
      after: { effect: "allow", rules: ["agent-reads"] },
    });
    expect(report.groups[1].changes[0]).toMatchObject({
      before: { effect: "allow", reason: "policy.allowed" },
      after: { effect: "deny", reason: "policy.denied", rules: ["deny-issue-2"] },
    });

    const text = await cli([
      "replay",
      "--bundle",
      candidate,
      "--from",
      join(logs, "approving.jsonl"),
      join(logs, "basic.jsonl"),
    ]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^agent-reads \(candidate\/rules\/rules\.yaml:\d+\): 2 change\(s\)$/m);
    expect(text.stdout).toMatch(/^deny-issue-2 \(candidate\/rules\/rules\.yaml:\d+\): 1 change\(s\)$/m);
    expect(text.stdout).toMatch(
      new RegExp(
        `^  ${tasks.approving} +\\d+ +\\S+ +github:issues.get +repo:evil/api +deny \\(policy.denied\\) +allow \\(policy.allowed\\)$`,
        "m",
      ),
    );
    expect(text.stdout.trim().split("\n").at(-1)).toBe("10 calls re-decided, 3 change, 0 skipped without facts");
  });
});
