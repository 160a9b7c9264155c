/**
 * The fake token servers behind the outbound fake (test/helpers/upstream.ts), for the workers tests:
 *   api.github.com       GitHub App 4242 (its key: keys.rs256), installation 42 on `acme`: installation
 *                        tokens, their revocation, and refusals of calls a minted token does not cover
 *                        (demo/src/github-app.ts)
 *   oauth.test.example   client credentials and token exchange for client `firebreak-test`
 *                        (demo/src/oauth.ts); subject tokens of keys.rs256
 * What they were asked is read through `http://recorder.test/token-servers`, cleared with `/reset`.
 */
import { FakeGithubApp } from "../../demo/src/github-app.ts";
import { FakeOAuthServer } from "../../demo/src/oauth.ts";
import keys from "../fixtures/keys.json" with { type: "json" };

export const GITHUB_APP = { appId: "4242", installationId: "42", account: "acme" };
export const OAUTH_CLIENT = { id: "firebreak-test", secret: "canary-oauth-client-3c7d1e" };

export const githubApp = new FakeGithubApp({
  appId: GITHUB_APP.appId,
  publicKey: keys.rs256.public,
  installations: [
    {
      id: GITHUB_APP.installationId,
      account: GITHUB_APP.account,
      repositories: ["api", "web", "paged"],
      permissions: { issues: "write", pull_requests: "write", contents: "write", metadata: "read", checks: "write" },
    },
  ],
});

export const oauth = new FakeOAuthServer({
  clients: [{ ...OAUTH_CLIENT, scopes: ["contacts.read", "contacts.write"], audiences: ["https://crm.test.example"] }],
  subjectKey: keys.rs256.public,
  subjectAlgorithms: ["RS256"],
});

/** Their answer to a request (its body already read as `body`), or null to let the fake upstream answer. */
export async function tokenServersAnswer(request: Request, url: URL, body: string): Promise<Response | null> {
  const again = () =>
    new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: body === "" ? undefined : body,
    });
  if (url.hostname === "api.github.com")
    return (await githubApp.handle(again(), url.pathname)) ?? githubApp.authorize(request, url.pathname);
  if (url.hostname === "oauth.test.example")
    return (await oauth.handle(again(), url.pathname)) ?? oauth.authorize(request);
  return null;
}

export function tokenServersRecord() {
  return {
    github: {
      tokenRequests: githubApp.tokenRequests,
      revocations: githubApp.revocations,
      refusals: githubApp.refusals,
      issued: githubApp.issued,
      revokedIds: githubApp.revokedIds,
    },
    oauth: {
      tokenRequests: oauth.tokenRequests,
      revocations: oauth.revocations,
      issued: oauth.issued,
      revokedIds: oauth.revokedIds,
    },
  };
}

export function resetTokenServers(): void {
  for (const list of [
    githubApp.tokenRequests,
    githubApp.revocations,
    githubApp.refusals,
    oauth.tokenRequests,
    oauth.revocations,
    githubApp.issued,
    githubApp.revokedIds,
    oauth.issued,
    oauth.revokedIds,
  ])
    list.length = 0;
}
