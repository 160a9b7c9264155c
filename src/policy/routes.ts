/**
 * Path templates and the route trie. The compiler parses templates, proves that no two of a service
 * can match the same request, and builds the trie; the worker only calls `matchRoute`.
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
    if (m) {
      if (m[2] === "+" && i !== parts.length - 1) {
        throw new Error(`"{${m[1]}+}" in "${path}" must be the last segment`);
      }
      return m[2] === "+" ? { kind: "greedy", name: m[1] } : { kind: "param", name: m[1] };
    }
    if (/[{}%;\\?#]/.test(part) || part === "." || part === "..") {
      throw new Error(`segment "${part}" of "${path}" is not a literal or a {param}`);
    }
    return { kind: "literal", value: part };
  });
}

/** True when some path matches both templates. */
export function templatesOverlap(a: TemplateSegment[], b: TemplateSegment[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return !x && !y;
    // A greedy tail takes one or more segments: it overlaps anything that still has a segment here.
    if (x.kind === "greedy" || y.kind === "greedy") return true;
    if (x.kind === "literal" && y.kind === "literal" && x.value !== y.value) return false;
  }
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
      // Fix: a prototype-less map and an own-property lookup. With `{}` and `??=`, a literal segment
      // named `constructor` or `__proto__` found the inherited value and wrote the route onto
      // Object / Object.prototype (prototype pollution in the compiler; the route itself was lost).
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
 * Matches canonical path segments against a trie. Literals are tried before parameters; the compiler
 * guarantees at most one template can match, so the first match found is the only one.
 */
export function matchRoute(root: RouteNode, segments: string[], method: string): RouteMatch | null {
  const values: string[] = [];
  const action = walk(root, segments, 0, method, values);
  return action === -1 ? null : { action, values };
}

function walk(node: RouteNode, segs: string[], i: number, method: string, values: string[]): number {
  if (i === segs.length) return own(node.m, method) ?? -1;
  const lit = own(node.l, segs[i]);
  if (lit) {
    const found = walk(lit, segs, i + 1, method, values);
    if (found !== -1) return found;
  }
  if (node.p) {
    values.push(segs[i]);
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
