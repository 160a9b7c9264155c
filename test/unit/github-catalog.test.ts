/**
 * The shipped GitHub catalog against GitHub's own OpenAPI description (@octokit/openapi): every
 * operation of the document classifies, through the worker's route and classify stages, to exactly its
 * own action; no action lacks an operation unless it is a guard; and guardrail rules written by label
 * (no merge, no push, no admin, no bulk personal data, no secrets, no deletes) refuse every operation of
 * the full catalog they should, and nothing else, as a table over all of it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readOverrides } from "../../src/catalog/overrides";
import { githubDocument, githubOperations, nameOf, templateOf } from "../../src/catalog/sources/github";
import { compilePolicies } from "../../src/compiler/compile";
import { decide } from "../../src/policy/evaluate";
import { type LoadedBundle, loadBundle } from "../../src/policy/load";
import { parseTemplate, sameShape } from "../../src/policy/routes";
import type { ActionSpec } from "../../src/policy/types";
import { classify } from "../../src/request/classify";
import { explainRequest } from "../../src/request/explain";
import { route } from "../../src/request/route";

const POLICIES = join(import.meta.dirname, "..", "..", "policies");
const overrides = readOverrides(join(POLICIES, "services", "github.overrides.yaml"));
const { folded } = githubOperations();
/** The REST guards of `extra` (its GraphQL introspection action is not a route). */
const restExtra = Object.entries(overrides.extra ?? {})
  .filter(([, e]) => e.graphql === undefined)
  .map(([name]) => name);
const doc = githubDocument();

function compiled(dir: string): LoadedBundle {
  const result = compilePolicies(dir);
  if (!result.ok) throw new Error(result.problems.format());
  return loadBundle(result.bundle);
}

const shipped = compiled(POLICIES);
/** GraphQL root fields are actions too, classified by the document (test/unit/graphql-catalog.test.ts). */
const isGraphql = (b: LoadedBundle, a: ActionSpec): boolean => {
  const ep = b.spec.services.github?.graphql;
  const i = b.actionIndex.get(a.name) ?? -1;
  return ep !== null && ep !== undefined && [...Object.values(ep.query), ...Object.values(ep.mutation)].includes(i);
};
const github = shipped.spec.actions.filter((a) => a.service === "github" && !isGraphql(shipped, a));
const actionOf = (b: LoadedBundle, name: string): ActionSpec => {
  const spec = b.spec.actions[b.actionIndex.get(`github:${name}`) ?? -1];
  if (!spec) throw new Error(`no action github:${name}`);
  return spec;
};

interface SpecOperation {
  id: string;
  method: string;
  /** The document's own template (`/compare/{base}...{head}` included). */
  path: string;
}

const SPEC: SpecOperation[] = Object.entries(doc.paths).flatMap(([path, item]) =>
  (["get", "post", "put", "patch", "delete"] as const).flatMap((m) => {
    const op = item[m];
    return op ? [{ id: op.operationId, method: m.toUpperCase(), path }] : [];
  }),
);

/** The action an operation's requests must reach: its own, or its twin's when it was folded into one. */
function expectedName(id: string): string {
  const into = folded.find((f) => f.id === id)?.into ?? id;
  return overrides.actions?.[into]?.name ?? nameOf(into);
}

/**
 * A concrete request path for a document template: literals as they are, parameters as values that are
 * no literal of the API (`v4-issue_number`), `{base}...{head}` as `v5-base...v5-head`, and a parameter
 * the catalog lets span segments as `tail` segments.
 */
function instance(path: string, tail: number): string {
  const segs = path.split("/").slice(1);
  return `/${segs
    .map((seg, i) => {
      const value = seg.replace(/\{([^}]+)\}/g, (_, name: string) => `v${i}-${name}`);
      if (i < segs.length - 1 || tail <= 1 || !/^\{[^}]+\}$/.test(seg)) return value;
      return Array.from({ length: tail }, (_, k) => `${value}-${k}`).join("/");
    })
    .join("/")}`;
}

function classified(b: LoadedBundle, method: string, path: string): string {
  const url = `https://firebreak.example.com/github${path}`;
  const routed = route({ method, url, headers: new Headers() }, b.spec.services, undefined);
  if (!routed.ok) return `refused ${routed.reason}`;
  const c = classify(b, routed.request);
  return c.ok ? c.value.spec.name : `refused ${c.reason}`;
}

const greedy = (spec: ActionSpec) => spec.path.endsWith("+}");

describe("GitHub's OpenAPI description, operation by operation", () => {
  it("is the whole description: every operation, one fold, no same-shape twins left", () => {
    expect(SPEC.length).toBeGreaterThanOrEqual(1200);
    expect(folded).toEqual([{ id: "repos/compare-commits", into: "repos/compare-commits-with-basehead" }]);
    expect(github.length).toBe(SPEC.length - folded.length + restExtra.length);
    const shapes = github.map((a) => ({ a, segs: parseTemplate(a.path) }));
    for (const x of shapes) {
      const twins = shapes.filter(
        (y) => y !== x && sameShape(x.segs, y.segs) && y.a.method.some((m) => x.a.method.includes(m)),
      );
      expect(
        twins.map((t) => t.a.name),
        x.a.name,
      ).toEqual([]);
    }
  });

  it.each(SPEC.map((op) => [`${op.method} ${op.path} (${op.id})`, op] as const))(
    "%s classifies to its own action",
    (_, op) => {
      const want = `github:${expectedName(op.id)}`;
      const spec = actionOf(shipped, expectedName(op.id));
      for (const tail of greedy(spec) ? [1, 3] : [1]) {
        expect(classified(shipped, op.method, instance(op.path, tail)), `${op.method} ${op.path}`).toBe(want);
      }
      if (op.method === "GET") expect(classified(shipped, "HEAD", instance(op.path, 1))).toBe(want);
    },
  );

  it("no action is absent from the description unless it is a guard in `extra`, always refused", () => {
    const fromSpec = new Set(SPEC.map((op) => `github:${expectedName(op.id)}`));
    const orphans = github.filter((a) => !fromSpec.has(a.name));
    expect(orphans.map((a) => a.name).sort()).toEqual(restExtra.map((n) => `github:${n}`).sort());
    for (const guard of orphans) expect(guard.forbidden, guard.name).toMatch(/\w/);
    expect(classified(shipped, "GET", "/repositories/42/contents/README.md")).toBe("github:repositories.by_id");
    // POST /graphql is no REST route: the pipeline hands it to graphqlCalls.
    expect(classified(shipped, "POST", "/graphql")).toBe("refused action.unknown");
  });

  it("a parameter spans segments only as the last segment: {ref} before /status stays one segment", () => {
    const byPath = (p: string) => github.filter((a) => a.path === p).map((a) => a.name);
    expect(byPath("/repos/{owner}/{repo}/commits/{ref+}")).toEqual(["github:repos.commits.get"]);
    expect(byPath("/repos/{owner}/{repo}/commits/{ref}/status")).toEqual(["github:repos.commits.status.get"]);
    expect(byPath("/repos/{owner}/{repo}/contents/{path+}").length).toBe(3);
    expect(github.filter((a) => a.path.includes("+}/")).map((a) => a.name)).toEqual([]);
    // Every name in the greedy list spans segments somewhere, always in the last segment.
    for (const name of overrides.greedy ?? []) {
      expect(
        github.some((a) => a.path.endsWith(`/{${name}+}`)),
        name,
      ).toBe(true);
    }
    expect(templateOf("/repos/{owner}/{repo}/compare/{base}...{head}")).toBe(
      "/repos/{owner}/{repo}/compare/{basehead}",
    );
  });
});

/** Operations the labels must cover, by what the description says they do (not by their labels). */
const BRANCH_WRITERS = [
  "repos/merge",
  "repos/merge-upstream",
  "repos/create-or-update-file-contents",
  "repos/delete-file",
  "git/update-ref",
  "pulls/merge-async",
  "code-scanning/commit-autofix",
  "migrations/start-import",
  "migrations/update-import",
];
/** They change a branch's contents too and are labelled so (source_code writes), without an alias. */
const LABELLED_BRANCH_WRITERS = ["pulls/update-branch", "repos/create-deployment"];
const BULK_PII = [
  "orgs/list-members",
  "orgs/list-public-members",
  "orgs/list-outside-collaborators",
  "orgs/list-pending-invitations",
  "teams/list-members-in-org",
  "users/list",
  "users/list-emails-for-authenticated-user",
  "users/list-followers-for-user",
  "search/users",
  "repos/list-collaborators",
  "repos/list-contributors",
];
const MEMBERSHIP =
  /\/(collaborators|outside_collaborators|members|memberships|public_members|teams|invitations|repository_invitations|organization-roles|permissions|protection|rulesets|hooks|keys|gpg_keys|ssh_signing_keys|blocks|personal-access-tokens)(\/|$)/;
const CODE_WRITE =
  /\/(contents|git|merges|merge-upstream|merge|merge-async|update-branch|import|autofix\/commits)(\/|$)/;
/** DELETEs a person decided are writes: unlocking an issue, removing a label or a review request. */
const DELETE_AS_WRITE = ["issues.unlock", "issues.labels.remove", "pulls.requested_reviewers.remove"];

const specOf = (id: string) => actionOf(shipped, expectedName(id));
const aliasesMerge = (a: ActionSpec, b: LoadedBundle, seen = new Set<string>()): boolean =>
  a.same_effect_as.some((t) => {
    if (t === "github:pulls.merge") return true;
    if (seen.has(t)) return false;
    seen.add(t);
    const next = b.spec.actions[b.actionIndex.get(t) ?? -1];
    return next !== undefined && aliasesMerge(next, b, seen);
  });

describe("labels rules can rely on, across the whole catalog", () => {
  it.each(BRANCH_WRITERS)("%s changes a branch: same_effect_as pulls.merge, source_code", (id) => {
    expect(aliasesMerge(specOf(id), shipped), id).toBe(true);
    expect(specOf(id).data, id).toContain("source_code");
  });

  it.each(LABELLED_BRANCH_WRITERS)("%s changes a branch: a source_code write", (id) => {
    expect(specOf(id)).toMatchObject({ kind: "write", data: expect.arrayContaining(["source_code"]) });
  });

  it("every write under contents, git, merges or imports carries source_code", () => {
    const bare = SPEC.filter((op) => op.method !== "GET" && CODE_WRITE.test(op.path)).filter(
      (op) => !specOf(op.id).data.includes("source_code"),
    );
    expect(bare.map((op) => op.id)).toEqual([]);
  });

  it("every change of permissions, membership, protection, hooks or keys is admin", () => {
    const bare = SPEC.filter((op) => op.method !== "GET" && MEMBERSHIP.test(op.path)).filter(
      (op) => specOf(op.id).kind !== "admin",
    );
    expect(bare.map((op) => `${op.method} ${op.path}`)).toEqual([]);
  });

  it("every operation on secrets or tokens carries secrets", () => {
    const bare = SPEC.filter((op) => /\/(secrets|access_tokens|token|registration-token)(\/|$)/.test(op.path)).filter(
      (op) => !specOf(op.id).data.includes("secrets"),
    );
    expect(bare.map((op) => op.id)).toEqual([]);
  });

  it.each(BULK_PII)("%s reads personal data in bulk: pii", (id) => {
    expect(specOf(id).data).toContain("pii");
  });

  it("every DELETE is a delete or an admin change, but for the writes a person named", () => {
    const others = github.filter((a) => a.method.includes("DELETE") && a.kind !== "delete" && a.kind !== "admin");
    expect(others.map((a) => a.name.slice("github:".length)).sort()).toEqual(DELETE_AS_WRITE.sort());
  });
});

const GUARDRAILS = `rules:
  - { id: allow-all, effect: allow, actions: ["github:*"] }
  - { id: no-merge, effect: deny, actions: ["github:pulls.merge"] }
  - { id: no-push, effect: deny, actions: ["data:source_code"], when: 'action.kind != "read"' }
  - { id: no-admin, effect: deny, actions: ["kind:admin"] }
  - { id: no-bulk-pii, effect: deny, actions: ["data:pii"] }
  - { id: no-secrets, effect: deny, actions: ["data:secrets"] }
  - { id: no-delete, effect: deny, actions: ["kind:delete"] }
`;

/** The full catalog with nothing but the guardrails above (and an allow-all to see what they leave). */
function guardrailBundle(): { bundle: LoadedBundle; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "firebreak-github-guardrails-"));
  mkdirSync(join(dir, "services"));
  mkdirSync(join(dir, "rules"));
  copyFileSync(join(POLICIES, "firebreak.yaml"), join(dir, "firebreak.yaml"));
  copyFileSync(join(POLICIES, "services", "github.yaml"), join(dir, "services", "github.yaml"));
  copyFileSync(join(POLICIES, "services", "github.graphql"), join(dir, "services", "github.graphql"));
  writeFileSync(join(dir, "rules", "guardrails.yaml"), GUARDRAILS);
  return { bundle: compiled(dir), dir };
}

/** The guardrails that must refuse an action, from its labels as the catalog states them. */
function refusedBy(a: ActionSpec, b: LoadedBundle): string[] {
  const out: string[] = [];
  if (a.name === "github:pulls.merge" || aliasesMerge(a, b)) out.push("no-merge");
  if (a.data.includes("source_code") && a.kind !== "read") out.push("no-push");
  if (a.kind === "admin") out.push("no-admin");
  if (a.data.includes("pii")) out.push("no-bulk-pii");
  if (a.data.includes("secrets")) out.push("no-secrets");
  if (a.kind === "delete") out.push("no-delete");
  return out;
}

describe("guardrails written by label, over every action of the full catalog", () => {
  const { bundle, dir } = guardrailBundle();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const agent = { issuer: "workloads", iss: "https://oidc.acme.example", sub: "any-agent", claims: {} };
  const actions = bundle.spec.actions.filter((a) => a.service === "github");

  it("selects something for each guardrail (the table is not vacuous)", () => {
    const counts = Object.fromEntries(
      ["no-merge", "no-push", "no-admin", "no-bulk-pii", "no-secrets", "no-delete"].map((r) => [
        r,
        actions.filter((a) => refusedBy(a, bundle).includes(r)).length,
      ]),
    );
    expect(counts["no-merge"]).toBeGreaterThanOrEqual(BRANCH_WRITERS.length + 1);
    for (const n of Object.values(counts)) expect(n).toBeGreaterThan(5);
  });

  it.each(actions.map((a) => [a.name, a] as const))("%s", (_, a) => {
    const want = refusedBy(a, bundle);
    if (isGraphql(bundle, a)) {
      const request = { method: "POST", path: "/graphql", params: {}, query: {}, args: {}, headers: {} };
      const index = bundle.actionIndex.get(a.name) ?? -1;
      const got = decide(bundle, { agent, action: index, resource: "", request, task: {}, now: new Date() });
      if (want.length === 0) expect(got).toMatchObject({ effect: "allow", rules: ["allow-all"] });
      else expect(got).toMatchObject({ effect: "deny", reason: "policy.denied", rules: want });
      return;
    }
    const method = a.method[0]!; // the schema requires a method
    const url = `/github${instance(a.path.replace(/\{([a-z_]+)\+\}/, "{$1}"), 1)}`;
    const got = explainRequest(bundle, agent, { method, url, body: method === "GET" ? undefined : {} }, new Date());
    expect(got.action).toBe(a.name);
    if (a.forbidden !== null) expect(got.decision).toMatchObject({ effect: "deny", reason: "action.forbidden" });
    else if (want.length === 0) expect(got.decision).toMatchObject({ effect: "allow", rules: ["allow-all"] });
    else expect(got.decision).toMatchObject({ effect: "deny", reason: "policy.denied", rules: want });
  });
});
