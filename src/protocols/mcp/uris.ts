/**
 * Resource URIs of an MCP endpoint: `resources/read` names a URI, the catalog lists exact URIs
 * (`crm://plans`) and templates (`crm://customers/{id}`). Pure.
 *
 * A template is split at `/`; each segment is literal text or one `{name}` (RFC 6570 level 1, a whole
 * segment: `{id}.json` is not a template segment). A `{name}` matches one non-empty segment without
 * `?` or `#`, so a template never swallows a query. An exact URI beats every template; between
 * templates, as between REST routes (src/policy/routes.ts), the first segment where they differ decides
 * and a literal beats a `{name}`. Two templates of the same shape are a compile error, so at most one
 * template wins.
 *
 * The value of a `{name}` is the resource's parameter (a rule sees `customer:{id}`): percent-encoded
 * unreserved characters are decoded (`%34%32` is `42`, as the upstream may decode it), other escapes
 * kept upper-cased, a malformed escape refused.
 */

export type UriPart = { lit: string } | { param: string };

const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
/** Visible ASCII: what a URI may contain (RFC 3986), minus nothing; braces only in templates. */
const VISIBLE = /^[\x21-\x7e]+$/;

export const isTemplate = (key: string): boolean => key.includes("{");

/** The parts of a template, or why it is not one (for the compiler's message). */
export function parseUriTemplate(template: string): UriPart[] | string {
  if (!VISIBLE.test(template)) return `"${template}" must be visible ASCII with no spaces`;
  if (/[?#]/.test(template)) return `"${template}" may not have a query or fragment: list it as an exact URI`;
  const names = new Set<string>();
  const parts: UriPart[] = [];
  for (const seg of template.split("/")) {
    const m = PARAM.exec(seg);
    const name = m?.[1];
    if (name !== undefined) {
      if (names.has(name)) return `{${name}} appears twice in "${template}"`;
      names.add(name);
      parts.push({ param: name });
    } else if (/[{}]/.test(seg)) {
      return `segment "${seg}" of "${template}" is not literal text or one whole {name}`;
    } else parts.push({ lit: seg });
  }
  return parts;
}

/** Whether two templates match exactly the same URIs (parameter names aside). */
export function sameUriShape(a: UriPart[], b: UriPart[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (y === undefined) return false;
    if ("lit" in x) return "lit" in y && x.lit === y.lit;
    return "param" in y;
  });
}

export type ResourceMatch =
  | { ok: true; action: number; params: Record<string, string> }
  | { ok: false; why: "none" | "malformed" };

interface Compiled {
  parts: UriPart[];
  action: number;
}

/** Parsed templates per endpoint: parsed on an endpoint's first template read, once per isolate. */
const compiled = new WeakMap<Record<string, number>, Compiled[]>();

function templatesOf(resources: Record<string, number>): Compiled[] {
  let list = compiled.get(resources);
  if (list === undefined) {
    list = [];
    for (const [key, action] of Object.entries(resources)) {
      if (!isTemplate(key)) continue;
      const parts = parseUriTemplate(key);
      if (typeof parts !== "string") list.push({ parts, action });
    }
    compiled.set(resources, list);
  }
  return list;
}

/** The one resource action a URI names, with its template parameters. */
export function matchResource(resources: Record<string, number>, uri: string): ResourceMatch {
  if (!VISIBLE.test(uri)) return { ok: false, why: "malformed" };
  if (!isTemplate(uri) && Object.hasOwn(resources, uri)) {
    return { ok: true, action: resources[uri] as number, params: Object.create(null) };
  }
  if (/[{}]/.test(uri)) return { ok: false, why: "malformed" };
  const segs = uri.split("/");
  let best: Compiled | null = null;
  for (const t of templatesOf(resources)) {
    if (matches(t.parts, segs) && (best === null || beats(t.parts, best.parts))) best = t;
  }
  if (best === null) return { ok: false, why: "none" };
  const params: Record<string, string> = Object.create(null);
  for (const [i, part] of best.parts.entries()) {
    if (!("param" in part)) continue;
    const value = canonicalValue(segs[i] as string);
    if (value === null) return { ok: false, why: "malformed" };
    params[part.param] = value;
  }
  return { ok: true, action: best.action, params };
}

function matches(parts: UriPart[], segs: string[]): boolean {
  if (parts.length !== segs.length) return false;
  return parts.every((p, i) => {
    const s = segs[i] as string;
    return "lit" in p ? p.lit === s : s !== "" && !/[?#]/.test(s);
  });
}

/** Whether `a` is more specific than `b` (both match): at the first difference, a literal wins. */
function beats(a: UriPart[], b: UriPart[]): boolean {
  for (const [i, x] of a.entries()) {
    const y = b[i] as UriPart;
    if ("lit" in x !== "lit" in y) return "lit" in x;
  }
  return false;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Percent-encoded unreserved characters decoded, other escapes upper-cased; null for a bad escape. */
export function canonicalValue(raw: string): string | null {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c !== "%") {
      out += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}
