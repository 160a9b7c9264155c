/**
 * The Google Workspace (gmail, drive, calendar), Jira and Notion catalogs against their SDKs (issue
 * 10): every operation each source reads classifies, on the shipped bundle's route trie for its
 * service, to exactly its own action; coverage is 100%; the shipped catalogs are exactly what the
 * import gives; and the guardrails written by label (rules/workspace-guardrails.yaml) refuse every
 * matching operation of the full catalogs, as a table.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { coverageOf } from "../../src/catalog/coverage";
import { catalogText, generate } from "../../src/catalog/generate";
import { type ActionEntry, readOverrides } from "../../src/catalog/overrides";
import type { CatalogSource, SourceOperation } from "../../src/catalog/source";
import { source as calendar } from "../../src/catalog/sources/calendar";
import { source as drive } from "../../src/catalog/sources/drive";
import { source as gmail } from "../../src/catalog/sources/gmail";
import { foldCustomMethods } from "../../src/catalog/sources/googleapis";
import { source as jira } from "../../src/catalog/sources/jira";
import { source as notion } from "../../src/catalog/sources/notion";
import { compilePolicies } from "../../src/compiler/compile";
import { loadBundle } from "../../src/policy/load";
import { matchRoute } from "../../src/policy/routes";
import { explainRequest } from "../../src/request/explain";

const POLICIES = join(import.meta.dirname, "..", "..", "policies");
const SERVICES = join(POLICIES, "services");
const SOURCES: Record<string, CatalogSource> = { gmail, drive, calendar, jira, notion };
/** At least this many operations per source (the SDK versions pinned in package.json have more). */
const AT_LEAST: Record<string, number> = { gmail: 80, drive: 60, calendar: 35, jira: 600, notion: 70 };

const compiled = compilePolicies(POLICIES);
if (!compiled.ok) throw new Error(compiled.problems.format());
const bundle = loadBundle(JSON.parse(JSON.stringify(compiled.bundle)));

const shipped = (name: string) =>
  (parse(readFileSync(join(SERVICES, `${name}.yaml`), "utf8")) as { actions: Record<string, ActionEntry> }).actions;

/** A concrete value for each `{param}`: no literal of any of these APIs (`Xcalendar_id9`). */
const concrete = (path: string) => path.replace(/\{([A-Za-z_]+)\+?\}/g, "X$19");

/** The action `method path` classifies to on the service's own route trie, or null. */
function matched(service: string, method: string, path: string): string | null {
  const spec = bundle.spec.services[service];
  if (!spec) throw new Error(`no service ${service} in the bundle`);
  const m = matchRoute(spec.routes, path.slice(1).split("/"), method);
  return m ? (bundle.spec.actions[m.action]?.name ?? null) : null;
}

const AGENT = { issuer: "workloads", iss: "https://oidc.acme.example", sub: "any-agent", claims: {} };
const explain = (sub: string, method: string, url: string) =>
  explainRequest(bundle, { ...AGENT, sub }, { method, url }, new Date("2026-05-01T12:00:00Z"));

const ops: Record<string, SourceOperation[]> = {};
beforeAll(() => {
  for (const [name, source] of Object.entries(SOURCES)) ops[name] = source.operations();
}, 60_000);

describe.each(Object.keys(SOURCES))("%s: the catalog is its SDK", (name) => {
  const overrides = readOverrides(join(SERVICES, `${name}.overrides.yaml`));
  const actionName = (op: SourceOperation) => `${name}:${overrides.actions?.[op.id]?.name ?? op.name}`;

  it("reads every operation, one per method and path", () => {
    const list = ops[name] ?? [];
    expect(list.length).toBeGreaterThanOrEqual(AT_LEAST[name] ?? 1);
    const shapes = list.map((op) => `${op.method} ${op.path}`);
    expect(new Set(shapes).size).toBe(shapes.length);
    expect(new Set(list.map((op) => op.id)).size).toBe(list.length);
  });

  it("classifies every operation to exactly its own action", () => {
    const wrong: string[] = [];
    for (const op of ops[name] ?? []) {
      const methods = overrides.actions?.[op.id]?.method ?? op.method;
      for (const method of Array.isArray(methods) ? methods : [methods]) {
        const got = matched(name, method, concrete(op.path));
        if (got !== actionName(op)) wrong.push(`${method} ${op.path}: ${got} instead of ${actionName(op)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("covers 100% of its source", () => {
    const c = coverageOf(ops[name] ?? [], shipped(name));
    expect(c.missing).toEqual([]);
    expect(c.covered).toBe(c.total);
  });

  it("ships exactly what the import gives, with no action the source lacks", () => {
    const generated = generate(ops[name] ?? [], overrides);
    expect(generated.unused).toEqual([]);
    const text = catalogText(generated, overrides, SOURCES[name]?.origin ?? "");
    expect(readFileSync(join(SERVICES, `${name}.yaml`), "utf8")).toBe(text);
    expect(Object.keys(overrides.extra ?? {})).toEqual([]);
  });

  it("reads as reads and deletes as deletes (or admin)", () => {
    for (const [action, a] of Object.entries(shipped(name))) {
      const methods = Array.isArray(a.method) ? a.method : [a.method];
      if (methods.includes("GET")) expect([action, a.kind]).toEqual([action, "read"]);
      if (methods.includes("DELETE")) expect(["delete", "admin"]).toContain(a.kind);
    }
  });
});

describe("guardrails by label over the full catalogs", () => {
  const labelled = (data: string) =>
    Object.keys(SOURCES).flatMap((service) =>
      Object.entries(shipped(service))
        .filter(([, a]) => a.data?.includes(data))
        .map(([action, a]) => [`${service}:${action}`, service, a] as const),
    );

  it("refuses every sharing, permission, membership and settings change (data:admin), whoever asks", () => {
    const rows = labelled("admin");
    expect(rows.length).toBeGreaterThan(60);
    for (const [action, service, a] of rows) {
      const method = Array.isArray(a.method) ? (a.method[0] ?? "POST") : a.method;
      const got = explain("inbox-assistant", method, `/${service}${concrete(a.path)}`);
      // The organisation-wide label guardrail (kind:admin, data:secrets) may refuse it too.
      const rules = got.decision.rules.filter((r) => r !== "no-admin-or-secrets");
      expect([action, got.action, got.decision.effect, rules]).toEqual([
        action,
        action,
        "deny",
        ["no-sharing-changes"],
      ]);
    }
  });

  it("asks a person before the inbox assistant sends mail by any route", () => {
    const sends = labelled("messages").filter(
      ([action, , a]) => action === "gmail:users.messages.send" || a.same_effect_as?.includes("users.messages.send"),
    );
    expect(sends.map(([action]) => action).sort()).toEqual([
      "gmail:users.drafts.send",
      "gmail:users.drafts.send.upload",
      "gmail:users.messages.send",
      "gmail:users.messages.send.upload",
    ]);
    for (const [action, , a] of sends) {
      const got = explain("inbox-assistant", "POST", `/gmail${concrete(a.path).replace("XuserId9", "me")}`);
      expect([action, got.decision.effect]).toEqual([action, "approval_required"]);
    }
  });

  it("labels the bulk reads of personal data (data:pii) in every service", () => {
    const pii = new Set(labelled("pii").map(([action]) => action));
    for (const action of [
      "gmail:users.messages.list",
      "gmail:users.threads.get",
      "drive:files.list",
      "calendar:events.list",
      "jira:userSearch.findUsers",
      "jira:issueSearch.searchForIssuesUsingJqlEnhancedSearch",
      "notion:users.list",
      "notion:search",
    ])
      expect(pii).toContain(action);
  });

  it("labels the reads of many people or items at once data:bulk_pii, and every bulk_pii read also pii", () => {
    const bulk = labelled("bulk_pii");
    expect(bulk.map(([action]) => action)).toEqual(
      expect.arrayContaining([
        "gmail:users.messages.list",
        "drive:files.list",
        "calendar:events.list",
        "jira:userSearch.findUsers",
        "jira:issueSearch.searchForIssuesUsingJqlEnhancedSearchPost",
        "notion:users.list",
        "notion:dataSources.query",
      ]),
    );
    for (const [action, , a] of bulk)
      expect([action, a.kind, a.data]).toEqual([action, "read", expect.arrayContaining(["pii"])]);
  });
});

describe("Google custom methods (`{id}:verb`)", () => {
  it("fold into one action per method and resource, of the strongest kind", () => {
    const op = (name: string, path: string, kind: SourceOperation["kind"]): SourceOperation => ({
      id: name,
      name,
      method: kind === "read" ? "GET" : "POST",
      path,
      kind,
      deprecated: false,
      description: name,
    });
    const folded = foldCustomMethods([
      op("keys.get", "/v1/keys/{keyId}", "read"),
      op("keys.disable", "/v1/keys/{keyId}:disable", "write"),
      op("keys.obliterate", "/v1/keys/{keyId}:obliterate", "delete"),
      op("keys.start", "/v1/keys:start", "write"),
    ]);
    expect(folded.map((o) => [o.name, o.path, o.kind])).toEqual([
      ["keys.get", "/v1/keys/{keyId}", "read"],
      ["keys.start", "/v1/keys:start", "write"],
      ["keys.disable_obliterate", "/v1/keys/{keyId}", "delete"],
    ]);
  });

  it("classify as the folded action when called with the verb", () => {
    const got = explain("inbox-assistant", "POST", "/gmail/gmail/v1/users/me/settings/cse/keypairs/kp1:obliterate");
    expect(got.action).toBe("gmail:users.settings.cse.keypairs.disable_enable_obliterate");
    expect(got.decision.rules).toContain("no-sharing-changes");
  });
});
