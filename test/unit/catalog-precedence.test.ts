/**
 * The shipped catalogs (policies/) under route precedence: wherever a template has a literal at a
 * segment where a same-method sibling that can match the same requests has a parameter, a concrete
 * request for each classifies to its own action. Requests go through the worker's own stages 1 and 3
 * (route, then classify), so what is checked is what the gateway decides and forwards.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { loadBundle } from "../../src/policy/load";
import { parseTemplate, sameShape, type TemplateSegment } from "../../src/policy/routes";
import type { ActionSpec } from "../../src/policy/types";
import { classify, resourceOf } from "../../src/request/classify";
import { route } from "../../src/request/route";

const compiled = compilePolicies(join(import.meta.dirname, "..", "..", "policies"));
if (!compiled.ok) throw new Error(compiled.problems.format());
const bundle = loadBundle(compiled.bundle);

/** Classifies `method /<service>/<path>` as the worker does; the action name, resource and params. */
function classified(method: string, path: string) {
  const url = `https://firebreak.example.com${path}`;
  const routed = route({ method, url, headers: new Headers() }, bundle.spec.services, undefined);
  if (!routed.ok) return { refused: routed.reason };
  const c = classify(bundle, routed.request);
  if (!c.ok) return { refused: c.reason };
  return { action: c.value.spec.name, resource: resourceOf(c.value.spec, c.value.params, {}), params: c.value.params };
}

/** True when some request path matches both templates (the old overlap test, here to find the pairs). */
function canMatchSameRequest(a: TemplateSegment[], b: TemplateSegment[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return !x && !y;
    if (x.kind === "greedy" || y.kind === "greedy") return true;
    if (x.kind === "literal" && y.kind === "literal" && x.value !== y.value) return false;
  }
}

/** A segment of `a` is a literal where `b` has a `{param}` or is inside `b`'s greedy tail. */
function literalOverParam(a: TemplateSegment[], b: TemplateSegment[]): boolean {
  const tail = b.findIndex((s) => s.kind === "greedy");
  return a.some((s, i) => s.kind === "literal" && (b[i]?.kind === "param" || (tail !== -1 && i >= tail)));
}

/**
 * A concrete path for a template: its literals, and values that are no literal of any catalog for its
 * parameters (`v4-issue_number`), so no literal sibling can take them. A greedy tail gets `tail`
 * segments.
 */
function instance(segs: TemplateSegment[], tail: number): string {
  const parts = segs.map((s, i) => {
    if (s.kind === "literal") return s.value;
    if (s.kind === "param") return `v${i}-${s.name}`;
    return Array.from({ length: tail }, (_, k) => `g${k}-${s.name}`).join("/");
  });
  return `/${parts.join("/")}`;
}

interface Pair {
  method: string;
  literal: ActionSpec;
  param: ActionSpec;
}

/** Every same-method pair of one service's actions where one has a literal over the other's parameter. */
function pairs(): Pair[] {
  const out: Pair[] = [];
  const actions = bundle.spec.actions.map((a) => ({ a, segs: parseTemplate(a.path) }));
  for (const x of actions) {
    for (const y of actions) {
      if (x === y || x.a.service !== y.a.service) continue;
      if (!canMatchSameRequest(x.segs, y.segs) || sameShape(x.segs, y.segs)) continue;
      if (!literalOverParam(x.segs, y.segs)) continue;
      for (const method of x.a.method.filter((m) => y.a.method.includes(m)))
        out.push({ method, literal: x.a, param: y.a });
    }
  }
  return out;
}

const PAIRS = pairs();

describe("shipped catalogs: literal next to parameter", () => {
  it("has such pairs in every service that needs them (the check is not vacuous)", () => {
    const services = new Set(PAIRS.map((p) => p.literal.service));
    expect([...services].sort()).toEqual(["drive", "github", "gmail", "jira", "notion", "stripe"]);
    expect(PAIRS.length).toBeGreaterThan(20);
  });

  it.each(PAIRS.map((p) => [`${p.method} ${p.literal.name} vs ${p.param.name}`, p] as const))(
    "%s: each request reaches its own action",
    (_, { method, literal, param }) => {
      for (const spec of [literal, param]) {
        const segs = parseTemplate(spec.path);
        for (const tail of segs.some((s) => s.kind === "greedy") ? [1, 3] : [0]) {
          const path = instance(segs, tail);
          const got = classified(method, `/${spec.service}${path}`);
          expect(got, `${method} ${path}`).toMatchObject({ action: spec.name });
          // The resource renders from the path alone (no declared argument in these templates).
          if (spec.resource?.every((p) => !("arg" in p))) expect(got.resource, `${method} ${path}`).not.toBe("");
        }
      }
    },
  );
});

describe("shipped catalogs: the endpoints that used to be misclassified", () => {
  it.each([
    // Stripe: a bulk search is not a retrieve of the object named "search".
    ["GET", "/stripe/v1/customers/search?query=email:'a@example.com'", "stripe:customers.search", ""],
    ["GET", "/stripe/v1/customers/cus_123", "stripe:customers.get", "customer:cus_123"],
    ["GET", "/stripe/v1/charges/search?query=amount>999", "stripe:charges.search", ""],
    ["GET", "/stripe/v1/charges/ch_1", "stripe:charges.get", "charge:ch_1"],
    ["GET", "/stripe/v1/payment_intents/search", "stripe:payment_intents.search", ""],
    ["GET", "/stripe/v1/payment_intents/pi_1", "stripe:payment_intents.get", "payment_intent:pi_1"],
    ["GET", "/stripe/v1/subscriptions/search", "stripe:subscriptions.search", ""],
    ["GET", "/stripe/v1/subscriptions/sub_1", "stripe:subscriptions.get", "subscription:sub_1"],
    // A template matches only its methods: the search is GET only, so this is an update of "search".
    ["POST", "/stripe/v1/customers/search", "stripe:customers.update", "customer:search"],
    // GitHub: repository-wide comments and events are not issue or pull request "comments".
    ["GET", "/github/repos/acme/api/issues/comments", "github:issues.comments.list_for_repo", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/issues/comments/77", "github:issues.comments.get", "repo:acme/api"],
    ["PATCH", "/github/repos/acme/api/issues/comments/77", "github:issues.comments.update", "repo:acme/api"],
    ["DELETE", "/github/repos/acme/api/issues/comments/77", "github:issues.comments.delete", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/issues/12/comments", "github:issues.comments.list", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/issues/12", "github:issues.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/issues/events", "github:issues.events.list_for_repo", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/issues/events/5", "github:issues.events.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/pulls/comments", "github:pulls.comments.list_for_repo", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/pulls/comments/9", "github:pulls.comments.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/pulls/7/comments", "github:pulls.comments.list", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/pulls/7", "github:pulls.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/releases/latest", "github:releases.get_latest", "repo:acme/api"],
    ["HEAD", "/github/repos/acme/api/releases/latest", "github:releases.get_latest", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/releases/42", "github:releases.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/releases/42/assets", "github:releases.assets.list", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/releases/assets/3", "github:releases.assets.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/releases/tags/assets", "github:releases.get_by_tag", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/commits/abc123/pulls", "github:repos.commits.pulls.list", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/commits/abc123/status", "github:repos.commits.status.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/commits/abc123", "github:repos.commits.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/commits/heads/main", "github:repos.commits.get", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/actions/secrets/public-key", "github:actions.secrets.public_key", "repo:acme/api"],
    ["GET", "/github/repos/acme/api/actions/secrets/NPM_TOKEN", "github:actions.secrets.get", "repo:acme/api"],
    ["PUT", "/github/repos/acme/api/actions/secrets/NPM_TOKEN", "github:actions.secrets.put", "repo:acme/api"],
  ])("%s %s -> %s", (method, url, action, resource) => {
    expect(classified(method, url)).toMatchObject({ action, resource });
  });

  it("keeps the parameter values of the action that won", () => {
    expect(classified("GET", "/github/repos/acme/api/releases/tags/assets").params).toEqual({
      owner: "acme",
      repo: "api",
      tag: "assets",
    });
    expect(classified("GET", "/github/repos/acme/api/commits/heads/main").params).toEqual({
      owner: "acme",
      repo: "api",
      ref: "heads/main",
    });
    expect(classified("GET", "/github/repos/acme/api/commits/abc123/pulls").params).toEqual({
      owner: "acme",
      repo: "api",
      commit_sha: "abc123",
    });
  });

  it("a bulk search is labelled as one: read, at least medium risk, personal data", () => {
    const spec = (name: string) => {
      const a = bundle.spec.actions[bundle.actionIndex.get(name) ?? -1];
      if (!a) throw new Error(`no action ${name}`);
      return a;
    };
    for (const name of ["stripe:customers.search", "stripe:charges.search"]) {
      expect(spec(name)).toMatchObject({ kind: "read", resource: null });
      expect(["medium", "high", "critical"]).toContain(spec(name).risk);
      expect(spec(name).data).toContain("pii");
    }
    expect(spec("stripe:charges.search").data).toContain("financial");
  });
});
