/**
 * How every HTML page of Firebreak is answered. The pages carry approval buttons and decision data, so
 * the headers assume the worst: a value that slipped past escaping still cannot run (no script without
 * the page's nonce), cannot load or send anything anywhere (`default-src 'none'`, forms post only to
 * this origin), and the page cannot be framed for clickjacking the Approve button.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { STYLESHEET_HASH } from "./styles";

export interface PageOptions {
  /**
   * A fresh value from `newNonce()` when the page has a script of its own: `<script nonce={nonce}>`.
   * Without one, no script runs on the page at all.
   */
  nonce?: string;
}

/** The Content-Security-Policy of a page: the inline stylesheet by hash, scripts only by nonce. */
export function contentSecurityPolicy(options: PageOptions = {}): string {
  const nonce = options.nonce === undefined ? undefined : `'nonce-${checkNonce(options.nonce)}'`;
  return [
    "default-src 'none'",
    nonce ? `script-src ${nonce}` : "script-src 'none'",
    nonce ? `style-src ${STYLESHEET_HASH} ${nonce}` : `style-src ${STYLESHEET_HASH}`,
    "img-src data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

/** The headers of every page (also for tests that serve pages without a Hono context). */
export function pageHeaders(options: PageOptions = {}): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": contentSecurityPolicy(options),
    "x-frame-options": "DENY",
    // same-origin, not no-referrer: with no-referrer Chromium posts a page's own forms with
    // `Origin: null`, which the approval forms' same-origin check must refuse. Other sites still get
    // no referrer (approval URLs carry ids).
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
  };
}

/** Renders a page (a `<Layout>` element) and answers it with the page headers. */
export async function htmlPage(
  c: Context,
  page: string | Promise<string>,
  status: ContentfulStatusCode = 200,
  options: PageOptions = {},
): Promise<Response> {
  // A JSX element renders on toString(), and to a promise when a component is async.
  const html = await (await page).toString();
  return c.body(`<!DOCTYPE html>${html}`, status, pageHeaders(options));
}

/** 128 random bits for a page's CSP nonce; a new one for every response. */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/** A nonce is placed in a header and an attribute: only base64 characters, so it cannot break out of either. */
function checkNonce(nonce: string): string {
  if (!/^[A-Za-z0-9+/_-]{16,}={0,2}$/.test(nonce)) throw new Error("a CSP nonce must be base64, 16 characters or more");
  return nonce;
}
