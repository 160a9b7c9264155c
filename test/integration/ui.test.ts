/**
 * The UI kit inside workerd: the .tsx pages compile in the pool as they do for wrangler, the stylesheet
 * hash (node:crypto under nodejs_compat) matches what is served, and the page headers are set.
 * test/e2e/ui.test.ts opens the same pages in Chromium.
 */
import { describe, expect, it } from "vitest";
import { STYLESHEET_HASH } from "../../src/ui/styles";
import { HOSTILE, uiApp } from "../fixtures/ui-pages";

const app = uiApp();

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

describe("UI pages in workerd", () => {
  it("serve the kit with the page headers", async () => {
    const res = await app.request("/kit");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("content-security-policy")).toContain(`style-src ${STYLESHEET_HASH};`);
    const html = await res.text();
    expect(html).toContain('<figure class="chart" id="decisions">');
    expect(html).not.toContain(HOSTILE.script);
  });

  it("allow exactly the stylesheet that is served", async () => {
    const html = await (await app.request("/kit")).text();
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    expect(STYLESHEET_HASH).toBe(`'sha256-${await sha256Base64(style)}'`);
  });

  it("give each response its own script nonce", async () => {
    const nonceOf = async () =>
      /'nonce-([^']+)'/.exec((await app.request("/nonce")).headers.get("content-security-policy")!)![1];
    const [a, b] = [await nonceOf(), await nonceOf()];
    expect(a).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(a).not.toBe(b);
  });
});
