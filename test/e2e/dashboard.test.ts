/**
 * The operator dashboard in a real headless Chromium, against the gateway as `npm start` runs it
 * (bundled, wrangler.toml's `dev` environment in miniflare, so decisions also land in the local D1
 * store the charts read; every outbound fetch caught by the recording fake upstream). First with no
 * data at all (empty states, not broken charts), then after agents made allowed and denied calls and
 * one merge waits for a person: the charts, the top denials, the live task with its calls against its
 * budget, the pending approval in its agent's group with a link that opens its page, the bundle revision. Each screenshot
 * is checked where the DOM says the key parts are: ink in their boxes, the effects in their colours.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import keys from "../fixtures/keys.json" with { type: "json" };
import { screenshot, useBrowser } from "../helpers/browser";
import { type Box, inset, region } from "../helpers/pixels";
import { type DecodedPng, decodePng } from "../helpers/png";
import { ISSUERS, token } from "../helpers/tokens";
import { outbound } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const TASK_KEY = {
  ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: "dashboard-task-key",
  alg: "EdDSA",
};
const BUNDLE = join(ROOT, "test", ".generated", "gateway.json");
const REVISION = (JSON.parse(readFileSync(BUNDLE, "utf8")) as { manifest: { revision: string } }).manifest.revision;
const DASHBOARD = "/_firebreak/v1/dashboard";
const PURPOSE = "Triage the new issues of acme/api";

const browser = useBrowser();
let gw: Gateway;

async function call(path: string, bearer: string, init: { method?: string; body?: string } = {}) {
  const headers = { authorization: `Bearer ${bearer}`, "content-type": "application/json" };
  const res = (await gw.mf.dispatchFetch(new URL(path, gw.url), { ...init, headers } as never)) as unknown as Response;
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text || "null") as Record<string, unknown>, text };
}

async function startTask(sub: string, profile: string, purpose: string) {
  const r = await call("/_firebreak/v1/tasks", await token({ sub }), {
    method: "POST",
    body: JSON.stringify({ profile, purpose }),
  });
  expect(r.status, r.text).toBe(201);
  return { id: r.json.task_id as string, token: r.json.task_token as string };
}

/** An operator behind Cloudflare Access (a person, also an approver, so the approval link opens). */
const operator = () =>
  token({
    key: "es256",
    iss: ISSUERS.people,
    sub: "operator-1",
    claims: { groups: ["approvers"], email: "ops@acme.test" },
  });
const openDashboard = async (query = "") =>
  browser.open(new URL(`${DASHBOARD}${query}`, gw.url), { headers: { "cf-access-jwt-assertion": await operator() } });

/** Waits until the local store holds `n` decisions (written after each response). */
async function decisionsStored(n: number): Promise<void> {
  const db = (await gw.mf.getD1Database("DECISIONS_LOCAL")) as unknown as D1Database;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = await db
      .prepare("SELECT count(*) AS c FROM firebreak_decisions")
      .first<{ c: number }>()
      .catch(() => null);
    if ((c?.c ?? 0) >= n) return;
    if (Date.now() > deadline) throw new Error(`the local store holds ${c?.c} decisions, not ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The bundled gateway: `dev` is what `npm start` runs (with the local decision store), else as deployed. */
const gateway = (env?: "dev", extra: Record<string, string> = {}) =>
  startGateway({
    env,
    bundlePath: BUNDLE,
    bindings: {
      GATEWAY_ORIGIN: "https://firebreak.test.example",
      FIREBREAK_TASK_KEY: JSON.stringify(TASK_KEY),
      TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
      ...extra,
    },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });

beforeAll(async () => {
  gw = await gateway("dev", { GITHUB_TOKEN: "canary-gh-dashboard-52c1e0" });
});

afterAll(async () => {
  await gw?.dispose();
});

/** Text of every element matching `selector`, trimmed. */
const texts = (page: Page, selector: string) =>
  page.locator(selector).evaluateAll((els) => els.map((e) => (e.textContent ?? "").replace(/\s+/g, " ").trim()));

/** Ink inside the element's box, at least ~8 dark pixels a character of its text (or `min`). */
async function expectInk(png: DecodedPng, name: string, locator: Locator, min?: number): Promise<Box> {
  const box = (await locator.boundingBox())!;
  expect(box, `${name} is on the page`).not.toBeNull();
  const chars = ((await locator.textContent()) ?? "").replace(/\s/g, "").length;
  const ink = region(png, box).dark;
  expect(ink, `${name}: dark pixels in ${JSON.stringify(box)} for ${chars} characters`).toBeGreaterThan(
    min ?? Math.max(20, chars * 8),
  );
  return box;
}

const COLOURS = {
  allow: [46, 125, 79],
  deny: [179, 38, 30],
  ask: [163, 90, 0],
} as const satisfies Record<string, [number, number, number]>;

describe("with no data at all", () => {
  it("renders every part's empty state, not broken charts", async () => {
    const opened = await openDashboard();
    const { page, response, errors } = opened;
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'none'");
    expect(await page.title()).toBe("Dashboard · Firebreak");
    expect(await page.locator("#decisions-unavailable").count()).toBe(0);
    expect(await texts(page, ".stats .stat")).toEqual(["0 decisions", "0 allowed", "0 denied", "0 approval required"]);
    for (const id of [
      "decisions-over-time",
      "top-denied-actions",
      "top-denied-agents",
      "top-refusal-reasons",
      "refusals-by-asi",
    ]) {
      expect(await page.locator(`#${id}`).getAttribute("data-empty"), id).toBe("true");
      expect(await page.locator(`#${id} svg`).count(), id).toBe(0);
    }
    expect(await page.locator("#decisions-over-time .chart-empty").textContent()).toBe(
      "No decisions in the last 24 hours.",
    );
    expect(await texts(page, "td.empty")).toEqual(["No approvals are waiting.", "No live tasks."]);
    expect(await page.locator('dl[aria-label="Bundle in force"] dd').first().textContent()).toBe(REVISION);
    expect(errors).toEqual([]);

    const path = await screenshot(page, "dashboard-empty", { fullPage: true });
    const png = decodePng(readFileSync(path));
    expect(png.width).toBe(1280);
    await expectInk(png, "heading", page.locator("h1"));
    await expectInk(png, "empty chart text", page.locator("#decisions-over-time .chart-empty"), 100);
    await expectInk(png, "empty tasks row", page.locator("td.empty").last());
    await expectInk(png, "revision", page.locator('dl[aria-label="Bundle in force"] dd').first());
  });
});

describe("after allowed and denied calls, with one approval waiting", () => {
  let triage: { id: string; token: string };
  let approvalId: string;
  let mergingId: string;
  const sent: Record<string, number> = {};

  beforeAll(async () => {
    triage = await startTask("agent-1", "basic", PURPOSE);
    const plan: [string, string, string, { method?: string; body?: string }?][] = [
      ["allow", "/github/repos/acme/api/issues/1", triage.token],
      ["allow", "/github/repos/acme/api/issues/2", triage.token],
      ["allow", "/github/repos/acme/api/issues/3", triage.token],
      ["deny", "/github/repos/evil/api/issues/1", triage.token],
      ["deny", "/github/repos/evil/api/issues/2/comments", triage.token, { method: "POST", body: '{"body":"hi"}' }],
      ["deny", "/github/repos/acme/api/issues/9", await token({ sub: "stranger-bot" })],
      ["deny", "/github/repos/acme/api/issues/9", await token({ sub: "stranger-bot" })],
    ];
    let n = 0;
    for (const [effect, path, bearer, init] of plan) {
      const r = await call(path, bearer, init);
      expect(r.status, `${path}: ${r.text}`).toBe(effect === "allow" ? 200 : 403);
      sent[effect] = (sent[effect] ?? 0) + 1;
      n++;
    }
    const merging = await startTask("agent-1", "approving", "Merge the release PR acme/api#7");
    const held = await call("/github/repos/acme/api/pulls/7/merge", merging.token, {
      method: "PUT",
      body: '{"merge_method":"squash"}',
    });
    expect([held.status, held.json.reason]).toEqual([403, "approval.required"]);
    approvalId = (held.json.approval as { id: string }).id;
    mergingId = merging.id;
    await decisionsStored(n + 1);
  });

  it("shows the decisions over time and the top denials, the live task and the pending approval", async () => {
    const opened = await openDashboard();
    const { page, response, errors } = opened;
    expect(response?.status()).toBe(200);
    expect(await texts(page, ".stats .stat .n")).toEqual(["8", "3", "4", "1"]);
    expect(await texts(page, "figure.chart > figcaption")).toEqual([
      "Decisions every hour, by effect",
      "Top denied actions",
      "Top denied agents",
      "Top refusal reasons",
      "Refusals by OWASP Agentic risk",
    ]);
    // The time series: one column this hour, its segments titled with their counts.
    const segments = await page.locator("#decisions-over-time rect.seg title").allTextContents();
    expect(segments.map((t) => t.replace(/^\d\d:\d\d: /, "")).sort()).toEqual([
      "allow 3",
      "approval required 1",
      "deny 4",
    ]);
    expect(await page.locator("#decisions-over-time .bucket").count()).toBeGreaterThanOrEqual(24);
    const bars = (id: string) => texts(page, `#${id} .bar-row > title`);
    expect(await bars("top-denied-actions")).toEqual(["github:issues.get: 3", "github:issues.comments.create: 1"]);
    expect(await bars("top-denied-agents")).toEqual(["remote:agent-1: 2", "remote:stranger-bot: 2"]);
    expect(await bars("top-refusal-reasons")).toEqual(["policy.denied: 2", "policy.no_match: 2"]);
    // Both reasons are tool misuse (docs/standards.md): one bar, titled with the id and its name.
    expect(await bars("refusals-by-asi")).toEqual(["ASI02 Tool Misuse and Exploitation: 4"]);
    expect(await page.locator("#asi-note").textContent()).toContain("docs/standards.md");
    expect(await page.locator("p.source").first().textContent()).toContain("From the local store (npm start)");

    const task = page.locator(`tr:has([data-task="${triage.id}"])`);
    expect(await task.locator('[data-use="calls"]').textContent()).toBe(" 3 / 10");
    expect(await task.locator("meter").getAttribute("value")).toBe("3");
    expect(await task.textContent()).toContain(PURPOSE);
    expect(await task.textContent()).toContain("remote:agent-1");

    // Grouped by agent: the group's caption names the agent and its count.
    const group = page.locator('section.approval-group[data-agent="remote:agent-1"]');
    expect(await group.locator("caption").textContent()).toBe("remote:agent-1: 1 waiting, newest first");
    const approval = group.locator(`tr:has(a[href="/_firebreak/v1/approvals/${approvalId}"])`);
    const cells = await approval.locator("td").allTextContents();
    expect(cells.slice(0, 3)).toEqual(["github:pulls.merge", "repo:acme/api", mergingId]);
    expect(cells[3]).toMatch(/^\d\d:\d\d:\d\dZ \d+ s ago$/);
    expect(cells[4]).toMatch(/^\d\d:\d\d:\d\dZ in 1[45] min$|^\d\d-\d\d \d\d:\d\dZ in 1[45] min$/);
    expect(await approval.locator("time").first().getAttribute("datetime")).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await page.locator('dl[aria-label="Bundle in force"] dd').first().textContent()).toBe(REVISION);
    expect(errors).toEqual([]);
    expect(opened.takeBlocked()).toEqual([]);

    // The other periods: their own buckets, the same decisions.
    for (const [query, caption, buckets] of [
      ["?since=1h", "Decisions every 5 minutes, by effect", 12],
      ["?since=7d", "Decisions every 6 hours, by effect", 28],
    ] as const) {
      await page.goto(new URL(`${DASHBOARD}${query}`, gw.url).href);
      expect(await page.locator("#decisions-over-time > figcaption").textContent()).toBe(caption);
      expect(await page.locator("#decisions-over-time .bucket").count()).toBeGreaterThanOrEqual(buckets);
      expect(await page.locator("#decisions-over-time .bucket").count()).toBeLessThanOrEqual(buckets + 1);
      expect(await page.locator('.periods a[aria-current="page"]').textContent()).toBe(query.slice(7));
      expect(await texts(page, ".stats .stat .n")).toEqual(["8", "3", "4", "1"]);
    }
    await page.goto(new URL(DASHBOARD, gw.url).href);

    // The link opens the approval's own page, pending.
    await Promise.all([page.waitForEvent("load"), approval.getByRole("link", { name: "Review" }).click()]);
    expect(new URL(page.url()).pathname).toBe(`/_firebreak/v1/approvals/${approvalId}`);
    expect(await page.locator(".lede .badge").getAttribute("data-status")).toBe("pending");
  });

  it("draws what the DOM says, where it says it: a screenshot checked box by box", async () => {
    const { page } = await openDashboard();
    const path = await screenshot(page, "dashboard", { fullPage: true });
    const png = decodePng(readFileSync(path));
    expect(png.width).toBe(1280);
    expect(png.height).toBe(await page.evaluate("document.documentElement.scrollHeight"));

    await expectInk(png, "heading", page.locator("h1"));
    await expectInk(png, "totals", page.locator(".stats"));
    const task = page.locator(`tr:has([data-task="${triage.id}"])`);
    await expectInk(png, "live task row", task);
    await expectInk(png, "approval row", page.locator(`tr:has(a[href$="${approvalId}"])`));
    await expectInk(png, "revision", page.locator('dl[aria-label="Bundle in force"] dd').first());
    for (const id of ["top-denied-actions", "top-denied-agents", "top-refusal-reasons", "refusals-by-asi"]) {
      // SVG labels are 12 px: about 5 dark pixels a character.
      const label = page.locator(`#${id} text.label`).first();
      await expectInk(png, `${id} label`, label, ((await label.textContent()) ?? "").length * 5);
      // The bars are drawn in --deny (actions, agents) or the neutral grey (reasons, ASI ids).
      const bar = region(png, inset((await page.locator(`#${id} rect.bar`).first().boundingBox())!, 1, 1));
      const grey = id === "top-refusal-reasons" || id === "refusals-by-asi";
      const colour = grey ? ([90, 99, 117] as [number, number, number]) : COLOURS.deny;
      expect(bar.share(colour, 12), id).toBeGreaterThan(0.8);
    }
    // This hour's column: allow, deny and approval required stacked in their colours.
    const column = region(png, (await page.locator("#decisions-over-time .bucket:has(rect)").boundingBox())!);
    for (const [effect, rgb] of Object.entries(COLOURS)) {
      expect(column.share(rgb as unknown as [number, number, number], 12), effect).toBeGreaterThan(0.05);
    }
    // The check can fail: the chart's first twelve hours were quiet and hold no effect colour at all.
    const plot = (await page.locator("#decisions-over-time svg").boundingBox())!;
    const quiet = region(png, { ...plot, width: plot.width / 2 });
    for (const rgb of Object.values(COLOURS))
      expect(quiet.share(rgb as unknown as [number, number, number], 12)).toBe(0);
    // The calls meter is drawn (Chromium's meter: a filled bar, not the page's background).
    const meter = region(png, (await task.locator("meter").boundingBox())!);
    expect(meter.share([244, 245, 247], 4)).toBeLessThan(0.5);
  });
});

describe("with no decision source (the deployed config without Analytics Engine credentials)", () => {
  let bare: Gateway;
  beforeAll(async () => {
    bare = await gateway();
  });
  afterAll(async () => {
    await bare?.dispose();
  });

  it("says so plainly in the decisions part and still lists the live tasks", async () => {
    const started = (await bare.mf.dispatchFetch(new URL("/_firebreak/v1/tasks", bare.url), {
      method: "POST",
      headers: { authorization: `Bearer ${await token({ sub: "agent-1" })}`, "content-type": "application/json" },
      body: JSON.stringify({ profile: "basic", purpose: PURPOSE }),
    } as never)) as unknown as Response;
    const { task_id } = (await started.json()) as { task_id: string };
    expect(started.status).toBe(201);
    const url = new URL(DASHBOARD, bare.url);
    const headers = { "cf-access-jwt-assertion": await operator() };
    // The directory is written after the start's response: reload until it lists the task.
    const opened = await browser.open(url, { headers });
    for (let i = 0; i < 50 && (await opened.page.locator(`[data-task="${task_id}"]`).count()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await opened.page.reload();
    }
    const { page, response } = opened;
    expect(response?.status()).toBe(200);
    expect(await page.locator("#decisions-unavailable").textContent()).toContain("this run has no decision source");
    expect(await page.locator("figure.chart").count()).toBe(0);
    expect(await page.locator(".stats").count()).toBe(0);
    expect(await page.locator(`tr:has([data-task="${task_id}"]) [data-use="calls"]`).textContent()).toBe(" 0 / 10");
    const path = await screenshot(page, "dashboard-no-source", { fullPage: true });
    const png = decodePng(readFileSync(path));
    await expectInk(png, "the notice", page.locator("#decisions-unavailable"));
    await expectInk(png, "the live task", page.locator(`tr:has([data-task="${task_id}"])`));
  });
});
