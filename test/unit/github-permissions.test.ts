/**
 * The GitHub App permission map (src/credentials/github-permissions.json): what the import writes from
 * GitHub's description and the reviewed table, only permissions GitHub's own `app-permissions` schema
 * names, every GitHub action the shipped profiles allow covered, and the highest level winning.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { githubPermissionMap, permissionMapText } from "../../src/catalog/github-permissions";
import { githubDocument } from "../../src/catalog/sources/github";
import { compilePolicies } from "../../src/compiler/compile";
import { grantsOf, permissionsFor, unmappedActions } from "../../src/credentials/permissions";

const ROOT = join(import.meta.dirname, "..", "..");
const doc = githubDocument() as unknown as {
  paths: Record<string, Record<string, { "x-github"?: Record<string, unknown> }>>;
  components: { schemas: Record<string, { properties: Record<string, { enum: string[] }> }> };
};
const catalog = parse(readFileSync(join(ROOT, "policies/services/github.yaml"), "utf8")) as {
  actions: Record<string, never>;
};
const shipped = readFileSync(join(ROOT, "src/credentials/github-permissions.json"), "utf8");
const map = JSON.parse(shipped) as Record<string, string>;

describe("the GitHub App permission map", () => {
  it("is what `firebreak catalog import github` writes from the catalog and GitHub's description", () => {
    expect(shipped).toBe(permissionMapText(githubPermissionMap(catalog.actions, doc)));
  });

  it("names only permissions and levels of GitHub's app-permissions schema", () => {
    const schema = doc.components.schemas["app-permissions"]!.properties;
    const bad = Object.entries(map).flatMap(([action, grants]) =>
      grants === "none" || grants === "unavailable"
        ? []
        : grants
            .split(",")
            .filter((g) => {
              const [permission, level] = g.split(":") as [string, string];
              return !schema[permission]?.enum.includes(level);
            })
            .map((g) => `${action}: ${g}`),
    );
    expect(bad).toEqual([]);
  });

  it("covers every GitHub action the shipped task profiles allow", () => {
    const compiled = compilePolicies(join(ROOT, "policies"));
    if (!compiled.ok) throw new Error(compiled.problems.format());
    const github = compiled.bundle.profiles.flatMap((p) => p.actions.filter((a) => a.startsWith("github:")));
    expect(github.length).toBeGreaterThan(10);
    expect(unmappedActions(github)).toEqual([]);
    const triage = compiled.bundle.profiles.find((p) => p.name === "triage")!;
    expect(permissionsFor(triage.actions)).toEqual({
      contents: "read",
      issues: "write",
      metadata: "read",
      pull_requests: "read",
    });
    const release = compiled.bundle.profiles.find((p) => p.name === "release")!;
    expect(permissionsFor(release.actions)).toEqual({ contents: "write", metadata: "read", pull_requests: "read" });
  });

  it("says what GitHub's documentation says for the endpoints tasks use", () => {
    expect({
      "issues.get": grantsOf("issues.get"),
      "issues.comments.create": grantsOf("issues.comments.create"),
      "pulls.get": grantsOf("pulls.get"),
      "pulls.merge": grantsOf("pulls.merge"),
      "contents.get": grantsOf("contents.get"),
      "git.refs.create": grantsOf("git.refs.create"),
      "releases.create": grantsOf("releases.create"),
      "repos.get": grantsOf("repos.get"),
      "repos.update": grantsOf("repos.update"),
      "checks.create": grantsOf("checks.create"),
      "repos.create_commit_status": grantsOf("repos.create_commit_status"),
      "meta.root": grantsOf("meta.root"),
      "users.get_authenticated": grantsOf("users.get_authenticated"),
    }).toEqual({
      "issues.get": "issues:read",
      "issues.comments.create": "issues:write",
      "pulls.get": "pull_requests:read",
      "pulls.merge": "contents:write",
      "contents.get": "contents:read",
      "git.refs.create": "contents:write",
      "releases.create": "contents:write",
      "repos.get": "metadata:read",
      "repos.update": "administration:write",
      "checks.create": "checks:write",
      "repos.create_commit_status": "statuses:write",
      "meta.root": "none",
      "users.get_authenticated": "unavailable",
    });
  });

  it("gives each permission the highest level any action needs; other services add nothing", () => {
    expect(
      permissionsFor(["github:issues.get", "github:issues.create", "github:issues.list", "slack:chat.postMessage"]),
    ).toEqual({
      issues: "write",
    });
    // A GraphQL mutation that is an alias of a REST action needs what that action needs.
    expect(permissionsFor(["github:graphql.mergePullRequest"])).toEqual({ contents: "write" });
    // Public endpoints need none; ones an installation token cannot call are unmapped for the compiler.
    expect(permissionsFor(["github:meta.root", "github:users.get_authenticated"])).toEqual({});
    expect(unmappedActions(["github:meta.root", "github:users.get_authenticated", "github:nosuch.action"])).toEqual([
      "github:users.get_authenticated",
      "github:nosuch.action",
    ]);
    // A prototype key is not an action.
    expect(permissionsFor(["github:constructor", "github:__proto__"])).toEqual({});
  });
});
