/** The catalog importer's core (src/catalog/): defaults, overrides, re-import diffs, coverage, the CLI's usage. */
import { describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { coverageOf } from "../../src/catalog/coverage";
import { diffCatalogs, formatDiff } from "../../src/catalog/diff";
import { catalogText, generate } from "../../src/catalog/generate";
import type { Overrides } from "../../src/catalog/overrides";
import type { SourceOperation } from "../../src/catalog/source";
import { catalogCommand } from "../../src/cli/catalog";

const op = (o: Partial<SourceOperation> & Pick<SourceOperation, "id" | "method" | "path">): SourceOperation => ({
  name: o.id.replace("/", "."),
  deprecated: false,
  description: "",
  ...o,
});

const OPS: SourceOperation[] = [
  op({ id: "repos/get", method: "GET", path: "/repos/{owner}/{repo}", description: "Get a repository" }),
  op({ id: "repos/delete", method: "DELETE", path: "/repos/{owner}/{repo}" }),
  op({ id: "pulls/merge", method: "PUT", path: "/repos/{owner}/{repo}/pulls/{n}/merge", args: { sha: "string" } }),
  op({
    id: "repos/get-content",
    name: "repos.get_content",
    method: "GET",
    path: "/repos/{owner}/{repo}/contents/{path}",
  }),
  op({ id: "orgs/list-members", method: "GET", path: "/orgs/{org}/members", args: { role: "string" } }),
  op({ id: "old/thing", method: "GET", path: "/old", deprecated: true }),
];

const OVERRIDES: Overrides = {
  service: { service: "svc", upstream: "https://api.example.com", args_in: ["body"] },
  header: "An example API.",
  greedy: ["path"],
  resources: [
    { prefix: "/repos/{owner}", resource: "owner:{owner}" },
    { prefix: "/repos/{owner}/{repo}", resource: "repo:{owner}/{repo}" },
    { prefix: "/orgs/{org}", resource: "org:{org}" },
  ],
  labels: [
    { match: "orgs.*", data: ["pii"] },
    { match: "pulls.*", data: ["source_code"], risk: "critical" },
  ],
  actions: { "pulls/merge": { name: "pulls.merge_it", risk: "high", same_effect_as: ["repos.delete"] } },
  extra: {
    "repositories.by_id": {
      method: "GET",
      path: "/repositories/{id+}",
      kind: "admin",
      risk: "critical",
      forbidden: "no",
    },
  },
};

describe("generate", () => {
  const { actions, unused } = generate(OPS, OVERRIDES);

  it("fills what neither source nor overrides say: kind by method, risk by kind, the longest resource prefix", () => {
    expect(actions["repos.get"]).toEqual({
      method: "GET",
      path: "/repos/{owner}/{repo}",
      kind: "read",
      risk: "low",
      resource: "repo:{owner}/{repo}",
      description: "Get a repository",
    });
    expect(actions["repos.delete"]).toMatchObject({ kind: "delete", risk: "high" });
  });

  it("a person's decision wins over labels and defaults; label rules add data labels by glob", () => {
    expect(actions["pulls.merge_it"]).toMatchObject({
      kind: "write",
      risk: "high",
      data: ["source_code"],
      same_effect_as: ["repos.delete"],
      args: { sha: "string" },
    });
    expect(actions["orgs.list-members"]).toMatchObject({ data: ["pii"], resource: "org:{org}" });
  });

  it("declares arguments only where the service reads them: a GET of a body-only service has none", () => {
    expect(actions["orgs.list-members"]?.args).toBeUndefined();
  });

  it("greedy parameters span segments; deprecations are kept; extras are added; names sorted", () => {
    expect(actions["repos.get_content"]?.path).toBe("/repos/{owner}/{repo}/contents/{path+}");
    expect(actions["old.thing"]?.deprecated).toBe(true);
    expect(actions["repositories.by_id"]?.forbidden).toBe("no");
    expect(Object.keys(actions)).toEqual([...Object.keys(actions)].sort());
    expect(unused).toEqual([]);
  });

  it("reports override keys the source does not have, and refuses two actions of one name", () => {
    expect(generate(OPS, { ...OVERRIDES, actions: { "gone/op": { risk: "low" } } }).unused).toEqual(["gone/op"]);
    const twice = [...OPS, op({ id: "x", name: "repos.get", method: "POST", path: "/x" })];
    expect(() => generate(twice, OVERRIDES)).toThrow(/two operations are named repos.get/);
  });

  it("writes a catalog the compiler's format reads back, with the header and the service keys", () => {
    const text = catalogText({ actions, unused }, OVERRIDES, "example@1.0.0");
    expect(text).toMatch(/^# yaml-language-server: \$schema=\.\.\/schema\/service\.schema\.json\n/);
    expect(text).toContain("# An example API.");
    const back = parse(text);
    expect(back.service).toBe("svc");
    expect(back.actions).toEqual(actions);
  });
});

describe("re-import", () => {
  it("changes only what the source changed, and the person's decisions survive", () => {
    const before = generate(OPS, OVERRIDES).actions;
    const newer = [
      ...OPS.filter((o) => o.id !== "old/thing").map((o) =>
        o.id === "repos/get" ? { ...o, description: "Get a repository (new text)" } : o,
      ),
      op({ id: "repos/list", method: "GET", path: "/repos" }),
    ];
    const after = generate(newer, OVERRIDES).actions;
    const diff = diffCatalogs(before, after);
    expect(diff).toEqual({ added: ["repos.list"], removed: ["old.thing"], changed: { "repos.get": ["description"] } });
    expect(after["pulls.merge_it"]).toEqual(before["pulls.merge_it"]);
    expect(formatDiff(diff)).toBe("+ repos.list\n- old.thing\n~ repos.get (description)\n1 new, 1 removed, 1 changed");
    expect(formatDiff(diffCatalogs(after, after))).toBe("no changes");
  });
});

describe("coverage", () => {
  it("counts method + path shapes, parameter names and greedy marks aside", () => {
    const { actions } = generate(OPS, OVERRIDES);
    expect(coverageOf(OPS, actions)).toEqual({ covered: 6, total: 6, missing: [] });
    const { "repos.delete": _gone, ...less } = actions;
    expect(coverageOf(OPS, less)).toEqual({ covered: 5, total: 6, missing: ["DELETE /repos/{}/{}"] });
  });
});

describe("firebreak catalog: usage", () => {
  it("answers --help with 0 and an unknown command or option with 2 and one line of why", async () => {
    const out = vi.spyOn(console, "log").mockImplementation(() => {});
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect(await catalogCommand(["--help"])).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toContain("firebreak catalog <command>");
      expect(await catalogCommand(["frobnicate"])).toBe(2);
      expect(String(err.mock.calls.at(-1)?.[0])).toMatch(/^firebreak catalog: unknown command "frobnicate"/);
      expect(await catalogCommand(["coverage", "--bogus"])).toBe(2);
      expect(await catalogCommand(["import", "nosuch"])).toBe(2);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
