/**
 * The SDKs agents use, configured as a user would (README, "SDK recipes"), against the gateway bundled
 * as it ships in miniflare, over real HTTP, with the recording fake upstream behind it
 * (test/helpers/upstream.ts). Policies: test/fixtures/policies/sdks (GitHub refuses in Firebreak's
 * shape, Slack and Stripe in their own). For each SDK an allowed call works and a refused call's error
 * object carries the reason code and the decision id where that SDK puts an error code, sent once.
 */
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { Octokit } from "@octokit/rest";
import { ErrorCode, WebClient, WebClientEvent } from "@slack/web-api";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { token } from "../helpers/tokens";
import { outbound, type Recorded } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const CANARY = {
  GITHUB_TOKEN: "canary-gh-sdk-3e8a1f",
  SLACK_BOT_TOKEN: "canary-slack-sdk-7b2d4c",
  STRIPE_SECRET_KEY: "canary-stripe-sdk-5f9e0a",
};
const TASK_KEY = {
  ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: "sdk-task-key",
  alg: "EdDSA",
};

let gw: Gateway;
let agent: string;
/** A task of the `sdk` profile: everything the rules allow. */
let task: string;

async function recorded(): Promise<Recorded[]> {
  return (await outbound(new Request("http://recorder.test/"))).json() as Promise<Recorded[]>;
}

async function startTask(profile: string): Promise<string> {
  const res = await fetch(new URL("/_firebreak/v1/tasks", gw.url), {
    method: "POST",
    headers: { authorization: `Bearer ${agent}`, "content-type": "application/json" },
    body: JSON.stringify({ profile, purpose: "sdk e2e" }),
  });
  const body = (await res.json()) as { task_token: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.task_token;
}

/** Decision records of one action so far (the gateway logs one per request it received). */
async function decisionsOf(action: string, decisionId: string): Promise<Record<string, unknown>[]> {
  await gw.decision(decisionId);
  return gw.decisions.filter((d) => d.action === action);
}

/** The rejection of `call`, which must reject (read field by field, as a user of each SDK reads it). */
// biome-ignore lint/suspicious/noExplicitAny: each SDK's error class is asserted on its own fields
async function rejection<E = any>(call: Promise<unknown>): Promise<E> {
  try {
    await call;
  } catch (e) {
    return e as E;
  }
  throw new Error("the call was not refused");
}

beforeAll(async () => {
  gw = await startGateway({
    bundlePath: join(ROOT, "test", ".generated", "sdks.json"),
    bindings: { ...CANARY, FIREBREAK_TASK_KEY: JSON.stringify(TASK_KEY) },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
  agent = await token({ sub: "agent-1" });
  task = await startTask("sdk");
});

afterAll(async () => {
  await gw?.dispose();
});

beforeEach(async () => {
  await outbound(new Request("http://recorder.test/reset"));
});

describe("@slack/web-api", () => {
  const slack = (bearer: string, options = {}) =>
    new WebClient(bearer, { slackApiUrl: `${gw.url}slack/api/`, ...options });

  it("an allowed call reaches Slack with the bot token", async () => {
    const result = await slack(task).chat.postMessage({ channel: "C1", text: "Triage done" });
    expect(result.ok).toBe(true);
    const [up, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(up).toMatchObject({ method: "POST", url: "https://slack.com/api/chat.postMessage" });
    expect(up!.headers.authorization).toBe(`Bearer ${CANARY.SLACK_BOT_TOKEN}`);
    expect(new URLSearchParams(up!.body).get("channel")).toBe("C1");
  });

  it("a refusal is a platform error whose data.error is the reason code, sent once", async () => {
    const before = gw.decisions.length;
    const err = await rejection(slack(task).chat.postMessage({ channel: "C2", text: "Elsewhere" }));
    expect(err.code).toBe(ErrorCode.PlatformError);
    expect(err.data.ok).toBe(false);
    expect(err.data.error).toBe("policy.no_match");
    expect(err.message).toBe("An API error occurred: policy.no_match");
    const id = err.data.firebreak.decision_id as string;
    expect(err.data.firebreak).toMatchObject({ reason: "policy.no_match", error: "forbidden" });
    expect(await gw.decision(id)).toMatchObject({ effect: "deny", reason: "policy.no_match", status: 200 });
    // The default client retries any status but 200 and 429 for about half an hour: one request.
    expect(gw.decisions.slice(before)).toHaveLength(1);
    expect(await recorded()).toEqual([]);
  });

  it("an identity refusal is a platform error too", async () => {
    const err = await rejection(slack("not-a-token").users.info({ user: "U1" }));
    expect(err.code).toBe(ErrorCode.PlatformError);
    expect(err.data.error).toBe("identity.malformed");
    expect(err.data.firebreak.decision_id).toMatch(/\S/);
    expect(await recorded()).toEqual([]);
  });

  it("a rate window is Slack's 429 with Retry-After: the SDK waits, or rejects as told", async () => {
    const throttled = await startTask("throttled");
    expect((await slack(throttled).users.info({ user: "U1" })).ok).toBe(true);
    const client = slack(throttled, { rejectRateLimitedCalls: true });
    const waits: number[] = [];
    client.on(WebClientEvent.RATE_LIMITED, (seconds: number) => waits.push(seconds));
    const err = await rejection(client.users.info({ user: "U2" }));
    expect(err.code).toBe(ErrorCode.RateLimitedError);
    expect(err.retryAfter).toBeGreaterThan(0);
    expect(err.retryAfter).toBeLessThanOrEqual(3600);
    expect(waits).toEqual([err.retryAfter]);
    const last = gw.decisions.at(-1)!;
    expect(last).toMatchObject({ reason: "budget.window", status: 429 });
    expect(await recorded()).toHaveLength(1);
  });
});

describe("stripe", () => {
  /** stripe-node has no base path option: its fetch client puts the /stripe prefix on each path. */
  const stripe = (bearer: string) =>
    new Stripe(bearer, {
      host: gw.url.hostname,
      port: Number(gw.url.port),
      protocol: "http",
      httpClient: Stripe.createFetchHttpClient((url, init) => {
        const u = new URL(String(url));
        u.pathname = `/stripe${u.pathname}`;
        return fetch(u, init);
      }),
    });

  it("allowed calls reach Stripe with the secret key, bodies form-encoded", async () => {
    await stripe(task).customers.list({ limit: 3 });
    await stripe(task).customers.create({ email: "ada@acme.example", name: "Ada" });
    const [list, create, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(list).toMatchObject({ method: "GET", url: "https://api.stripe.com/v1/customers?limit=3" });
    expect(create).toMatchObject({ method: "POST", url: "https://api.stripe.com/v1/customers" });
    expect(new URLSearchParams(create!.body).get("email")).toBe("ada@acme.example");
    for (const up of [list, create]) expect(up!.headers.authorization).toBe(`Bearer ${CANARY.STRIPE_SECRET_KEY}`);
  });

  it("a policy refusal is StripePermissionError with the reason as code, never retried", async () => {
    const before = gw.decisions.length;
    const err = await rejection(stripe(task).customers.create({ email: "eve@evil.example" }));
    expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect(err.type).toBe("StripePermissionError");
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe("policy.no_match");
    expect(err.raw.code).toBe("policy.no_match");
    expect(err.rawType).toBe("invalid_request_error");
    expect(err.message).toBe("No policy rule allows this call.");
    expect(err.raw.decision_id).toMatch(/\S/);
    expect(err.requestId).toBe(err.raw.decision_id);
    expect(err.headers["firebreak-decision"]).toBe("deny");
    expect(err.headers["firebreak-decision-id"]).toBe(err.raw.decision_id);
    expect(err.headers["stripe-should-retry"]).toBe("false");
    expect(await gw.decision(err.raw.decision_id)).toMatchObject({ reason: "policy.no_match", status: 403 });
    expect(gw.decisions.slice(before)).toHaveLength(1);
    expect(await recorded()).toEqual([]);
  });

  it("an identity refusal is StripeAuthenticationError", async () => {
    const err = await rejection(stripe("not-a-token").customers.retrieve("cus_1"));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(err.code).toBe("identity.malformed");
    expect(err.raw.decision_id).toMatch(/\S/);
  });

  it("a rate window is StripeRateLimitError with Retry-After", async () => {
    const throttled = await startTask("throttled");
    await stripe(throttled).customers.retrieve("cus_1");
    const err = await rejection(stripe(throttled).customers.retrieve("cus_2"));
    expect(err).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(err.code).toBe("budget.window");
    expect(Number(err.headers["retry-after"])).toBeGreaterThan(0);
    expect(await decisionsOf("stripe:customers.get", err.raw.decision_id)).toHaveLength(2);
    expect(await recorded()).toHaveLength(1);
  });
});

describe("@octokit/rest", () => {
  const octokit = (bearer: string) => new Octokit({ auth: bearer, baseUrl: `${gw.url}github` });

  it("an allowed call reaches GitHub with the service token", async () => {
    const { status } = await octokit(task).rest.issues.get({ owner: "acme", repo: "api", issue_number: 1 });
    expect(status).toBe(200);
    const [up] = await recorded();
    expect(up).toMatchObject({ method: "GET", url: "https://api.github.com/repos/acme/api/issues/1" });
    expect(up!.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
  });

  it("a refusal is a RequestError whose response.data has the reason and decision id", async () => {
    const err = await rejection(octokit(task).rest.issues.get({ owner: "evil", repo: "api", issue_number: 1 }));
    expect(err.name).toBe("HttpError");
    expect(err.status).toBe(403);
    expect(err.response.data).toMatchObject({ error: "forbidden", reason: "policy.denied" });
    expect(err.message).toContain("Only acme repositories.");
    const id = err.response.data.decision_id;
    expect(err.response.headers["firebreak-decision-id"]).toBe(id);
    expect(err.response.headers["firebreak-decision"]).toBe("deny");
    expect(await gw.decision(id)).toMatchObject({ reason: "policy.denied", status: 403 });
    expect(await recorded()).toEqual([]);
  });

  it("paginate follows GitHub's Link headers through the gateway, page by page", async () => {
    const issues = await octokit(task).paginate(octokit(task).rest.issues.listForRepo, {
      owner: "acme",
      repo: "paged",
      per_page: 2,
    });
    expect(issues.map((i) => i.number)).toEqual([1, 2, 3, 4, 5]);
    const seen = await recorded();
    expect(seen.map((r) => r.url)).toEqual([
      "https://api.github.com/repos/acme/paged/issues?per_page=2",
      "https://api.github.com/repos/acme/paged/issues?per_page=2&page=2",
      "https://api.github.com/repos/acme/paged/issues?per_page=2&page=3",
    ]);
    for (const up of seen) {
      expect(up.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
      expect(JSON.stringify(up)).not.toContain(task);
    }
    expect(gw.decisions.filter((d) => d.action === "github:issues.list" && d.effect === "allow")).toHaveLength(3);
  });

  it("the Link header the agent gets points at the gateway", async () => {
    const res = await fetch(`${gw.url}github/repos/acme/paged/issues?per_page=2&page=2`, {
      headers: { authorization: `Bearer ${task}` },
    });
    const base = `${gw.url}github/repos/acme/paged/issues?per_page=2`;
    expect(res.headers.get("link")).toBe(
      `<${base}&page=1>; rel="prev", <${base}&page=3>; rel="next", <${base}&page=3>; rel="last", <${base}&page=1>; rel="first"`,
    );
  });
});
