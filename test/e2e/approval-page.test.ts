/**
 * The approval page (issue 4) in a real headless Chromium, against the gateway as it ships (bundled,
 * in miniflare, every outbound fetch caught by the recording fake upstream): an agent's merge is held
 * for a person, an approver reads the request on the page and presses Approve, and the agent's retry
 * is admitted once. The screenshot is checked where the DOM says each key field is: ink inside the
 * field's box, the Approve button in its colour. People who may not decide see no buttons, and a form
 * posted from another site is refused whatever credentials the browser sends with it.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import type { Page, Request as PwRequest } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import keys from "../fixtures/keys.json" with { type: "json" };
import { type OpenedPage, screenshot, useBrowser } from "../helpers/browser";
import { type Served, serve } from "../helpers/http-server";
import { inset, region } from "../helpers/pixels";
import { decodePng } from "../helpers/png";
import { ISSUERS, token } from "../helpers/tokens";
import { outbound, type Recorded } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const GITHUB_TOKEN = "canary-gh-approval-page-3e8b71";
const TASK_KEY = {
  ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: "approval-page-task-key",
  alg: "EdDSA",
};
const MERGE = "/github/repos/acme/api/pulls/7/merge";
const MERGE_BODY = '{"merge_method":"squash"}';
const PURPOSE = "Merge the release PR acme/api#7 once its checks are green";
const APPROVALS = "/_firebreak/v1/approvals";

const browser = useBrowser();
let gw: Gateway;
/** A second site (`localhost` is another site than 127.0.0.1) and a same-site origin (another port). */
let otherSite: Served;

const recorded = async (): Promise<Recorded[]> => (await outbound(new Request("http://recorder.test/"))).json();
const unmocked = async (): Promise<string[]> => (await outbound(new Request("http://recorder.test/unmocked"))).json();

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = (await gw.mf.dispatchFetch(new URL(path, gw.url), init as never)) as unknown as Response;
  const text = await res.text();
  return { res, text, json: JSON.parse(text || "null") as Record<string, unknown> };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const person = (
  sub = "alice",
  claims: Record<string, unknown> = { groups: ["approvers"], email: `${sub}@acme.test` },
) => token({ key: "es256", iss: ISSUERS.people, sub, claims });

beforeAll(async () => {
  gw = await startGateway({
    bundlePath: join(ROOT, "test", ".generated", "gateway.json"),
    bindings: {
      GITHUB_TOKEN,
      GATEWAY_ORIGIN: "https://firebreak.test.example",
      FIREBREAK_TASK_KEY: JSON.stringify(TASK_KEY),
      TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
    },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
  otherSite = await serve(attackerPage);
});

afterAll(async () => {
  await otherSite?.close();
  await gw?.dispose();
});

beforeEach(async () => {
  await outbound(new Request("http://recorder.test/reset"));
});

afterEach(async () => {
  expect(await unmocked()).toEqual([]);
});

interface Asked {
  taskId: string;
  taskToken: string;
  id: string;
  url: URL;
}

/**
 * agent-1 starts an `approving` task, reads the issue (history for the page), then sends the merge:
 * 403 approval.required with where to poll, and the upstream received nothing after the read.
 */
async function askForMerge(): Promise<Asked> {
  const started = await call("/_firebreak/v1/tasks", {
    method: "POST",
    headers: { ...bearer(await token({ sub: "agent-1" })), "content-type": "application/json" },
    body: JSON.stringify({ profile: "approving", purpose: PURPOSE }),
  });
  expect(started.res.status, started.text).toBe(201);
  const taskToken = started.json.task_token as string;
  const read = await call("/github/repos/acme/api/issues/7", { headers: bearer(taskToken) });
  expect(read.res.status, read.text).toBe(200);
  await outbound(new Request("http://recorder.test/reset"));

  const held = await call(MERGE, {
    method: "PUT",
    headers: { ...bearer(taskToken), "content-type": "application/json" },
    body: MERGE_BODY,
  });
  expect(held.res.status, held.text).toBe(403);
  expect(held.json.reason).toBe("approval.required");
  expect(held.res.headers.get("firebreak-decision")).toBe("approval_required");
  const approval = held.json.approval as { id: string; status_url: string; expires_at: string };
  expect(approval.id).toMatch(/^ap_[0-9A-HJKMNP-TV-Z]{52}$/);
  expect(approval.status_url).toBe(`https://firebreak.test.example${APPROVALS}/${approval.id}/status`);
  expect(await recorded()).toEqual([]);
  return {
    taskId: started.json.task_id as string,
    taskToken,
    id: approval.id,
    url: new URL(`${APPROVALS}/${approval.id}`, gw.url),
  };
}

async function statusOf(a: Asked): Promise<string> {
  const polled = await call(`${APPROVALS}/${a.id}/status`, { headers: bearer(a.taskToken) });
  expect(polled.res.status, polled.text).toBe(200);
  return polled.json.status as string;
}

const asApprover = async (a: Asked, bearerToken?: string) =>
  browser.open(a.url, { headers: { "cf-access-jwt-assertion": bearerToken ?? (await person()) } });

/** The value next to `key` in one of the page's definition lists. */
const field = (page: Page, list: string, key: string) =>
  page
    .locator(`dl[aria-label="${list}"] > dt`)
    .filter({ hasText: new RegExp(`^${key}$`) })
    .locator("+ dd");

const formToken = (page: Page) => page.locator('form[action$="/approve"] input[name="csrf"]').inputValue();

/** Nothing to decide on this page: no button, no form, and so no form token. */
async function expectNoButtons(page: Page): Promise<void> {
  expect(await page.getByRole("button").count()).toBe(0);
  expect(await page.locator("form").count()).toBe(0);
  expect(await page.content()).not.toMatch(/name="csrf"/);
}

function expectPageHeaders(opened: OpenedPage): void {
  const h = opened.response!.headers();
  expect(h["content-type"]).toBe("text/html; charset=utf-8");
  expect(h["content-security-policy"]).toContain("default-src 'none'");
  expect(h["content-security-policy"]).toContain("script-src 'none'");
  expect(h["content-security-policy"]).toContain("form-action 'self'");
  expect(h["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(h["x-frame-options"]).toBe("DENY");
  expect(h["cache-control"]).toBe("no-store");
  expect(h["referrer-policy"]).toBe("same-origin");
}

describe("the approval page in Chromium, against the bundled gateway", () => {
  it("shows an approver the request, the agent, the task and its history, with Approve and Deny", async () => {
    const a = await askForMerge();
    const opened = await asApprover(a);
    const { page, response, errors } = opened;
    expect(response?.status()).toBe(200);
    expectPageHeaders(opened);
    expect(await page.title()).toBe("Approve github:pulls.merge? · Firebreak");
    expect(await page.locator(".lede .badge").getAttribute("data-status")).toBe("pending");
    expect(await page.locator(".lede").textContent()).toContain("remote:agent-1 asks to run github:pulls.merge");

    const request = (key: string) => field(page, "The request", key).textContent();
    expect(await request("Method")).toBe("PUT /repos/acme/api/pulls/7/merge");
    expect(await request("Action")).toBe("github:pulls.merge");
    expect(await request("Resource")).toBe("repo:acme/api");
    expect(await request("Arguments")).toBe(MERGE_BODY);
    expect(await request("Risk")).toBe("high");
    expect(await request("Asked by rules")).toBe("merges-need-approval");
    const agent = (key: string) => field(page, "The agent and its task", key).textContent();
    expect(await agent("Agent")).toBe("remote:agent-1");
    expect(await agent("Task")).toBe(a.taskId);
    expect(await agent("Purpose")).toBe(PURPOSE);
    expect(await agent("Profile")).toBe("approving");

    // The history: the task opened, read the issue, and asked for this merge.
    const rows = await page
      .locator("table:has(caption) tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
    const steps = rows.map(([, , kind, action, resource, outcome]) => [kind, action, resource, outcome]);
    expect(steps[0]![0]).toBe("open");
    expect(steps).toContainEqual(["call", "github:issues.get", "repo:acme/api", "reserved"]);
    expect(steps).toContainEqual(["approval", "github:pulls.merge", "repo:acme/api", "requested: approval.required"]);

    expect(await page.getByRole("button", { name: "Approve" }).count()).toBe(1);
    expect(await page.getByRole("button", { name: "Deny" }).count()).toBe(1);
    expect(await page.locator('form[method="post"]').count()).toBe(2);
    expect(await page.locator("form").evaluateAll((fs) => fs.map((f) => f.getAttribute("action")))).toEqual([
      `${APPROVALS}/${a.id}/approve`,
      `${APPROVALS}/${a.id}/deny`,
    ]);
    expect(await formToken(page)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Styled by the one stylesheet the CSP allows, and nothing refused, nothing from elsewhere.
    expect(await page.evaluate("getComputedStyle(document.documentElement).backgroundColor")).toBe(
      "rgb(244, 245, 247)",
    );
    expect(errors).toEqual([]);
    expect(opened.takeBlocked()).toEqual([]);
    expect(await statusOf(a)).toBe("pending");
  });

  it("takes a screenshot with every key field drawn where the DOM puts it, Approve in its colour", async () => {
    const a = await askForMerge();
    const { page } = await asApprover(a);
    const path = await screenshot(page, "approval-page", { fullPage: true });
    expect(path).toMatch(/build\/screenshots\/approval-page\.png$/);
    const png = decodePng(readFileSync(path));
    expect(png.width).toBe(1280);
    expect(png.height).toBe(await page.evaluate("document.documentElement.scrollHeight"));

    // The badge's and the buttons' borders are drawn in their text colour: look inside them only.
    const badge = (await page.locator(".lede .badge").boundingBox())!;
    const keyFields = [
      ["method and path", field(page, "The request", "Method")],
      ["action", field(page, "The request", "Action")],
      ["resource", field(page, "The request", "Resource")],
      ["arguments", field(page, "The request", "Arguments")],
      ["risk", field(page, "The request", "Risk")],
      ["agent", field(page, "The agent and its task", "Agent")],
      ["purpose", field(page, "The agent and its task", "Purpose")],
      ["status", page.locator(".lede .badge"), inset(badge, badge.height / 2, 2)],
      ["history", page.locator("table:has(caption) tbody")],
      ["heading", page.locator("h1")],
    ] as const;
    for (const [name, locator, inner] of keyFields) {
      const box = inner ?? (await locator.boundingBox())!;
      const chars = (await locator.textContent())!.replace(/\s/g, "").length;
      const ink = region(png, box).dark;
      expect(ink, `${name}: dark pixels in ${JSON.stringify(box)} for ${chars} characters`).toBeGreaterThan(
        Math.max(20, chars * 8),
      );
    }
    // The check can fail: the page's margin, left of the cards, has no ink at all.
    const card = (await page.locator(".card").first().boundingBox())!;
    expect(card.x).toBeGreaterThan(40);
    expect(region(png, { x: 0, y: card.y, width: card.x - 8, height: card.height }).dark).toBe(0);

    const button = async (label: string) =>
      region(png, inset((await page.getByRole("button", { name: label }).boundingBox())!, 3, 3));
    // --allow (#2e7d4f) fills the Approve button; its label is white on it.
    const approve = await button("Approve");
    expect(approve.share([46, 125, 79])).toBeGreaterThan(0.6);
    expect(approve.share([255, 255, 255], 60)).toBeGreaterThan(0.03);
    // Deny is white with its label in --deny (#b3261e).
    const deny = await button("Deny");
    expect(deny.share([255, 255, 255])).toBeGreaterThan(0.6);
    expect(deny.share([179, 38, 30], 60)).toBeGreaterThan(0.03);
    expect(deny.share([46, 125, 79], 30)).toBe(0);
  });
});

/**
 * Approve in Chromium, then the agent's retry. The page's referrer policy is `same-origin`: with
 * `no-referrer` Chromium posted the page's own form with `Origin: null`, and the same-origin check
 * refused every approval made in a real browser (found by this test).
 */
describe("Approve in the browser, then the identical retry is admitted once", () => {
  it("the page's own form posts same-origin, is accepted, and the retry is admitted once", async () => {
    const a = await askForMerge();
    await approveThenRetry(await asApprover(a), a);
  });
});

async function approveThenRetry({ page }: OpenedPage, a: Asked): Promise<void> {
  const csrf = await formToken(page);
  const wire = await postsOnTheWire(page);
  const posts: PwRequest[] = [];
  page.on("request", (r) => {
    if (r.method() === "POST") posts.push(r);
  });
  await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "Approve" }).click()]);

  expect(posts.map((p) => [p.url(), p.postData()])).toEqual([[`${a.url.href}/approve`, `csrf=${csrf}`]]);
  const answer = (await posts[0]!.response())!;
  const shown = (await page.locator("main").textContent()) ?? "";
  expect([answer.status(), answer.headers().location], shown).toEqual([303, `${APPROVALS}/${a.id}`]);
  expect(wire()).toEqual([
    {
      url: `${a.url.href}/approve`,
      site: "same-origin",
      origin: gw.url.origin,
      type: "application/x-www-form-urlencoded",
    },
  ]);
  expect(page.url()).toBe(a.url.href);

  expect(await page.locator(".lede .badge").getAttribute("data-status")).toBe("approved");
  expect(await page.locator("p.decided").textContent()).toMatch(
    /^Approved by people alice at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z\.$/,
  );
  await expectNoButtons(page);
  await screenshot(page, "approval-page-approved", { fullPage: true });
  expect(await statusOf(a)).toBe("approved");
  expect(await recorded()).toEqual([]);

  const retry = () =>
    call(MERGE, {
      method: "PUT",
      headers: { ...bearer(a.taskToken), "content-type": "application/json", "firebreak-approval": a.id },
      body: MERGE_BODY,
    });
  const admitted = await retry();
  expect(admitted.res.status, admitted.text).toBe(200);
  expect(admitted.res.headers.get("firebreak-decision")).toBe("allow");
  const merges = await recorded();
  expect(merges.map((r) => [r.method, r.url, r.body])).toEqual([
    ["PUT", "https://api.github.com/repos/acme/api/pulls/7/merge", MERGE_BODY],
  ]);
  expect(Object.keys(merges[0]!.headers)).not.toContain("firebreak-approval");
  expect(merges[0]!.headers.authorization).toBe(`Bearer ${GITHUB_TOKEN}`);

  const again = await retry();
  expect([again.res.status, again.json.reason]).toEqual([403, "approval.used"]);
  expect(await recorded()).toHaveLength(1);
  expect(await statusOf(a)).toBe("used");
}

describe("who sees no buttons", () => {
  it("a person without the approvers' group: 403 approver.not_allowed", async () => {
    const a = await askForMerge();
    const opened = await asApprover(a, await person("mallory", { groups: ["developers"] }));
    expect(opened.response?.status()).toBe(403);
    expectPageHeaders(opened);
    expect(await opened.page.locator("main").textContent()).toContain("(approver.not_allowed)");
    await expectNoButtons(opened.page);
    await screenshot(opened.page, "approval-page-not-allowed");
    expect(await statusOf(a)).toBe("pending");
  });

  it("an agent's identity: 403 approver.agent_identity, for its workload token and its task token", async () => {
    const a = await askForMerge();
    for (const agentToken of [await token({ sub: "agent-1" }), a.taskToken]) {
      const { page, response } = await asApprover(a, agentToken);
      expect(response?.status()).toBe(403);
      expect(await page.locator("main").textContent()).toContain("(approver.agent_identity)");
      await expectNoButtons(page);
    }
    expect(await statusOf(a)).toBe("pending");
  });

  it("no token: 401, asked to sign in", async () => {
    const a = await askForMerge();
    const opened = await browser.open(a.url);
    expect(opened.response?.status()).toBe(401);
    expectPageHeaders(opened);
    expect(await opened.page.locator("h1").textContent()).toBe("Sign in to approve");
    expect(await opened.page.locator("main").textContent()).toContain("(identity.missing)");
    await expectNoButtons(opened.page);
  });
});

describe("a form posted from another site", () => {
  it.each([
    ["cross-site", "localhost"],
    ["same-site", "127.0.0.1"],
  ])("%s (Chromium says so itself) is refused approval.csrf; the approval stays pending", async (site, host) => {
    const a = await askForMerge();
    const approver = await person();
    // Worst case: the other site holds a valid form token, and the browser sends the approver's credential.
    const { page: real } = await asApprover(a, approver);
    const csrf = await formToken(real);
    const other = new URL(`/?action=${encodeURIComponent(`${a.url.href}/approve`)}&csrf=${csrf}`, otherSite.url);
    other.hostname = host;
    expect(other.origin).not.toBe(gw.url.origin);

    const opened = await browser.open(other, {
      headers: { "cf-access-jwt-assertion": approver },
      alsoAllow: [gw.url],
    });
    const { page } = opened;
    const wire = await postsOnTheWire(page);
    const posts: PwRequest[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST") posts.push(r);
    });
    await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "Claim your prize" }).click()]);

    expect(posts.map((p) => [p.url(), p.postData()])).toEqual([[`${a.url.href}/approve`, `csrf=${csrf}`]]);
    expect(wire().map((w) => [w.url, w.site, w.origin])).toEqual([[`${a.url.href}/approve`, site, other.origin]]);
    expect((await posts[0]!.response())?.status()).toBe(403);
    expect(await page.locator("main").textContent()).toContain("(approval.csrf)");
    await expectNoButtons(page);
    expect(opened.takeBlocked()).toEqual([]);
    expect(await statusOf(a)).toBe("pending");
    expect(await recorded()).toEqual([]);
  });
});

interface WirePost {
  url: string;
  site: string | undefined;
  origin: string | undefined;
  type: string | undefined;
}

/**
 * The POSTs of `page` with the headers Chromium put on the wire, from its DevTools protocol: Playwright
 * does not report the Sec-Fetch-* headers of a routed request (and the harness routes every request).
 * A redirect keeps its request's id, so the n-th headers of an id belong to its n-th request.
 */
async function postsOnTheWire(page: Page): Promise<() => WirePost[]> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const requests = new Map<string, { method: string; url: string }[]>();
  const headers = new Map<string, Record<string, string>[]>();
  const add = <T>(map: Map<string, T[]>, id: string, v: T) => map.set(id, [...(map.get(id) ?? []), v]);
  cdp.on("Network.requestWillBeSent", (e) => add(requests, e.requestId, e.request));
  cdp.on("Network.requestWillBeSentExtraInfo", (e) =>
    add(headers, e.requestId, Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [k.toLowerCase(), `${v}`]))),
  );
  return () =>
    [...requests].flatMap(([id, chain]) =>
      chain.flatMap(({ method, url }, n) => {
        const h = headers.get(id)?.[n] ?? {};
        return method === "POST" ? [{ url, site: h["sec-fetch-site"], origin: h.origin, type: h["content-type"] }] : [];
      }),
    );
}

/** The other site's page: a button that posts the given form token to the given approval URL. */
function attackerPage(request: Request): Response {
  const q = new URL(request.url).searchParams;
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = `<!doctype html><title>Prizes</title>
<form method="post" action="${esc(q.get("action") ?? "")}">
<input type="hidden" name="csrf" value="${esc(q.get("csrf") ?? "")}"><button>Claim your prize</button></form>`;
  return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
}
