/**
 * `credentials:` in firebreak.yaml and the dev overlay (src/compiler/credentials.ts): the provider a
 * service declares lands on its ServiceSpec; the mistakes one fixture cannot show each name their
 * file:line (test/compiler/broken.test.ts has the fixtures, test/fixtures/broken/credentials-*).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { configSchema } from "../../src/compiler/schema";
import { mintPlans } from "../../src/credentials/plan";

const OK = join(import.meta.dirname, "..", "fixtures", "broken", "credentials-ok");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** credentials-ok with its credentials entry replaced. */
function withCredentials(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "fb-credentials-"));
  dirs.push(dir);
  cpSync(OK, dir, { recursive: true });
  const config = readFileSync(join(dir, "firebreak.yaml"), "utf8").replace(/credentials:[\s\S]*$/, yaml);
  writeFileSync(join(dir, "firebreak.yaml"), config);
  return dir;
}

function problems(dir: string): string[] {
  const r = compilePolicies(dir);
  return r.ok
    ? []
    : r.problems.list.map((p) => `${p.where.replace(/^.*?firebreak\.yaml/, "firebreak.yaml")}: ${p.message}`);
}

describe("credentials", () => {
  it("a github_app service carries its provider, its API the service's upstream", () => {
    const r = compilePolicies(OK);
    if (!r.ok) throw new Error(r.problems.format());
    expect(r.bundle.services.svc?.provider).toEqual({
      provider: "github_app",
      app_id: "12345",
      installation_id: "67890",
      account: "acme",
      private_key: "APP_KEY",
      api: "https://api.example.com",
    });
  });

  it("the dev overlay replaces it, and may name a local token endpoint", () => {
    const r = compilePolicies(OK, { dev: true });
    if (!r.ok) throw new Error(r.problems.format());
    expect(r.bundle.services.svc?.provider).toEqual({
      provider: "oauth2_client_credentials",
      token_url: "http://127.0.0.1:8788/oauth/token",
      client_id: "firebreak-dev",
      client_secret: "CLIENT_SECRET",
      scopes: ["items.read"],
      revocation_url: null,
    });
  });

  it("a service without an entry has none: its static credential.secret", () => {
    const r = compilePolicies(withCredentials("credentials: {}\n"));
    if (!r.ok) throw new Error(r.problems.format());
    expect(r.bundle.services.svc?.provider).toBeUndefined();
  });

  it.each([
    [
      "an unknown service",
      "credentials:\n  shop:\n    provider: static\n    secret: API_TOKEN\n",
      'firebreak.yaml:11: credentials names unknown service "shop": remove it or fix the name',
    ],
    [
      "a key another provider reads",
      "credentials:\n  svc:\n    provider: static\n    secret: API_TOKEN\n    token_url: https://auth.example.com/token\n",
      "firebreak.yaml:14: token_url does not apply to provider static: remove it",
    ],
    [
      "a token endpoint over http outside the dev overlay",
      "credentials:\n  svc:\n    provider: oauth2_client_credentials\n    token_url: http://auth.example.com/token\n    client_id: fb\n    client_secret: CLIENT_SECRET\n",
      'firebreak.yaml:13: token_url "http://auth.example.com/token" must use https',
    ],
    [
      "a client secret without a client id",
      "credentials:\n  svc:\n    provider: token_exchange\n    token_url: https://auth.example.com/token\n    audience: https://api.example.com\n    client_secret: CLIENT_SECRET\n",
      "firebreak.yaml:15: client_secret needs client_id: add it",
    ],
  ])("%s is a problem at its line", (_, yaml, problem) => {
    expect(problems(withCredentials(yaml))).toEqual([problem]);
  });

  describe("a profile's oauth_scopes", () => {
    const OAUTH = [
      "credentials:",
      "  svc:",
      "    provider: oauth2_client_credentials",
      "    token_url: https://auth.example.com/token",
      "    client_id: fb",
      "    client_secret: CLIENT_SECRET",
      "    scopes: [items.read, items.write]",
      "",
    ].join("\n");
    /** credentials-ok with an OAuth credential for svc and one profile (`lines` under its name). */
    function withProfile(lines: string[], credentials = OAUTH): string {
      const dir = withCredentials(credentials);
      mkdirSync(join(dir, "profiles"));
      const profile = ["profiles:", "  - name: sync", '    actions: ["svc:items.get"]', ...lines, ""];
      writeFileSync(join(dir, "profiles", "sync.yaml"), profile.join("\n"));
      return dir;
    }
    const profileProblems = (dir: string) =>
      problems(dir).map((p) => p.replace(/^.*?profiles\/sync\.yaml/, "sync.yaml"));

    it("narrows what a task of the profile asks for; without it, the credential's scopes", () => {
      const narrowed = compilePolicies(withProfile(["    oauth_scopes:", "      svc: [items.read]"]));
      if (!narrowed.ok) throw new Error(narrowed.problems.format());
      const sync = narrowed.bundle.profiles.find((p) => p.name === "sync")!;
      expect(sync.oauth_scopes).toEqual({ svc: ["items.read"] });
      expect(mintPlans(narrowed.bundle.services, sync, null)[0]?.request).toEqual({ scopes: ["items.read"] });

      const plain = compilePolicies(withProfile([]));
      if (!plain.ok) throw new Error(plain.problems.format());
      const wide = plain.bundle.profiles.find((p) => p.name === "sync")!;
      expect(wide).not.toHaveProperty("oauth_scopes");
      expect(mintPlans(plain.bundle.services, wide, null)[0]?.request).toEqual({
        scopes: ["items.read", "items.write"],
      });
    });

    it.each([
      [
        "a scope the credential does not have",
        ["    oauth_scopes:", "      svc: [items.read, items.admin]"],
        OAUTH,
        "sync.yaml:5: scope \"items.admin\" is not one of svc's provider scopes (items.read items.write): add it to the credential's scopes in firebreak.yaml, or remove it here",
      ],
      [
        "a scope listed twice",
        ["    oauth_scopes:", "      svc: [items.read, items.read]"],
        OAUTH,
        'sync.yaml:5: scope "items.read" is listed twice: remove one',
      ],
      [
        "a service whose credential is not OAuth",
        ["    oauth_scopes:", "      svc: [items.read]"],
        "credentials: {}\n",
        "sync.yaml:5: oauth_scopes.svc: svc's credential is static, not an OAuth provider (oauth2_client_credentials or token_exchange): remove it",
      ],
      [
        "an unknown service",
        ["    oauth_scopes:", "      crm: [items.read]"],
        OAUTH,
        'sync.yaml:5: oauth_scopes names unknown service "crm": add policies/services/crm.yaml or fix the name',
      ],
    ])("%s is a problem at its line", (_, lines, credentials, problem) => {
      expect(profileProblems(withProfile(lines, credentials))).toEqual([problem]);
    });
  });

  it("is in the published schema (policies/schema/firebreak.schema.json), up to date", () => {
    const published = JSON.parse(
      readFileSync(join(import.meta.dirname, "..", "..", "policies", "schema", "firebreak.schema.json"), "utf8"),
    );
    expect(published).toEqual(JSON.parse(JSON.stringify(configSchema)));
    expect(Object.keys(published.properties)).toContain("credentials");
  });
});
