/**
 * The dev GitHub App behind `npm start`: the fake GitHub of demo/src/github-app.ts, mounted on the
 * demo's /github, as the installation the dev overlay's `credentials: github` names (policies/dev/dev.yaml;
 * test/e2e/github-app-demo.test.ts keeps the two in step). Its public key comes from the demo's own
 * .dev.vars (GITHUB_APP_PUBLIC_KEY, written by `firebreak dev-keys`; the gateway's .dev.vars holds the
 * private half).
 *
 *   POST   /github/app/installations/{id}/access_tokens   an installation token for the repositories and permissions asked
 *   DELETE /github/installation/token                     revokes the token it is called with
 *   any other /github call with a token it minted         refused as GitHub refuses what the token does not cover
 *
 * Any other credential (the static dev GITHUB_TOKEN the gateway still forwards) goes on to the look-alike
 * routes as before. Without a public key the App endpoints answer 503 and say how to get one.
 */
import type { MiddlewareHandler } from "hono";
import { FakeGithubApp, type FakeInstallation } from "./github-app";

export const DEV_GITHUB_APP = { appId: "900001", installationId: "900002", account: "acme" } as const;

/** acme's repositories the App is installed on, with every permission the shipped profiles' actions need. */
export const DEV_INSTALLATION: FakeInstallation = {
  id: DEV_GITHUB_APP.installationId,
  account: DEV_GITHUB_APP.account,
  repositories: ["api", "web", "docs"],
  permissions: { issues: "write", pull_requests: "write", contents: "write", metadata: "read" },
};

const APP_PATHS = /^\/(app\/installations\/[^/]+\/access_tokens|installation\/token)$/;

let app: { key: string; fake: FakeGithubApp } | undefined;

/** The fake App for this public key (one per isolate; a new key, after `dev-keys` made one, a new App). */
export function devGithubApp(publicKey: string | undefined): FakeGithubApp | null {
  if (!publicKey) return null;
  if (app?.key !== publicKey) {
    const fake = new FakeGithubApp({
      appId: DEV_GITHUB_APP.appId,
      publicKey: JSON.parse(publicKey),
      installations: [DEV_INSTALLATION],
    });
    app = { key: publicKey, fake };
  }
  return app.fake;
}

/**
 * Middleware on the demo's GitHub routes (mounted at /github). The demo's recorder has read the body
 * already (Hono keeps it), so the App is handed a copy.
 */
export function githubAppRoutes(): MiddlewareHandler {
  return async (c, next) => {
    const path = c.req.path.replace(/^\/github/, "");
    const env = c.env as { GITHUB_APP_PUBLIC_KEY?: string } | undefined;
    const fake = devGithubApp(env?.GITHUB_APP_PUBLIC_KEY);
    if (!fake) {
      if (!APP_PATHS.test(path)) return next();
      const message = "The demo's GitHub App has no public key: run `npx firebreak dev-keys` and restart npm start.";
      return c.json({ message }, 503);
    }
    const raw = c.req.raw;
    const body = raw.method === "GET" || raw.method === "HEAD" ? undefined : await c.req.text();
    const copy = new Request(raw.url, { method: raw.method, headers: raw.headers, body });
    const answer = (await fake.handle(copy, path)) ?? fake.authorize(copy, path);
    return answer ?? next();
  };
}
