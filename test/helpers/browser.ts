/**
 * A real headless Chromium for tests of Firebreak's pages: Debian's `chromium` driven by playwright-core
 * (which downloads no browser of its own). One browser per test file, a fresh context per page.
 *
 * Nothing a page asks for leaves its own origin (or those a test names in `alsoAllow`): every other
 * request is aborted and recorded, and a test that ends with a blocked request it did not take note of
 * (`takeBlocked()`) fails. Chromium also runs with its background networking off and a host resolver that
 * resolves nothing but localhost, so that neither the page nor the browser itself can reach the internet.
 * See docs/ui.md.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page, type Response } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
export const SCREENSHOT_DIR = join(ROOT, "build", "screenshots");

/**
 * Without the background-networking flags Chromium keeps trying to reach Google's hosts on this
 * closed network (docs: /work/.library/env/machines/node.md). playwright-core adds a fresh, empty
 * --user-data-dir of its own on every launch and removes it on close.
 */
export const CHROMIUM_FLAGS = [
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
];

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || "/usr/bin/chromium";
}

/** Launches headless Chromium, or says exactly how to get one. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium is not installed at ${executablePath}. The browser tests use Debian's Chromium: ` +
        "`sudo apt-get install -y --no-install-recommends chromium` (CI does this in .ci/run), " +
        "or set CHROMIUM_PATH to a Chromium or Chrome binary. playwright-core downloads no browser; " +
        "`npx playwright install` is not needed and does not work offline.",
    );
  }
  // Chromium's sandbox refuses to run as root; as another user it stays on unless told otherwise.
  const asRoot = process.getuid?.() === 0;
  const sandbox = !asRoot && process.env.CHROMIUM_NO_SANDBOX !== "1";
  try {
    return await chromium.launch({ executablePath, headless: true, chromiumSandbox: sandbox, args: CHROMIUM_FLAGS });
  } catch (err) {
    const hint = sandbox ? " If the sandbox cannot start here (no user namespaces), set CHROMIUM_NO_SANDBOX=1." : "";
    throw new Error(`Chromium at ${executablePath} did not start.${hint}\n${(err as Error).message}`);
  }
}

export interface OpenOptions {
  viewport?: { width: number; height: number };
  /**
   * Sent with every request of the context, to each allowed origin: what a proxy in front of the site
   * adds (Cloudflare Access's `Cf-Access-Jwt-Assertion`).
   */
  headers?: Record<string, string>;
  /** More origins the page may reach besides `url`'s (a test's second site); all others stay blocked. */
  alsoAllow?: (string | URL)[];
}

export interface OpenedPage {
  page: Page;
  context: BrowserContext;
  /** The navigation's response (status and headers as the browser saw them). */
  response: Response | null;
  /** The origin of `url`: with `alsoAllow`'s, the only ones the page may reach. */
  origin: string;
  /** Requests to any other origin, aborted: `METHOD url`. */
  blocked: string[];
  /** Console errors (a CSP refusal is one) and uncaught page errors, in order. */
  errors: string[];
  /** Returns the blocked requests and clears them, for a test that expects some. */
  takeBlocked(): string[];
}

export interface BrowserSession {
  /** Opens `url` in a new context that may reach `url`'s origin only. */
  open(url: string | URL, options?: OpenOptions): Promise<OpenedPage>;
  readonly browser: Browser;
}

/** One browser for this test file: launched before the first test, closed after the last. */
export function useBrowser(): BrowserSession {
  let browser: Browser | undefined;
  let opened: OpenedPage[] = [];
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterEach(async () => {
    const pages = opened;
    opened = [];
    await Promise.all(pages.map((p) => p.context.close()));
    const blocked = pages.flatMap((p) => p.blocked);
    if (blocked.length > 0) {
      throw new Error(`the page tried to reach another origin (blocked):\n  ${blocked.join("\n  ")}`);
    }
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get browser() {
      if (!browser) throw new Error("useBrowser(): the browser starts in beforeAll");
      return browser;
    },
    async open(url, options = {}) {
      const page = await openPage(this.browser, new URL(url), options);
      opened.push(page);
      return page;
    },
  };
}

/** A new context and page that can reach `url`'s origin (and `alsoAllow`'s) and nothing else. */
export async function openPage(browser: Browser, url: URL, options: OpenOptions = {}): Promise<OpenedPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    serviceWorkers: "block",
    locale: "en-US",
    timezoneId: "UTC",
    colorScheme: "light",
    extraHTTPHeaders: options.headers,
  });
  const origin = url.origin;
  const allowed = new Set([origin, ...(options.alsoAllow ?? []).map((u) => new URL(u).origin)]);
  const blocked: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const request = route.request();
    if (allowed.has(new URL(request.url()).origin)) return route.continue();
    blocked.push(`${request.method()} ${request.url()}`);
    return route.abort("blockedbyclient");
  });
  await context.routeWebSocket(
    (u) => !allowed.has(u.origin.replace(/^ws/, "http")),
    (ws) => {
      blocked.push(`WEBSOCKET ${ws.url()}`);
      return ws.close();
    },
  );
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(`uncaught: ${err.message}`));
  const response = await page.goto(url.href, { waitUntil: "load" });
  return { page, context, response, origin, blocked, errors, takeBlocked: () => blocked.splice(0) };
}

/** Saves a PNG of the page (the viewport, or all of it) to build/screenshots/<name>.png; returns the path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name))
    throw new Error(`screenshot name ${JSON.stringify(name)}: letters, digits, . _ -`);
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false, animations: "disabled" });
  return path;
}
