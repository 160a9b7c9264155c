/** Path templates: parsing, the overlap proof the compiler relies on, and the trie matcher. */
import { describe, expect, it } from "vitest";
import { insertRoute, matchRoute, own, parseTemplate, templatesOverlap } from "../../src/policy/routes";
import type { RouteNode } from "../../src/policy/types";

describe("parseTemplate", () => {
  it("parses literals, params and a greedy tail", () => {
    expect(parseTemplate("/repos/{owner}/{repo}/contents/{path+}")).toEqual([
      { kind: "literal", value: "repos" },
      { kind: "param", name: "owner" },
      { kind: "param", name: "repo" },
      { kind: "literal", value: "contents" },
      { kind: "greedy", name: "path" },
    ]);
    expect(parseTemplate("/")).toEqual([]);
    expect(parseTemplate("/api/chat.postMessage")).toEqual([
      { kind: "literal", value: "api" },
      { kind: "literal", value: "chat.postMessage" },
    ]);
  });

  it.each([
    ["repos/{owner}", 'must start with "/"'],
    ["", 'must start with "/"'],
    ["/repos//x", "has an empty segment"],
    ["/repos/", "has an empty segment"],
    ["/{path+}/raw", '"{path+}" in "/{path+}/raw" must be the last segment'],
    ["/a/{x}y", "is not a literal or a {param}"],
    ["/a/{x", "is not a literal or a {param}"],
    ["/a/x}", "is not a literal or a {param}"],
    ["/a/{1x}", "is not a literal or a {param}"],
    ["/a/{}", "is not a literal or a {param}"],
    ["/a/%2F", "is not a literal or a {param}"],
    ["/a/b;c", "is not a literal or a {param}"],
    ["/a/b\\c", "is not a literal or a {param}"],
    ["/a/b?c", "is not a literal or a {param}"],
    ["/a/b#c", "is not a literal or a {param}"],
    ["/a/./b", "is not a literal or a {param}"],
    ["/a/../b", "is not a literal or a {param}"],
  ])("refuses %j", (path, message) => {
    expect(() => parseTemplate(path)).toThrow(message);
  });
});

describe("templatesOverlap", () => {
  const t = (p: string) => parseTemplate(p);
  it.each([
    // same shape
    ["/a/b", "/a/b", true],
    ["/a/b", "/a/c", false],
    ["/a/{x}", "/a/b", true],
    ["/a/{x}", "/a/{y}", true],
    ["/{x}/b", "/a/{y}", true],
    ["/{x}/b", "/{y}/c", false],
    // different lengths never overlap without a greedy tail
    ["/a", "/a/b", false],
    ["/a/{x}", "/a/{x}/{y}", false],
    ["/", "/a", false],
    ["/", "/", true],
    // greedy tails take one or more segments
    ["/a/{p+}", "/a/b", true],
    ["/a/{p+}", "/a/b/c/d", true],
    ["/a/{p+}", "/a", false],
    ["/a/{p+}", "/b/c", false],
    ["/a/{p+}", "/a/{q+}", true],
    ["/a/{p+}", "/a/b/{q+}", true],
    ["/a/{p+}", "/{x}/{y}", true],
    ["/{x}/{p+}", "/a/b/c", true],
    ["/a/b/{p+}", "/a/c/{q+}", false],
    ["/a/b/{p+}", "/a/b", false],
  ])("%s vs %s -> %s", (a, b, overlap) => {
    expect(templatesOverlap(t(a), t(b))).toBe(overlap);
    expect(templatesOverlap(t(b), t(a))).toBe(overlap);
  });
});

/** Builds a trie from [template, method, action] triples, as the compiler does. */
function trie(routes: [string, string, number][]): RouteNode {
  const root: RouteNode = {};
  for (const [path, method, action] of routes) insertRoute(root, parseTemplate(path), method, action);
  return root;
}
const segs = (path: string) => (path === "/" ? [] : path.slice(1).split("/"));

describe("matchRoute", () => {
  it("backtracks from a literal that leads nowhere into a parameter", () => {
    const root = trie([
      ["/a/b/c", "GET", 0],
      ["/a/{x}/d", "GET", 1],
    ]);
    expect(matchRoute(root, segs("/a/b/d"), "GET")).toEqual({ action: 1, values: ["b"] });
    expect(matchRoute(root, segs("/a/b/c"), "GET")).toEqual({ action: 0, values: [] });
    expect(matchRoute(root, segs("/a/z/d"), "GET")).toEqual({ action: 1, values: ["z"] });
    expect(matchRoute(root, segs("/a/z/c"), "GET")).toBeNull();
  });

  it("drops values collected on a branch it backtracks out of", () => {
    const root = trie([
      ["/{x}/{y}/c", "GET", 0],
      ["/{x}/b/d", "GET", 1],
    ]);
    expect(matchRoute(root, segs("/a/b/c"), "GET")).toEqual({ action: 0, values: ["a", "b"] });
    expect(matchRoute(root, segs("/a/b/d"), "GET")).toEqual({ action: 1, values: ["a"] });
  });

  it("prefers a literal over a parameter (when methods make both legal)", () => {
    const root = trie([
      ["/items/{id}", "GET", 0],
      ["/items/search", "POST", 1],
      ["/items/search", "GET", 2],
    ]);
    expect(matchRoute(root, segs("/items/search"), "GET")).toEqual({ action: 2, values: [] });
    expect(matchRoute(root, segs("/items/search"), "POST")).toEqual({ action: 1, values: [] });
    expect(matchRoute(root, segs("/items/42"), "GET")).toEqual({ action: 0, values: ["42"] });
    expect(matchRoute(root, segs("/items/42"), "POST")).toBeNull();
  });

  it("falls back from a literal to a parameter when the literal lacks the method", () => {
    const root = trie([
      ["/items/{id}", "GET", 0],
      ["/items/search", "POST", 1],
    ]);
    expect(matchRoute(root, segs("/items/search"), "GET")).toEqual({ action: 0, values: ["search"] });
  });

  it("a greedy tail collects the remaining segments with their slashes", () => {
    const root = trie([
      ["/repos/{o}/{r}/contents/{path+}", "GET", 0],
      ["/repos/{o}/{r}/contents/{path+}", "PUT", 1],
    ]);
    expect(matchRoute(root, segs("/repos/acme/api/contents/src/lib/a.ts"), "GET")).toEqual({
      action: 0,
      values: ["acme", "api", "src/lib/a.ts"],
    });
    expect(matchRoute(root, segs("/repos/acme/api/contents/README.md"), "PUT")).toEqual({
      action: 1,
      values: ["acme", "api", "README.md"],
    });
    // One or more segments: the bare prefix does not match.
    expect(matchRoute(root, segs("/repos/acme/api/contents"), "GET")).toBeNull();
    expect(matchRoute(root, segs("/repos/acme/api/contents/x"), "DELETE")).toBeNull();
  });

  it("a longer literal route wins over a greedy tail, the greedy tail takes the rest", () => {
    const root = trie([
      ["/git/{ref+}", "GET", 0],
      ["/git/{x}/status", "POST", 1],
    ]);
    expect(matchRoute(root, segs("/git/heads/status"), "POST")).toEqual({ action: 1, values: ["heads"] });
    expect(matchRoute(root, segs("/git/heads/status"), "GET")).toEqual({ action: 0, values: ["heads/status"] });
  });

  it("matches the root path and exact methods only", () => {
    const root = trie([["/", "GET", 7]]);
    expect(matchRoute(root, [], "GET")).toEqual({ action: 7, values: [] });
    expect(matchRoute(root, [], "POST")).toBeNull();
    expect(matchRoute(root, ["x"], "GET")).toBeNull();
  });

  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"])(
    "prototype key %s never matches as a segment or a method",
    (key) => {
      const root = trie([
        ["/a/b", "GET", 0],
        ["/c/{p+}", "GET", 1],
      ]);
      expect(matchRoute(root, [key], "GET")).toBeNull();
      expect(matchRoute(root, ["a", key], "GET")).toBeNull();
      expect(matchRoute(root, ["a", "b"], key)).toBeNull();
      expect(matchRoute(root, ["c", "x"], key)).toBeNull();
      expect(matchRoute(root, [key, key], key)).toBeNull();
      // Also after a JSON round trip (the worker reads the trie from bundle JSON).
      const parsed = JSON.parse(JSON.stringify(root)) as RouteNode;
      expect(matchRoute(parsed, [key], "GET")).toBeNull();
      expect(matchRoute(parsed, ["a", "b"], key)).toBeNull();
    },
  );

  it("a literal segment named like a prototype key is a route of its own, not a prototype write", () => {
    const root = trie([
      ["/a/constructor", "GET", 3],
      ["/a/__proto__/x", "GET", 4],
      ["/constructor", "POST", 5],
    ]);
    expect(({} as Record<string, unknown>).m).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>).m).toBeUndefined();
    for (const r of [root, JSON.parse(JSON.stringify(root)) as RouteNode]) {
      expect(matchRoute(r, ["a", "constructor"], "GET")).toEqual({ action: 3, values: [] });
      expect(matchRoute(r, ["a", "__proto__", "x"], "GET")).toEqual({ action: 4, values: [] });
      expect(matchRoute(r, ["constructor"], "POST")).toEqual({ action: 5, values: [] });
      expect(matchRoute(r, ["a", "toString"], "GET")).toBeNull();
      expect(matchRoute(r, ["a", "__proto__"], "GET")).toBeNull();
    }
  });
});

describe("own", () => {
  it("reads own properties only", () => {
    const map: Record<string, number> = { a: 1 };
    expect(own(map, "a")).toBe(1);
    expect(own(map, "constructor")).toBeUndefined();
    expect(own(map, "__proto__")).toBeUndefined();
    expect(own(undefined, "a")).toBeUndefined();
    const parsed = JSON.parse('{"__proto__": 5}');
    expect(own<number>(parsed, "__proto__")).toBe(5);
  });
});
