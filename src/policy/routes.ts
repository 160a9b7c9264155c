/**
 * Path templates and the route trie. The compiler parses templates, refuses two of a service with the
 * same shape and a shared method, and builds the trie; the worker only calls `matchRoute`.
 *
 * Precedence: templates are compared segment by segment from the left, and at the first position where
 * they differ a literal beats a `{param}`, which beats a greedy `{param+}` tail, as HTTP routers
 * (and the upstreams behind the gateway) do. A catalog can therefore list `/v1/customers/search` next to
 * `/v1/customers/{customer}`, and the search is classified as the search it is, not as a read of the
 * customer "search". Two templates that may both match a request differ in kind at some position unless
 * they have the same shape, so with same-shape templates refused, precedence leaves exactly one action.
 */
import type { RouteNode } from "./types";

export type TemplateSegment =
  | { kind: "literal"; value: string }
  | { kind: "param"; name: string }
  | { kind: "greedy"; name: string };

const PARAM = /^\{([a-z_][a-z0-9_]*)(\+?)\}$/i;

/** Parses `/repos/{owner}/{repo}/contents/{path+}`; throws with a message the compiler shows. */
export function parseTemplate(path: string): TemplateSegment[] {
  if (!path.startsWith("/")) throw new Error(`path "${path}" must start with "/"`);
  if (path === "/") return [];
  const parts = path.slice(1).split("/");
  return parts.map((part, i) => {
    if (part === "") throw new Error(`path "${path}" has an empty segment`);
    const m = PARAM.exec(part);
    const name = m?.[1]; // the name group always takes part in a match
    if (m && name !== undefined) {
      if (m[2] === "+" && i !== parts.length - 1) {
        throw new Error(`"{${name}+}" in "${path}" must be the last segment`);
      }
      return m[2] === "+" ? { kind: "greedy", name } : { kind: "param", name };
    }
    if (/[{}%;\\?#]/.test(part) || part === "." || part === "..") {
      throw new Error(`segment "${part}" of "${path}" is not a literal or a {param}`);
    }
    return { kind: "literal", value: part };
  });
}

/**
 * True when the templates have the same shape: the same length and, position by position, the same
 * literal, or both a `{param}`, or both a greedy tail (names do not matter). Precedence cannot order
 * two such templates (every request one matches, the other matches too), so the compiler refuses them
 * when they share a method. Templates of different shapes are always ordered by precedence.
 */
export function sameShape(a: TemplateSegment[], b: TemplateSegment[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (y === undefined || x.kind !== y.kind) return false;
    return x.kind !== "literal" || (y.kind === "literal" && x.value === y.value);
  });
}

/** Adds a template for `method` -> `action` to the trie. */
export function insertRoute(root: RouteNode, segments: TemplateSegment[], method: string, action: number): void {
  let node = root;
  for (const seg of segments) {
    if (seg.kind === "greedy") {
      node.g ??= {};
      node.g[method] = action;
      return;
    }
    if (seg.kind === "param") {
      node.p ??= {};
      node = node.p;
    } else {
      // A prototype-less map and an own-property lookup: with `{}` and `??=`, a literal segment named
      // `constructor` or `__proto__` would find the inherited value and write the route onto Object /
      // Object.prototype (prototype pollution in the compiler, and the route itself lost).
      node.l ??= Object.create(null) as Record<string, RouteNode>;
      let child = own(node.l, seg.value);
      if (child === undefined) {
        child = {};
        node.l[seg.value] = child;
      }
      node = child;
    }
  }
  node.m ??= {};
  node.m[method] = action;
}

export interface RouteMatch {
  action: number;
  /** Raw (still percent-encoded) values in template order; a greedy value keeps its slashes. */
  values: string[];
}

/**
 * Matches canonical path segments against a trie, in precedence order: a depth-first walk that tries,
 * at each segment, the literal child, then the parameter child, then a greedy tail, and backtracks
 * when a branch dead-ends (no template of the rest of the path, or none for this method). The first
 * template found is therefore the one with the most specific segment at the first position where the
 * candidates differ; the compiler refused same-shape templates, so it is the only one of that rank.
 * Each trie node is visited at most once, so a match costs at most the size of the service's trie.
 */
export function matchRoute(root: RouteNode, segments: string[], method: string): RouteMatch | null {
  const values: string[] = [];
  const action = walk(root, segments, 0, method, values);
  return action === -1 ? null : { action, values };
}

function walk(node: RouteNode, segs: string[], i: number, method: string, values: string[]): number {
  const seg = segs[i];
  // Segments are strings, so `undefined` means the whole path is matched (i === segs.length).
  if (seg === undefined) return own(node.m, method) ?? -1;
  // literal > {param} > {param+}; a greedy tail takes one or more segments, so it is tried only here,
  // with at least one segment left, and only after both more specific branches found nothing.
  const lit = own(node.l, seg);
  if (lit) {
    const found = walk(lit, segs, i + 1, method, values);
    if (found !== -1) return found;
  }
  if (node.p) {
    values.push(seg);
    const found = walk(node.p, segs, i + 1, method, values);
    if (found !== -1) return found;
    values.pop();
  }
  const greedy = own(node.g, method);
  if (greedy !== undefined) {
    values.push(segs.slice(i).join("/"));
    return greedy;
  }
  return -1;
}

/** Own-property lookup: a path segment such as `constructor` or `__proto__` must never reach the prototype. */
export function own<T>(map: Record<string, T> | undefined, key: string): T | undefined {
  return map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;
}
