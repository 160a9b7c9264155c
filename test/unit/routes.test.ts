/** Path templates: parsing, the same-shape check the compiler relies on, and the trie matcher (precedence). */
import { describe, expect, it } from "vitest";
import { insertRoute, matchRoute, own, parseTemplate, sameShape, type TemplateSegment } from "../../src/policy/routes";
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

describe("sameShape", () => {
  const t = (p: string) => parseTemplate(p);
  it.each([
    // same length, and at every position the same literal, or both a param, or both greedy
    ["/a/b", "/a/b", true],
    ["/a/{x}", "/a/{y}", true],
    ["/{x}/b/{y}", "/{p}/b/{q}", true],
    ["/a/{p+}", "/a/{q+}", true],
    ["/{x}/{p+}", "/{y}/{q+}", true],
    ["/", "/", true],
    // a literal where the other has a param: ordered by precedence, not the same shape
    ["/a/{x}", "/a/b", false],
    ["/{x}/b", "/a/{y}", false],
    ["/a/b", "/a/c", false],
    // a param where the other has a greedy tail
    ["/a/{x}", "/a/{p+}", false],
    ["/a/b", "/a/{p+}", false],
    // different lengths
    ["/a", "/a/b", false],
    ["/a/{x}", "/a/{x}/{y}", false],
    ["/", "/a", false],
    ["/a/{p+}", "/a/b/{q+}", false],
    ["/a/{p+}", "/{x}/{y}", false],
  ])("%s vs %s -> %s", (a, b, same) => {
    expect(sameShape(t(a), t(b))).toBe(same);
    expect(sameShape(t(b), t(a))).toBe(same);
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

  it("precedence is decided at the first segment where templates differ, from the left", () => {
    const root = trie([
      ["/a/{x}/{z}", "GET", 0],
      ["/{y}/b/d", "GET", 1],
    ]);
    // Both match: the literal `a` at the first segment wins, although the other has more literals.
    expect(matchRoute(root, segs("/a/b/d"), "GET")).toEqual({ action: 0, values: ["b", "d"] });
    expect(matchRoute(root, segs("/z/b/d"), "GET")).toEqual({ action: 1, values: ["z"] });
  });

  it("backtracks out of a literal branch that dead-ends into the parameter that matches", () => {
    const root = trie([
      ["/a/{x}/c", "GET", 0],
      ["/{y}/b/d", "GET", 1],
    ]);
    expect(matchRoute(root, segs("/a/b/d"), "GET")).toEqual({ action: 1, values: ["a"] });
    expect(matchRoute(root, segs("/a/b/c"), "GET")).toEqual({ action: 0, values: ["b"] });
    expect(matchRoute(root, segs("/a/z/d"), "GET")).toBeNull();
  });

  it("a literal endpoint next to its parameterised sibling: each request reaches its own action", () => {
    const root = trie([
      ["/v1/customers/{customer}", "GET", 0],
      ["/v1/customers/search", "GET", 1],
      ["/repos/{o}/{r}/issues/{n}", "GET", 2],
      ["/repos/{o}/{r}/issues/{n}/comments", "GET", 3],
      ["/repos/{o}/{r}/issues/comments", "GET", 4],
      ["/repos/{o}/{r}/issues/comments/{id}", "GET", 5],
    ]);
    expect(matchRoute(root, segs("/v1/customers/search"), "GET")).toEqual({ action: 1, values: [] });
    expect(matchRoute(root, segs("/v1/customers/cus_1"), "GET")).toEqual({ action: 0, values: ["cus_1"] });
    expect(matchRoute(root, segs("/repos/o/r/issues/comments"), "GET")?.action).toBe(4);
    expect(matchRoute(root, segs("/repos/o/r/issues/7"), "GET")?.action).toBe(2);
    expect(matchRoute(root, segs("/repos/o/r/issues/comments/9"), "GET")).toEqual({
      action: 5,
      values: ["o", "r", "9"],
    });
    expect(matchRoute(root, segs("/repos/o/r/issues/7/comments"), "GET")).toEqual({
      action: 3,
      values: ["o", "r", "7"],
    });
  });

  it("a greedy tail loses to a literal and to a parameter at the same segment", () => {
    const root = trie([
      ["/commits/{ref+}", "GET", 0],
      ["/commits/{sha}/pulls", "GET", 1],
      ["/commits/latest", "GET", 2],
      ["/tree/{p+}", "GET", 3],
      ["/tree/{x}", "GET", 4],
      ["/tree/{x}/{y}", "GET", 5],
    ]);
    expect(matchRoute(root, segs("/commits/abc/pulls"), "GET")).toEqual({ action: 1, values: ["abc"] });
    expect(matchRoute(root, segs("/commits/latest"), "GET")).toEqual({ action: 2, values: [] });
    // The literal and parameter branches dead-end: the greedy tail takes the rest.
    expect(matchRoute(root, segs("/commits/abc"), "GET")).toEqual({ action: 0, values: ["abc"] });
    expect(matchRoute(root, segs("/commits/heads/main"), "GET")).toEqual({ action: 0, values: ["heads/main"] });
    expect(matchRoute(root, segs("/commits/latest/x"), "GET")).toEqual({ action: 0, values: ["latest/x"] });
    expect(matchRoute(root, segs("/commits/a/pulls/x"), "GET")).toEqual({ action: 0, values: ["a/pulls/x"] });
    // Parameters of the same length win; only longer paths reach the greedy tail.
    expect(matchRoute(root, segs("/tree/a"), "GET")).toEqual({ action: 4, values: ["a"] });
    expect(matchRoute(root, segs("/tree/a/b"), "GET")).toEqual({ action: 5, values: ["a", "b"] });
    expect(matchRoute(root, segs("/tree/a/b/c"), "GET")).toEqual({ action: 3, values: ["a/b/c"] });
  });

  it("agrees with the precedence rule on every request, for many random catalogs", () => {
    // Reference: among the templates that match (method and path), the one ranking highest when
    // compared segment by segment from the left, literal > {param} > {param+}.
    const rank = { literal: 2, param: 1, greedy: 0 } as const;
    const matches = (t: TemplateSegment[], s: string[]): boolean => {
      for (const [i, seg] of t.entries()) {
        if (seg.kind === "greedy") return s.length > i;
        if (i >= s.length || (seg.kind === "literal" && seg.value !== s[i])) return false;
      }
      return t.length === s.length;
    };
    const beats = (a: TemplateSegment[], b: TemplateSegment[]): boolean => {
      for (const [i, x] of a.entries()) {
        const y = b[i];
        if (y === undefined) return false;
        if (rank[x.kind] !== rank[y.kind]) return rank[x.kind] > rank[y.kind];
      }
      return false;
    };
    // Every template of up to 3 segments over the literals a, b and {x}, with or without a greedy tail.
    const pieces = ["a", "b", "{x}"];
    let shapes = [""];
    const all: string[] = [];
    for (let n = 0; n <= 3; n++) {
      all.push(...shapes.map((p) => p || "/"));
      if (n < 3) all.push(...shapes.map((p) => `${p}/{g+}`));
      shapes = shapes.flatMap((p) => pieces.map((x) => `${p}/${x}`));
    }
    const requests: string[][] = [[]];
    for (let n = 1, level: string[][] = [[]]; n <= 4; n++) {
      level = level.flatMap((r) => ["a", "b", "c"].map((x) => [...r, x]));
      requests.push(...level);
    }
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T; // an index below the length
    let compared = 0;
    const wrong: string[] = [];
    let ambiguous = 0;
    for (let round = 0; round < 300; round++) {
      const catalog: { segs: TemplateSegment[]; method: string; action: number }[] = [];
      for (let k = 0; k < 10; k++) {
        const segs = parseTemplate(pick(all));
        const method = pick(["GET", "POST"]);
        // Same shape and method is what the compiler refuses; everything else is a legal catalog.
        if (catalog.some((c) => c.method === method && sameShape(c.segs, segs))) continue;
        catalog.push({ segs, method, action: catalog.length });
      }
      const root: RouteNode = {};
      for (const c of catalog) insertRoute(root, c.segs, c.method, c.action);
      for (const request of requests) {
        for (const method of ["GET", "POST"]) {
          const candidates = catalog.filter((c) => c.method === method && matches(c.segs, request));
          const best = candidates.filter((c) => !candidates.some((o) => o !== c && beats(o.segs, c.segs)));
          // After precedence exactly one candidate is left (or none).
          if (best.length > 1) ambiguous++;
          const got = matchRoute(root, request, method)?.action ?? null;
          if (got !== (best[0]?.action ?? null) && wrong.length < 5) {
            const names = catalog.map(
              (c) => `${c.method} /${c.segs.map((g) => ("value" in g ? g.value : g.kind)).join("/")}`,
            );
            wrong.push(`${method} /${request.join("/")} -> ${got} in ${names.join(", ")}`);
          }
          compared++;
        }
      }
    }
    expect(ambiguous).toBe(0);
    expect(wrong).toEqual([]);
    expect(compared).toBe(300 * requests.length * 2);
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
