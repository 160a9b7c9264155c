/**
 * The HTML shell of every page: no script, no external asset, one inline stylesheet allowed by hash.
 * Pages work without JavaScript: links and POST forms only.
 */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { STYLESHEET } from "./styles";

export interface NavItem {
  href: string;
  label: string;
  current?: boolean;
}

export interface LayoutProps {
  /** The document title; the page's <h1> too unless `heading` is given. */
  title: string;
  heading?: string;
  /** One line under the heading. */
  lede?: Child;
  nav?: NavItem[];
  footer?: Child;
  children?: Child;
}

// The stylesheet is a constant of this module, never data; it is written raw because the text of a
// <style> element is not HTML-decoded, so escaping would corrupt its quotes. It must not close the tag.
if (STYLESHEET.includes("</")) throw new Error("the stylesheet must not contain '</'");
const STYLE = raw(STYLESHEET);

export function Layout(props: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <meta name="robots" content="noindex, nofollow" />
        <title>{`${props.title} · Firebreak`}</title>
        <style>{STYLE}</style>
      </head>
      <body>
        <header class="topbar">
          <span class="brand">Firebreak</span>
          {props.nav && props.nav.length > 0 ? (
            <nav aria-label="Sections">
              {props.nav.map((item) => (
                <a href={item.href} aria-current={item.current ? "page" : undefined}>
                  {item.label}
                </a>
              ))}
            </nav>
          ) : null}
        </header>
        <main>
          <h1>{props.heading ?? props.title}</h1>
          {props.lede ? <p class="lede">{props.lede}</p> : null}
          {props.children}
        </main>
        {props.footer ? <footer>{props.footer}</footer> : null}
      </body>
    </html>
  );
}

export interface CardProps {
  title?: Child;
  children?: Child;
}

/** A titled panel: the unit pages are laid out in (`<div class="grid">` puts cards side by side). */
export function Card(props: CardProps) {
  return (
    <section class="card">
      {props.title ? <h2>{props.title}</h2> : null}
      {props.children}
    </section>
  );
}
