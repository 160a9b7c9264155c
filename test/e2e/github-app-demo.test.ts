/**
 * `npm start`'s GitHub App (issue 14): the dev key `firebreak dev-keys` generates, the dev overlay's
 * `credentials: github` (policies/dev/dev.yaml), and the demo upstream's fake GitHub App
 * (demo/src/dev-app.ts) run by miniflare in workerd with the demo/.dev.vars dev-keys wrote, as `npm start`
 * runs it. Firebreak's own GitHub App provider, configured from the dev bundle and the gateway's
 * .dev.vars, mints a token for a triage task; the demo refuses what that token does not cover, revokes
 * it, and still answers the static dev token the gateway forwards until the request path mints per task.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_GITHUB_APP, DEV_INSTALLATION } from "../../demo/src/dev-app";
import { DEV_SECRETS, ensureDevKeys } from "../../src/cli/devkeys";
import { compilePolicies } from "../../src/compiler/compile";
import { permissionsFor } from "../../src/credentials/permissions";
import { providerFor } from "../../src/credentials/providers";
import { type CredentialProvider, systemClock } from "../../src/credentials/types";
import type { Bundle, ServiceSpec } from "../../src/policy/types";
import { type Demo, startDemo } from "./helpers/demo";
import { ROOT } from "./helpers/gateway";

let dir: string;
let vars: Record<string, string>;
let demoVars: Record<string, string>;
let demo: Demo;
let bundle: Bundle;
let github: ServiceSpec;

/** KEY='value' lines, as the e2e tests read .dev.vars. */
function devVars(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1");
  }
  return out;
}

/** The provider the dev bundle configures, its requests sent to the demo instead of 127.0.0.1:8788. */
function provider(secret: (name: string) => string | undefined = (n) => vars[n]): CredentialProvider {
  const toDemo = async (request: Request) => {
    const url = new URL(request.url);
    const body = request.method === "GET" || request.method === "DELETE" ? undefined : await request.text();
    return fetch(new URL(url.pathname + url.search, demo.url), {
      method: request.method,
      headers: request.headers,
      body,
    });
  };
  return providerFor(github, { fetch: toDemo, clock: systemClock, secret });
}

const call = (path: string, token: string, method = "GET") =>
  fetch(new URL(path, demo.url), { method, headers: { authorization: `Bearer ${token}` } });

const triage = () => bundle.profiles.find((p) => p.name === "triage")!;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "firebreak-github-app-"));
  await ensureDevKeys(dir);
  vars = devVars(join(dir, ".dev.vars"));
  demoVars = devVars(join(dir, "demo", ".dev.vars"));
  demo = await startDemo({ bindings: demoVars });
  const compiled = compilePolicies(join(ROOT, "policies"), { dev: true });
  if (!compiled.ok) throw new Error(compiled.problems.format());
  bundle = compiled.bundle;
  github = bundle.services.github!;
}, 120_000);

afterAll(async () => {
  await demo?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the dev GitHub App's key", () => {
  it("is generated once into .dev/ (owner-only), and kept on the next run", async () => {
    const file = join(dir, ".dev", "github-app-key.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const before = readFileSync(file, "utf8");
    await ensureDevKeys(dir);
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(devVars(join(dir, ".dev.vars")).GITHUB_APP_PRIVATE_KEY).toBe(vars.GITHUB_APP_PRIVATE_KEY);
  });

  it("its private half is the gateway's GITHUB_APP_PRIVATE_KEY; the demo gets the public half only", () => {
    const key = JSON.parse(readFileSync(join(dir, ".dev", "github-app-key.json"), "utf8"));
    expect(JSON.parse(vars.GITHUB_APP_PRIVATE_KEY!)).toEqual(key.private);
    expect(key.private).toMatchObject({ kty: "RSA", alg: "RS256" });
    expect(Object.keys(demoVars)).toEqual(["GITHUB_APP_PUBLIC_KEY"]);
    expect(JSON.parse(demoVars.GITHUB_APP_PUBLIC_KEY!)).toEqual(key.public);
    expect(demoVars.GITHUB_APP_PUBLIC_KEY).not.toContain('"d":');
    // The static token the gateway still forwards is there too.
    expect(vars.GITHUB_TOKEN).toBe(DEV_SECRETS.GITHUB_TOKEN);
  });
});

describe("the dev overlay and the demo name the same App", () => {
  it("github's provider is the demo's App, installation and account, at the demo's /github", () => {
    expect(github.provider).toEqual({
      provider: "github_app",
      app_id: DEV_GITHUB_APP.appId,
      installation_id: DEV_GITHUB_APP.installationId,
      account: DEV_GITHUB_APP.account,
      private_key: "GITHUB_APP_PRIVATE_KEY",
      api: "http://127.0.0.1:8788/github",
    });
    // Deploying never has it: the shipped bundle keeps the static secret.
    const prod = compilePolicies(join(ROOT, "policies"));
    expect(prod.ok && prod.bundle.services.github?.provider).toBeUndefined();
  });

  it("the installation grants every permission the example profiles' GitHub actions need", () => {
    const rank = { read: 1, write: 2, admin: 3 } as const;
    for (const p of bundle.profiles) {
      for (const [permission, level] of Object.entries(permissionsFor(p.actions, "github"))) {
        const granted = DEV_INSTALLATION.permissions[permission];
        expect(granted && rank[granted] >= rank[level], `${p.name}: ${permission}:${level}`).toBe(true);
      }
    }
  });
});

describe("a triage task's token from the demo's App", () => {
  it("is minted for exactly its repositories and the profile's permissions, covers them and nothing else, and dies when revoked", async () => {
    const app = provider();
    const minted = await app.mint({ actions: triage().actions, repositories: ["acme/api"] });
    if (!minted.ok) throw new Error(`${minted.code}: ${minted.detail}`);
    const token = minted.credential.secret;
    const asked = (await demo.received()).find((r) => r.path.endsWith("/access_tokens"));
    expect(asked?.path).toBe(`/github/app/installations/${DEV_GITHUB_APP.installationId}/access_tokens`);
    expect(JSON.parse(asked?.body ?? "{}")).toEqual({
      repositories: ["api"],
      permissions: permissionsFor(triage().actions, "github"),
    });
    // The App JWT it was asked with is recorded as a fingerprint only.
    expect(asked?.headers.authorization).toMatch(/^Bearer .{7}…\(\d+ chars\)$/);

    expect((await call("/github/repos/acme/api/issues/1", token)).status).toBe(200);
    // Another repository of the installation: not this token's.
    const other = await call("/github/repos/acme/web/issues/1", token);
    expect([other.status, ((await other.json()) as { message: string }).message]).toEqual([404, "Not Found"]);
    // A merge needs contents:write, which triage's actions do not.
    const merge = await call("/github/repos/acme/api/pulls/1/merge", token, "PUT");
    expect(merge.status).toBe(403);
    expect(merge.headers.get("x-accepted-github-permissions")).toBe("contents=write");

    const revoked = await app.revoke(minted.credential);
    expect(revoked).toEqual({ ok: true, revoked: true });
    const after = await call("/github/repos/acme/api/issues/1", token);
    expect([after.status, ((await after.json()) as { message: string }).message]).toEqual([401, "Bad credentials"]);
  });

  it("is refused for a repository the installation does not have (GitHub's 422), and for another key (401)", async () => {
    const missing = await provider().mint({ actions: triage().actions, repositories: ["acme/secret"] });
    expect(missing.ok ? null : [missing.code, missing.status]).toEqual(["credential.refused", 422]);
    const { generateKeyPair, exportJWK } = await import("jose");
    const stranger = JSON.stringify(
      await exportJWK((await generateKeyPair("RS256", { extractable: true })).privateKey),
    );
    const forged = await provider(() => stranger).mint({ actions: triage().actions, repositories: ["acme/api"] });
    expect(forged.ok ? null : [forged.code, forged.status]).toEqual(["credential.refused", 401]);
  });
});

describe("the static dev token, as the gateway forwards it today", () => {
  it("still reaches the demo's GitHub look-alike", async () => {
    const res = await call("/github/repos/acme/api/issues/1", DEV_SECRETS.GITHUB_TOKEN!);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ number: 1, title: "Login fails with SSO" });
  });
});

describe("a demo without the App's public key", () => {
  it("answers the App endpoints 503 with what to run, and the look-alike routes as before", async () => {
    const bare = await startDemo();
    try {
      const minted = await fetch(
        new URL(`/github/app/installations/${DEV_GITHUB_APP.installationId}/access_tokens`, bare.url),
        {
          method: "POST",
          headers: { authorization: "Bearer x.y.z", "content-type": "application/json" },
          body: "{}",
        },
      );
      expect(minted.status).toBe(503);
      expect(((await minted.json()) as { message: string }).message).toContain("npx firebreak dev-keys");
      const issue = await fetch(new URL("/github/repos/acme/api/issues/1", bare.url), {
        headers: { authorization: `Bearer ${DEV_SECRETS.GITHUB_TOKEN}` },
      });
      expect(issue.status).toBe(200);
    } finally {
      await bare.dispose();
    }
  }, 60_000);
});
