/**
 * `Link` and `Location` response headers that point at the service's upstream are rewritten to point
 * at the gateway, in the form the call came in (`https://<gateway>/<service>/...` or
 * `https://<service>.<GATEWAY_DOMAIN>/...`), so a client that follows them (`octokit.paginate`, a
 * redirect) stays on the gateway instead of calling the upstream with its task token. URLs elsewhere,
 * relative references that already resolve against the gateway URL, and anything malformed pass
 * unchanged. Pure.
 */
import type { LinkAlias } from "../policy/types";

/** The rewritten value of a `Location` header: one URI reference. */
export function rewriteLocation(value: string, upstream: string, publicBase: string): string {
  return rewriteUrl(value, upstream, publicBase) ?? value;
}

/**
 * The rewritten value of a `Link` header (RFC 8288): `<uri>; param=value; ..., <uri>; ...`, each
 * target rewritten on its own and everything else kept byte for byte. A header that does not parse
 * passes unchanged as a whole.
 */
export function rewriteLinkHeader(
  value: string,
  upstream: string,
  publicBase: string,
  alias: (path: string) => string = (p) => p,
): string {
  const targets = linkTargets(value);
  if (targets === null) return value;
  let out = "";
  let at = 0;
  for (const { start, end } of targets) {
    const rewritten = rewriteUrl(value.slice(start, end), upstream, publicBase, alias);
    if (rewritten === null || /[<>\s]/.test(rewritten)) continue;
    out += value.slice(at, start) + rewritten;
    at = end;
  }
  return out + value.slice(at);
}

/**
 * `publicBase` + the part of `ref` under the upstream's base path, or null when `ref` is not on the
 * upstream's origin under its base path, is a relative path reference, or does not parse.
 */
export function rewriteUrl(
  ref: string,
  upstream: string,
  publicBase: string,
  alias: (path: string) => string = (p) => p,
): string | null {
  let base: URL;
  try {
    base = new URL(upstream);
  } catch {
    return null;
  }
  // A path-relative reference (`page/2`, `?page=2`) resolves against the URL the client asked for,
  // which mirrors the upstream's path under the gateway: it already stays on the gateway.
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref);
  if (!absolute && !ref.startsWith("/")) return null;
  let url: URL;
  try {
    url = new URL(ref, base);
  } catch {
    return null;
  }
  if (url.origin !== base.origin || url.username !== "" || url.password !== "") return null;
  const basePath = base.pathname.replace(/\/+$/, "");
  let rest: string;
  if (url.pathname === basePath) rest = "";
  else if (url.pathname.startsWith(`${basePath}/`)) rest = url.pathname.slice(basePath.length);
  else return null;
  return `${publicBase.replace(/\/+$/, "")}${alias(rest)}${url.search}${url.hash}`;
}

/** Where each `<uri>` target of a Link header starts and ends (inside the brackets), or null if malformed. */
function linkTargets(value: string): { start: number; end: number }[] | null {
  const targets: { start: number; end: number }[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  for (;;) {
    skipSpace();
    if (i >= n) break;
    if (value[i] === ",") {
      // Empty list elements are allowed (RFC 9110 section 5.6.1).
      i++;
      continue;
    }
    if (value[i] !== "<") return null;
    const close = value.indexOf(">", i + 1);
    if (close === -1) return null;
    targets.push({ start: i + 1, end: close });
    i = close + 1;
    // Parameters up to the next comma outside a quoted string.
    while (i < n && value[i] !== ",") {
      if (value[i] === '"') {
        i++;
        while (i < n && value[i] !== '"') i += value[i] === "\\" ? 2 : 1;
        if (i >= n) return null;
      } else if (value[i] === "<") {
        return null;
      }
      i++;
    }
  }
  return targets.length > 0 ? targets : null;
}

/**
 * A Link path under one of the service's aliases, pointed at the request's own address: GitHub's
 * `/repositories/123/issues` for a call to `/repos/acme/api/issues` becomes `/repos/acme/api/issues`.
 * Only when the rest of the path is the request's own (the same endpoint, another page), so an alias
 * never turns a link into another action or another resource. Otherwise the path is unchanged.
 */
export function aliasedPath(path: string, requestSegments: string[], aliases: LinkAlias[]): string {
  const segs = path.split("/").slice(1);
  for (const { from, to } of aliases) {
    if (!prefixMatches(segs, from) || !prefixMatches(requestSegments, to)) continue;
    const rest = segs.slice(from.length);
    if (rest.join("/") !== requestSegments.slice(to.length).join("/")) continue;
    return `/${[...requestSegments.slice(0, to.length), ...rest].join("/")}`;
  }
  return path;
}

function prefixMatches(segs: string[], template: (string | null)[]): boolean {
  if (segs.length < template.length) return false;
  return template.every((t, i) => (t === null ? segs[i] !== "" : segs[i] === t));
}
