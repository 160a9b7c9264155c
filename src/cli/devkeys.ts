/**
 * The local dev identity issuer: an ES256 key pair generated on first use in .dev/ (git-ignored,
 * never committed), its public JWKS written to .dev.vars for `wrangler dev`, and `firebreak token`.
 * Only the dev overlay (policies/dev/) trusts it, and only `--dev` bundles include that overlay.
 * Also the dev task-signing key (.dev/task-key.json), written to .dev.vars as FIREBREAK_TASK_KEY: the
 * local stand-in for the Worker secret (.dev.vars is git-ignored too).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { newTaskKey } from "../identity/task-token";

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

export async function ensureDevKeys(root: string): Promise<DevKey> {
  const dir = join(root, ".dev");
  const file = join(dir, "issuer-key.json");
  let key: DevKey;
  if (existsSync(file)) {
    key = JSON.parse(readFileSync(file, "utf8"));
  } else {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const kid = `dev-${Date.now().toString(36)}`;
    key = {
      private: { ...(await exportJWK(pair.privateKey)), kid, alg: "ES256" },
      public: { ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" },
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
  }
  const taskKeyFile = join(dir, "task-key.json");
  let taskKey: JWK;
  if (existsSync(taskKeyFile)) {
    taskKey = JSON.parse(readFileSync(taskKeyFile, "utf8"));
  } else {
    taskKey = await newTaskKey("dev-task");
    mkdirSync(dir, { recursive: true });
    writeFileSync(taskKeyFile, `${JSON.stringify(taskKey, null, 2)}\n`, { mode: 0o600 });
  }
  const vars = [
    `DEV_ISSUER_JWKS='${JSON.stringify({ keys: [key.public] })}'`,
    `FIREBREAK_TASK_KEY='${JSON.stringify(taskKey)}'`,
    ...Object.entries(DEV_SECRETS).map(([k, v]) => `${k}=${v}`),
    // Approval notifications go to the demo upstream, which records them (GET /_demo/requests).
    "FIREBREAK_APPROVAL_WEBHOOK=http://127.0.0.1:8788/_demo/webhook",
  ];
  writeFileSync(join(root, ".dev.vars"), `# written by firebreak dev-keys; local only\n${vars.join("\n")}\n`);
  return key;
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
