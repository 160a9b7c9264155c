/**
 * The credential providers inside workerd (WebCrypto, jose, the runtime's fetch), against the fake
 * token servers of the outbound fake (test/helpers/token-servers.ts). Not yet through the gateway:
 * phase 2 of issue 14 wires them into the task object; this shows the module runs where it will.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { githubAppProvider } from "../../src/credentials/github-app";
import { clientCredentialsProvider } from "../../src/credentials/oauth";
import { systemClock } from "../../src/credentials/types";
import keys from "../fixtures/keys.json" with { type: "json" };

const SECRETS: Record<string, string> = {
  APP_KEY: JSON.stringify(keys.rs256.private),
  CLIENT_SECRET: "canary-oauth-client-3c7d1e",
};
const deps = { fetch: (r: Request) => fetch(r), clock: systemClock, secret: (n: string) => SECRETS[n] };

interface Record_ {
  github: { tokenRequests: unknown[]; revocations: unknown[]; refusals: unknown[] };
  oauth: { tokenRequests: unknown[]; revocations: unknown[] };
}
const record = async () => (await (await fetch("http://recorder.test/token-servers")).json()) as Record_;

beforeEach(async () => {
  await fetch("http://recorder.test/reset");
});

describe("inside workerd", () => {
  it("a GitHub App installation token is minted for the task's repository and permissions, and revoked", async () => {
    const provider = githubAppProvider(
      "github",
      {
        provider: "github_app",
        app_id: "4242",
        installation_id: "42",
        account: "acme",
        private_key: "APP_KEY",
        api: "https://api.github.com",
      },
      deps,
    );
    const minted = await provider.mint({
      actions: ["github:issues.get", "github:issues.comments.create"],
      repositories: ["acme/api"],
    });
    if (!minted.ok) throw new Error(minted.detail);
    const auth = { headers: { authorization: `Bearer ${minted.credential.secret}` } };
    expect((await fetch("https://api.github.com/repos/acme/api/issues/1", auth)).status).toBe(200);
    expect((await fetch("https://api.github.com/repos/acme/web/issues/1", auth)).status).toBe(404);
    expect((await fetch("https://api.github.com/repos/acme/api/pulls/1", auth)).status).toBe(403);
    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: true });
    expect((await fetch("https://api.github.com/repos/acme/api/issues/1", auth)).status).toBe(401);
    const seen = await record();
    expect(seen.github.tokenRequests).toEqual([
      { installation: "42", repositories: ["api"], permissions: { issues: "write" }, status: 201 },
    ]);
    expect(seen.github.revocations).toEqual([{ status: 204 }]);
    expect(seen.github.refusals).toEqual([
      { method: "GET", path: "/repos/acme/web/issues/1", status: 404 },
      { method: "GET", path: "/repos/acme/api/pulls/1", status: 403 },
      { method: "GET", path: "/repos/acme/api/issues/1", status: 401 },
    ]);
  });

  it("an OAuth client-credentials token is minted for the scopes asked", async () => {
    const provider = clientCredentialsProvider(
      {
        provider: "oauth2_client_credentials",
        token_url: "https://oauth.test.example/token",
        client_id: "firebreak-test",
        client_secret: "CLIENT_SECRET",
        scopes: ["contacts.read"],
        revocation_url: "https://oauth.test.example/revoke",
      },
      deps,
    );
    const minted = await provider.mint({});
    if (!minted.ok) throw new Error(minted.detail);
    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: true });
    const seen = await record();
    expect(seen.oauth.tokenRequests).toMatchObject([
      { grant_type: "client_credentials", scope: ["contacts.read"], status: 200 },
    ]);
    expect(seen.oauth.revocations).toEqual([{ client_id: "firebreak-test", status: 200 }]);
  });
});
