/**
 * The UI kit in a real headless Chromium: pages rendered by Hono JSX in this process, served over
 * node:http with the real page headers (test/fixtures/ui-pages.tsx), then read back from the DOM, with
 * screenshots under build/screenshots/ that the test decodes. The page may reach its own origin only.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOSTILE, uiApp } from "../fixtures/ui-pages";
import { launchChromium, screenshot, useBrowser } from "../helpers/browser";
import { type Served, serve } from "../helpers/http-server";
import { decodePng, pixelStats } from "../helpers/png";

const browser = useBrowser();
let server: Served;

beforeAll(async () => {
  server = await serve(uiApp().fetch);
});

afterAll(async () => {
  await server?.close();
});

const open = (path: string, viewport?: { width: number; height: number }) =>
  browser.open(new URL(path, server.url), { viewport });

const texts = (page: import("playwright-core").Page, selector: string) =>
  page.locator(selector).evaluateAll((els) => els.map((e) => e.textContent?.trim() ?? ""));

/** A screenshot is a real PNG of the viewport with something drawn on it. */
function expectRendered(path: string, width: number, height: number): void {
  const png = decodePng(readFileSync(path));
  expect({ width: png.width, height: png.height }).toEqual({ width, height });
  const stats = pixelStats(png);
  expect(stats.colours).toBeGreaterThan(50);
  expect(stats.nonBackground).toBeGreaterThan(0.1);
}

describe("the kit in Chromium", () => {
  it("renders every component with its data, styled, and nothing runs", async () => {
    const { page, response, errors } = await open("/kit");
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("default-src 'none'");
    expect(await page.title()).toBe("Dashboard · Firebreak");
    expect(await page.locator("h1").textContent()).toBe("Dashboard");
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe("Dashboard");

    // The stylesheet was allowed by its hash: the page is styled, and the CSP refused nothing.
    const background = await page.evaluate("getComputedStyle(document.documentElement).backgroundColor");
    expect(background).toBe("rgb(244, 245, 247)");
    expect(errors).toEqual([]);

    expect(await texts(page, 'dl[aria-label="The request"] dt')).toEqual(
      expect.arrayContaining(["Method", "Action", "Resource", "Risk", "Agent", "Purpose"]),
    );
    expect(await page.locator('dl[aria-label="The request"] dd').nth(1).textContent()).toBe("github:pulls.merge");
    expect(await texts(page, ".card:has(h2:text('Statuses')) .badge")).toEqual([
      "allow",
      "deny",
      "approval required",
      "pending",
      "approved",
      "denied",
      "expired",
    ]);
    expect(await page.locator("table:has(caption) tbody tr").count()).toBe(3);
  });

  it("draws the charts with titles, bars and values", async () => {
    const { page } = await open("/kit");
    expect(await texts(page, "figure.chart svg > title")).toEqual([
      "Decisions by effect, 5-minute intervals",
      "Denied actions",
      "Refusal reasons",
    ]);
    await expect(page.getByRole("img", { name: /^Denied actions/ }).count()).resolves.toBe(1);
    expect(await page.locator("#decisions rect.seg").count()).toBe(32);
    expect(await page.locator("#decisions rect.seg.s-deny").count()).toBe(12);
    expect(await page.locator("#denied rect.bar").count()).toBe(5);
    expect(await page.locator("#reasons rect.bar").count()).toBe(4);
    expect(await texts(page, "#reasons text.value")).toEqual(["40", "18", "7", "4"]);
    expect(await texts(page, "#decisions .legend li")).toEqual(["allow", "deny", "approval required"]);
    // The largest bar spans the plot; the others are proportional.
    const widths = await page
      .locator("#reasons rect.bar")
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width));
    expect(widths[1]! / widths[0]!).toBeCloseTo(18 / 40, 2);
    // The numbers are there as text too, for whoever cannot see the chart.
    await page.locator("#reasons details summary").click();
    expect(await texts(page, "#reasons details tbody td:first-child")).toContain("budget.exhausted");
  });

  it("shows hostile data as text and never runs it", async () => {
    const { page } = await open("/kit");
    expect(await page.evaluate("window.pwned")).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("body script").count()).toBe(0);
    expect(await page.locator('dl[aria-label="The request"] dd').nth(5).textContent()).toBe(HOSTILE.script);
    expect(await page.locator("table:has(caption) tbody tr").nth(2).locator("td").nth(1).textContent()).toBe(
      HOSTILE.script,
    );
    expect(await page.locator("#denied text.label").nth(4).textContent()).toContain('"><img src=x');
    const csrf = page.locator('form[action="/approvals/a_1/approve"] input[name="csrf"]');
    expect(await csrf.inputValue()).toBe(HOSTILE.attr);
  });

  it("posts a button form, without JavaScript, with its CSRF field", async () => {
    const { page } = await open("/kit");
    await Promise.all([page.waitForURL("**/approvals/a_1/deny"), page.getByRole("button", { name: "Deny" }).click()]);
    expect(await page.locator("h1").textContent()).toBe("Posted: deny");
    expect(await texts(page, "dl dd")).toEqual(["csrf-token-1", "deny"]);
  });

  it("takes a screenshot that is a real, non-blank PNG of the viewport", async () => {
    const { page } = await open("/kit", { width: 1280, height: 900 });
    const path = await screenshot(page, "ui-kit");
    expect(path).toMatch(/build\/screenshots\/ui-kit\.png$/);
    expectRendered(path, 1280, 900);
    await screenshot(page, "ui-kit-full", { fullPage: true });
  });

  it("renders the empty state instead of broken charts", async () => {
    const { page } = await open("/empty", { width: 1280, height: 700 });
    expect(await page.locator('figure[data-empty="true"]').count()).toBe(3);
    expect(await page.locator("svg").count()).toBe(0);
    expect(await texts(page, ".chart-empty")).toEqual([
      "No decisions yet.",
      "Nothing was denied.",
      "No data for this period.",
    ]);
    await expect(page.getByRole("img", { name: "Decisions by effect: no data" }).count()).resolves.toBe(1);
    expect(await page.locator("td.empty").textContent()).toBe("No live tasks.");
    expectRendered(await screenshot(page, "ui-empty"), 1280, 700);
  });
});

describe("the page headers in Chromium", () => {
  it("refuse an inline script and an event handler that got into the HTML", async () => {
    const { page, errors } = await open("/injected");
    expect(await page.locator("#marker").textContent()).toBe("injected");
    await page.locator("#clickme").click();
    expect(await page.evaluate("window.pwned")).toBeUndefined();
    expect(errors.some((e) => e.includes("Content Security Policy"))).toBe(true);
  });

  it("run a script with the page's nonce and no other", async () => {
    const { page } = await open("/nonce");
    const flags = await page.evaluate("({ allowed: window.allowed, pwned: window.pwned })");
    expect(flags).toEqual({ allowed: 1, pwned: undefined });
  });
});

describe("the browser harness", () => {
  it("blocks every request to another origin, and says which", async () => {
    const opened = await open("/cdn");
    expect(await opened.page.locator("#marker").textContent()).toBe("cdn");
    const fetched = await opened.page.evaluate(() =>
      fetch("https://api.github.com/").then(
        () => "reached",
        () => "blocked",
      ),
    );
    expect(fetched).toBe("blocked");
    expect(opened.takeBlocked().sort()).toEqual([
      "GET https://api.github.com/",
      "GET https://cdn.example.com/kit.css",
      "GET https://images.example.net/logo.png",
    ]);
  });

  it("says how to install Chromium when it is missing", async () => {
    const saved = process.env.CHROMIUM_PATH;
    process.env.CHROMIUM_PATH = "/nonexistent/chromium";
    try {
      await expect(launchChromium()).rejects.toThrow(/not installed at \/nonexistent\/chromium.*apt-get install -y/);
    } finally {
      if (saved === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = saved;
    }
  });
});
