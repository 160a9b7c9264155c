/**
 * The local dev identity issuer: an ES256 key pair generated on first use in .dev/ (git-ignored,
 * never committed), its public JWKS written to .dev.vars for `wrangler dev`, and `firebreak token`.
 * Only the dev overlay (policies/dev/) trusts it, and only `--dev` bundles include that overlay.
 * Also the dev task-signing key (.dev/task-key.json), written to .dev.vars as FIREBREAK_TASK_KEY: the
 * local stand-in for the Worker secret (.dev.vars is git-ignored too); and the dev GitHub App's key
 * (.dev/github-app-key.json, RS256), the dev overlay's `credentials: github` (docs/credentials.md);
 * and the dev bundle-signing key (.dev/bundle-signing-key.json), whose public half is npm start's
 * FIREBREAK_BUNDLE_KEYS, so `firebreak build --dev --sign` + `firebreak push --dev` work locally
 * (docs/bundles.md).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { newTaskKey } from "../identity/task-token";
import { newSigningKey } from "./bundles";

export const DEV_ISSUER = "https://dev-issuer.firebreak.local";
export const DEV_AUDIENCE = "firebreak-dev";
/** The dev overlay's person issuer (approvers, operators): same dev key, its own `iss`. */
export const DEV_PEOPLE_ISSUER = "https://dev-people.firebreak.local";

/** Fake credentials for the demo upstream: recognisable, and worthless anywhere else. */
export const DEV_SECRETS: Record<string, string> = {
  GITHUB_TOKEN: "dev-github-token-not-real",
  SLACK_BOT_TOKEN: "dev-slack-token-not-real",
  STRIPE_SECRET_KEY: "dev-stripe-key-not-real",
  CRM_TOKEN: "dev-crm-token-not-real",
};

interface DevKey {
  private: JWK;
  public: JWK;
}

/**
 * The dev keys (generated once, kept in .dev/), then .dev.vars for the gateway and demo/.dev.vars for
 * the demo upstream (`wrangler dev -c demo/wrangler.toml` reads the one beside its config): the dev
 * GitHub App's private key is the gateway's GITHUB_APP_PRIVATE_KEY (a JWK: one line), its public half
 * is how the demo's fake GitHub (demo/src/dev-app.ts) checks the App JWT.
 */
export async function ensureDevKeys(root: string): Promise<DevKey> {
  const dir = join(root, ".dev");
  const key = await kept(join(dir, "issuer-key.json"), () => keyPair("ES256", `dev-${Date.now().toString(36)}`));
  const taskKey = await kept(join(dir, "task-key.json"), () => newTaskKey("dev-task"));
  const appKey = await kept(join(dir, "github-app-key.json"), () => keyPair("RS256", "dev-github-app"));
  const bundleKey = await kept(join(dir, "bundle-signing-key.json"), () =>
    newSigningKey("dev-bundle").then((k) => k.private),
  );
  const vars = [
    `DEV_ISSUER_JWKS='${JSON.stringify({ keys: [key.public] })}'`,
    `FIREBREAK_TASK_KEY='${JSON.stringify(taskKey)}'`,
    `GITHUB_APP_PRIVATE_KEY='${JSON.stringify(appKey.private)}'`,
    `FIREBREAK_BUNDLE_KEYS='${JSON.stringify({ keys: [publicHalf(bundleKey)] })}'`,
    ...Object.entries(DEV_SECRETS).map(([k, v]) => `${k}=${v}`),
    // Approval notifications go to the demo upstream, which records them (GET /_demo/requests).
    "FIREBREAK_APPROVAL_WEBHOOK=http://127.0.0.1:8788/_demo/webhook",
  ];
  writeFileSync(join(root, ".dev.vars"), `${HEADER}${vars.join("\n")}\n`);
  mkdirSync(join(root, "demo"), { recursive: true });
  writeFileSync(join(root, "demo", ".dev.vars"), `${HEADER}GITHUB_APP_PUBLIC_KEY='${JSON.stringify(appKey.public)}'\n`);
  return key;
}

const HEADER = "# written by firebreak dev-keys; local only\n";

const publicHalf = ({ d: _d, ...rest }: JWK): JWK => rest;

/** The JSON in `file`, or `make()` written there first (owner-only: it holds a private key). */
async function kept<T>(file: string, make: () => Promise<T>): Promise<T> {
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as T;
  const value = await make();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  return value;
}

async function keyPair(alg: "ES256" | "RS256", kid: string): Promise<DevKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return {
    private: { ...(await exportJWK(pair.privateKey)), kid, alg },
    public: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" },
  };
}

export async function mintDevToken(
  root: string,
  agent: string,
  opts: { ttl?: number; claims?: Record<string, unknown>; person?: boolean } = {},
): Promise<string> {
  const key = await ensureDevKeys(root);
  const privateKey = await importJWK(key.private, "ES256");
  return new SignJWT({ ...opts.claims })
    .setProtectedHeader({ alg: "ES256", kid: key.private.kid, typ: "JWT" })
    .setIssuer(opts.person ? DEV_PEOPLE_ISSUER : DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject(agent)
    .setIssuedAt()
    .setExpirationTime(`${opts.ttl ?? 3600}s`)
    .sign(privateKey);
}
