/**
 * Approvals through the gateway, shared by approvals.test.ts and reasons.test.ts: a person's token,
 * the merge that needs one, the approval page (and its form token), a person's decision as the page's
 * form posts it.
 */
import { expect } from "vitest";
import { ISSUERS, token } from "../helpers/tokens";
import { type App, BASE, bindings, expectRefusal, type SendInit, send } from "./support";

export const MERGE = "/github/repos/acme/api/pulls/7/merge";
export const MERGE_BODY = '{"merge_method":"squash"}';

export interface Approval {
  id: string;
  status_url: string;
  expires_at: string;
}

/** The merge as the agent sends it (PUT, JSON body), with a task token and optional changes. */
export const mergeInit = (
  bearer: string,
  extra: { headers?: Record<string, string>; body?: string } = {},
): SendInit => ({
  method: "PUT",
  headers: { "content-type": "application/json", ...extra.headers },
  body: extra.body ?? MERGE_BODY,
  bearer,
});

/** A person of the `people` issuer; `groups: [approvers]` matches the fixture's settings.approvers. */
export const person = (
  sub = "alice",
  claims: Record<string, unknown> = { groups: ["approvers"], email: `${sub}@acme.test` },
) => token({ key: "es256", iss: ISSUERS.people, sub, claims });

/** Asks for an approval: 403 approval.required with where to poll, nothing forwarded. */
export async function ask(app: App, bearer: string, path = MERGE): Promise<Approval> {
  const sent = await send(app, path, mergeInit(bearer));
  expectRefusal(sent, 403, "approval.required", "approval_required");
  return sent.json?.approval as Approval;
}

/** The approval page as a person behind Cloudflare Access sees it, with the form token if shown. */
export async function page(app: App, id: string, bearer: string | null) {
  const headers: Record<string, string> = bearer === null ? {} : { "cf-access-jwt-assertion": bearer };
  const res = await app.fetch(new Request(`${BASE}/_firebreak/v1/approvals/${id}`, { headers }), bindings as never);
  const html = await res.text();
  return { res, html, csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? null };
}

/** The request a person's Approve/Deny button sends (asking for JSON, as scripts would). */
export function decisionInit(bearer: string, csrf: string | null, site = "same-origin"): SendInit {
  return {
    method: "POST",
    headers: {
      "cf-access-jwt-assertion": bearer,
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      "sec-fetch-site": site,
      origin: BASE,
    },
    body: new URLSearchParams({ csrf: csrf ?? "" }).toString(),
    bearer: null,
  };
}

/** A person decides on the page; `csrf` defaults to the form token the page shows them. */
export async function decide(
  app: App,
  id: string,
  verdict: "approve" | "deny",
  bearer: string,
  opts: { csrf?: string | null; site?: string } = {},
) {
  const csrf = opts.csrf === undefined ? (await page(app, id, bearer)).csrf : opts.csrf;
  const sent = await send(app, `/_firebreak/v1/approvals/${id}/${verdict}`, decisionInit(bearer, csrf, opts.site));
  return { res: sent.res, json: sent.json ?? {} };
}

/** Asks and has a person approve: the approval id, ready for the agent's retry. */
export async function approved(app: App, bearer: string, path = MERGE): Promise<string> {
  const a = await ask(app, bearer, path);
  const yes = await decide(app, a.id, "approve", await person());
  expect(yes.json.status).toBe("approved");
  return a.id;
}

/**
 * An approval for exactly the fixture merge (MERGE, MERGE_BODY, agent-1) opened straight on the task
 * object at `now` with `ttl_s`, for approvals that must expire within a test.
 */
export async function openApprovalAt(taskId: string, now: number, ttl_s: number) {
  const { requestDigest } = await import("../../src/approvals/digest");
  const { env } = await import("cloudflare:workers");
  const path = MERGE.slice("/github".length);
  const { digest, body_sha256 } = requestDigest({
    method: "PUT",
    service: "github",
    path,
    query: {},
    body: new TextEncoder().encode(MERGE_BODY),
    mediaType: "application/json",
    args: { merge_method: "squash" },
    resource: "repo:acme/api",
    headers: {},
    agent: { issuer: "remote", sub: "agent-1" },
    task: taskId,
    action: "github:pulls.merge",
  });
  const tasks = (env as unknown as import("../../src/env").Env).TASKS!;
  const opened = await tasks.getByName(taskId).requestApproval({
    digest,
    decision_id: crypto.randomUUID(),
    request: {
      method: "PUT",
      service: "github",
      path,
      query: [],
      action: "github:pulls.merge",
      kind: "write",
      risk: "high",
      resource: "repo:acme/api",
      args: { merge_method: "squash" },
      body_sha256,
    },
    rules: ["merges-need-approval"],
    approvers: [{ issuer: ["people"], claims: { groups: ["approvers"] } }],
    ttl_s,
    max_pending: 10,
    step: {
      decision_id: crypto.randomUUID(),
      action: "github:pulls.merge",
      service: "github",
      labels: ["kind:write", "risk:high"],
      resource: "repo:acme/api",
      args: {},
      now,
    },
    now,
  });
  if (!opened.ok) throw new Error(opened.reason);
  return opened;
}
