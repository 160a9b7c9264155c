/**
 * The UI kit rendered to HTML in Node: escaping in every slot, the page headers, the stylesheet hash in
 * the CSP, the chart arithmetic and the "no data" states. test/e2e/ui.test.ts looks at the same pages
 * in Chromium.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { contentSecurityPolicy, newNonce } from "../../src/ui/page";
import { formatCount, labelEvery, niceTicks, slug, truncate } from "../../src/ui/scale";
import { STYLESHEET_HASH } from "../../src/ui/styles";
import { HOSTILE, uiApp } from "../fixtures/ui-pages";

async function page(path: string): Promise<{ res: Response; html: string }> {
  const res = await uiApp().request(path);
  return { res, html: await res.text() };
}

describe("chart arithmetic", () => {
  it("picks round ticks that reach the maximum", () => {
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(100)).toEqual([0, 50, 100]);
    expect(niceTicks(113)).toEqual([0, 50, 100, 150]);
    expect(niceTicks(1)).toEqual([0, 1]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(Number.NaN)).toEqual([0, 1]);
    expect(niceTicks(3)).toEqual([0, 1, 2, 3]);
  });

  it("formats counts compactly", () => {
    expect([0, 950, 1000, 1250, 34_000, 1_500_000].map(formatCount)).toEqual(["0", "950", "1k", "1.3k", "34k", "1.5M"]);
  });

  it("labels at most N buckets, always the last", () => {
    const show = labelEvery(12, 6);
    expect([...Array(12).keys()].filter(show)).toEqual([1, 3, 5, 7, 9, 11]);
    expect([...Array(3).keys()].filter(labelEvery(3, 6))).toEqual([0, 1, 2]);
  });

  it("truncates by characters, not UTF-16 units, and makes safe ids", () => {
    expect(truncate("github:pulls.merge", 30)).toBe("github:pulls.merge");
    expect(truncate("ab🙂cdef", 4)).toBe("ab🙂…");
    expect(slug('Denied "actions" <top>')).toBe("denied-actions-top");
    expect(slug("???")).toBe("chart");
  });
});

describe("page headers", () => {
  it("answers HTML with no-store and the security headers", async () => {
    const { res } = await page("/kit");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("referrer-policy")).toBe("same-origin");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe(
      `default-src 'none'; script-src 'none'; style-src ${STYLESHEET_HASH}; img-src data:; ` +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
  });

  it("keeps the status it is given", async () => {
    const { res, html } = await page("/missing");
    expect(res.status).toBe(404);
    expect(html.startsWith('<!DOCTYPE html><html lang="en">')).toBe(true);
  });

  it("allows the inline stylesheet by its hash, and no other style", async () => {
    const { html } = await page("/kit");
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(styles).toHaveLength(1);
    const digest = createHash("sha256").update(styles[0]!, "utf8").digest("base64");
    expect(STYLESHEET_HASH).toBe(`'sha256-${digest}'`);
    // Style attributes would be refused by the CSP: the kit styles by class only.
    expect(html).not.toMatch(/\sstyle=/);
  });

  it("allows scripts only with a nonce, and only a well-formed one", () => {
    const nonce = newNonce();
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(newNonce()).not.toBe(nonce);
    const csp = contentSecurityPolicy({ nonce });
    expect(csp).toContain(`script-src 'nonce-${nonce}'`);
    expect(csp).toContain(`style-src ${STYLESHEET_HASH} 'nonce-${nonce}'`);
    expect(() => contentSecurityPolicy({ nonce: "abc'; script-src *" })).toThrow(/base64/);
    expect(() => contentSecurityPolicy({ nonce: "short" })).toThrow(/base64/);
  });
});

describe("escaping", () => {
  it("renders hostile data as text in every slot", async () => {
    const { html } = await page("/kit");
    expect(html).not.toContain(HOSTILE.script);
    expect(html).not.toContain(HOSTILE.attr);
    expect(html).not.toMatch(/<script|<img|onerror="/i);
    // Text, table cell, SVG text and <title>, hidden form field: each escaped.
    expect(html).toContain("&lt;script&gt;window.pwned=1&lt;/script&gt;");
    expect(html).toContain('value="&quot;&gt;&lt;img src=x onerror=&quot;window.pwned=2&quot;&gt;"');
    expect(html).toContain("<title>&quot;&gt;&lt;img src=x onerror=&quot;window.pwned=2&quot;&gt;: 2</title>");
  });
});

describe("components", () => {
  it("stacks one segment per non-zero value, with a title and a data table", async () => {
    const { html } = await page("/kit");
    const chart = html.slice(html.indexOf('<figure class="chart" id="decisions"'), html.indexOf("</figure>"));
    expect(chart.match(/<rect class="seg /g)).toHaveLength(12 + 12 + 8);
    expect(chart).toContain('aria-labelledby="decisions-t decisions-d"');
    expect(chart).toContain(
      '<desc id="decisions-d">897 in 12 intervals from 10:00 to 10:55: allow 807, deny 75, approval required 15.</desc>',
    );
    expect(chart).toContain(">time (UTC)</text>");
    expect(chart).toContain("<summary>Show the numbers</summary>");
  });

  it("draws the top N bars, largest first", async () => {
    const { html } = await page("/kit");
    const reasons = html.slice(html.indexOf('id="reasons"'));
    const labels = [...reasons.slice(0, reasons.indexOf("</svg>")).matchAll(/<text class="label"[^>]*>([^<]*)</g)];
    expect(labels.map((m) => m[1])).toEqual([
      "policy.no_match",
      "budget.exhausted",
      "sequence.requires",
      "identity.expired",
    ]);
  });

  it("renders a clear empty state instead of an empty chart", async () => {
    const { html } = await page("/empty");
    expect(html.match(/data-empty="true"/g)).toHaveLength(3);
    expect(html).not.toContain("<svg");
    expect(html).toContain("No decisions yet.");
    expect(html).toContain("Nothing was denied.");
    expect(html).toContain('aria-label="Refusal reasons: no data"');
    expect(html).toContain("No live tasks.");
  });
});
