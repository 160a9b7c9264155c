/**
 * Signed bundles on the operator's side (docs/bundles.md): `firebreak signing-key` makes the Ed25519
 * key, `firebreak build --sign` signs what it built (`signBuilt`), `firebreak push` uploads the bundle and
 * then its head to the BUNDLES KV namespace with `wrangler kv key put`, the command an operator would
 * type. The private key is read from a file (`--key FILE`) or FIREBREAK_SIGNING_KEY, never from the repo.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import {
  bundleKey,
  HEAD_KEY,
  SIGNED_BUNDLE_FORMAT,
  type SignedBundleFile,
  sha256Hex,
  signBundle,
} from "../policy/signed";

export const SIGNING_KEY_ENV = "FIREBREAK_SIGNING_KEY";
/** The KV binding the worker reads (wrangler.toml). */
export const BUNDLES_BINDING = "BUNDLES";

export const SIGNING_KEY_HELP = `firebreak signing-key [--kid KID] [--out FILE]
  print a new private Ed25519 bundle-signing key (JWK, with a kid) on stdout, or write it to FILE
  (mode 600); its public half goes to stderr, ready for FIREBREAK_BUNDLE_KEYS in wrangler.toml.
  Keep the private key outside the repository (docs/bundles.md).`;

export const PUSH_HELP = `firebreak push [--local | --remote] [--dev] [--file FILE] [--env ENV] [--dry-run]
               [--persist-to DIR] [--rollback --key FILE [--sequence N]]
  upload a signed bundle (default build/bundle.signed.json; --dev: build/dev/bundle.signed.json) to
  the BUNDLES KV namespace: its bytes under bundle/<sha256>, then its head under "head", with
  \`wrangler kv key put --binding BUNDLES\`. --local (default) writes what \`npm start\` reads (--dev
  also selects --env dev); --remote the deployed namespace. Workers take it within 10 s of KV
  showing it. --rollback signs FILE's bundle again under a new, higher sequence with rollback: true
  (an older bundle back in force); --dry-run prints the wrangler commands instead of running them;
  --persist-to is wrangler's, for a local state directory other than .wrangler/state.`;

/** Where `build --sign` writes: beside the bundle it signed. */
export const signedPathOf = (bundlePath: string): string => join(dirname(bundlePath), "bundle.signed.json");

/** `signing-key` and `push`: bad input is one line and the command's help, exit 2, as for the others. */
export async function bundlesCommand(command: "signing-key" | "push", rest: string[]): Promise<number> {
  try {
    return await (command === "push" ? pushCommand(rest) : signingKeyCommand(rest));
  } catch (e) {
    console.error(
      `firebreak ${command}: ${(e as Error).message}\n\n${command === "push" ? PUSH_HELP : SIGNING_KEY_HELP}`,
    );
    return 2;
  }
}

async function signingKeyCommand(rest: string[]): Promise<number> {
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(SIGNING_KEY_HELP);
    return 0;
  }
  const { values } = parseArgs({ args: rest, options: { kid: { type: "string" }, out: { type: "string" } } });
  const kid = values.kid ?? `bundle-${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;
  const { private: privateJwk, public: publicJwk } = await newSigningKey(kid);
  const text = `${JSON.stringify(privateJwk)}\n`;
  if (values.out) writeFileSync(values.out, text, { mode: 0o600 });
  else process.stdout.write(text);
  console.error(`private key${values.out ? ` in ${values.out}` : " above"}: keep it outside the repository.
Public half, for FIREBREAK_BUNDLE_KEYS in wrangler.toml ([vars], reviewed with the config):
${JSON.stringify({ keys: [publicJwk] })}`);
  return 0;
}

/** A new Ed25519 bundle-signing key pair with `kid`. */
export async function newSigningKey(kid: string): Promise<{ private: JWK; public: JWK }> {
  const pair = await generateKeyPair("EdDSA", { extractable: true });
  return {
    private: { ...(await exportJWK(pair.privateKey)), kid, alg: "EdDSA" },
    public: { ...(await exportJWK(pair.publicKey)), kid, alg: "EdDSA", use: "sig" },
  };
}

/** The private signing key: `--key FILE`, else FIREBREAK_SIGNING_KEY (the JWK itself, or a file name). */
export function signingKey(file: string | undefined): JWK {
  const source = file ?? process.env[SIGNING_KEY_ENV];
  if (!source) throw new Error(`signing needs --key FILE or ${SIGNING_KEY_ENV}`);
  const text = file || !source.trim().startsWith("{") ? readFileSync(source, "utf8") : source;
  try {
    return JSON.parse(text) as JWK;
  } catch {
    throw new Error("the signing key is not a JWK (JSON)");
  }
}

/** A sequence from `--sequence N`, or the time in ms: later signings order after earlier ones. */
export function sequenceOf(value: string | undefined): number {
  if (value === undefined) return Date.now();
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0)
    throw new Error("--sequence must be a positive integer");
  return n;
}

/** `build --sign`: signs the bundle just written at `bundlePath`, writes bundle.signed.json beside it. */
export async function signBuilt(
  bundlePath: string,
  opts: { key?: string; sequence?: string; rollback?: boolean },
): Promise<string> {
  const bundle = readFileSync(bundlePath, "utf8");
  const file = await signBundle(bundle, signingKey(opts.key), {
    sequence: sequenceOf(opts.sequence),
    rollback: opts.rollback,
    signedAt: new Date(),
  });
  const out = signedPathOf(bundlePath);
  writeFileSync(out, JSON.stringify(file));
  console.error(
    `signed ${file.bundle_sha256.slice(0, 12)} with ${file.key_id}, sequence ${file.sequence}${opts.rollback ? " (rollback)" : ""} -> ${out}`,
  );
  return out;
}

/** A signed bundle file, checked: the bytes are the ones its head names (a rebuilt bundle.json is not). */
export async function readSigned(path: string): Promise<SignedBundleFile> {
  if (!existsSync(path)) throw new Error(`no signed bundle at ${path}: run firebreak build --sign first`);
  const file = JSON.parse(readFileSync(path, "utf8")) as SignedBundleFile;
  if (file?.format !== SIGNED_BUNDLE_FORMAT || typeof file.head !== "string" || typeof file.bundle !== "string") {
    throw new Error(`${path} is not a ${SIGNED_BUNDLE_FORMAT} file (firebreak build --sign)`);
  }
  if ((await sha256Hex(file.bundle)) !== file.bundle_sha256)
    throw new Error(`${path}: the bundle is not the one signed`);
  return file;
}

/** The two `wrangler kv key put` argument lists, bundle first: a head never names bytes not yet there. */
export function pushCommands(
  file: Pick<SignedBundleFile, "bundle_sha256" | "head">,
  bundlePath: string,
  target: { remote: boolean; env: string | undefined; persistTo?: string | undefined },
): string[][] {
  const common = ["--binding", BUNDLES_BINDING, target.remote ? "--remote" : "--local"];
  if (target.env) common.push("--env", target.env);
  if (target.persistTo && !target.remote) common.push("--persist-to", target.persistTo);
  return [
    ["kv", "key", "put", bundleKey(file.bundle_sha256), "--path", bundlePath, ...common],
    ["kv", "key", "put", HEAD_KEY, file.head, ...common],
  ];
}

async function pushCommand(rest: string[]): Promise<number> {
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(PUSH_HELP);
    return 0;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      local: { type: "boolean", default: false },
      remote: { type: "boolean", default: false },
      dev: { type: "boolean", default: false },
      file: { type: "string" },
      env: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      rollback: { type: "boolean", default: false },
      key: { type: "string" },
      sequence: { type: "string" },
      "persist-to": { type: "string" },
    },
  });
  if (values.local && values.remote) throw new Error("--local or --remote, not both");
  const dev = values.dev || process.env.FIREBREAK_DEV === "1";
  const path = values.file ?? (dev ? "build/dev/bundle.signed.json" : "build/bundle.signed.json");
  let file = await readSigned(path);
  if (values.rollback) {
    file = await signBundle(file.bundle, signingKey(values.key), {
      sequence: sequenceOf(values.sequence),
      rollback: true,
      signedAt: new Date(),
    });
  }
  const tmp = mkdtempSync(join(tmpdir(), "firebreak-push-"));
  try {
    const bundlePath = join(tmp, "bundle.json");
    writeFileSync(bundlePath, file.bundle);
    const env = values.env ?? (dev ? "dev" : undefined);
    const commands = pushCommands(file, bundlePath, { remote: values.remote, env, persistTo: values["persist-to"] });
    for (const args of commands) {
      if (values["dry-run"]) {
        console.log(`npx wrangler ${args.map(quote).join(" ")}`);
        continue;
      }
      const run = spawnSync(process.execPath, [wranglerBin(), ...args], { stdio: ["ignore", "inherit", "inherit"] });
      if (run.status !== 0) {
        console.error(`firebreak push: wrangler ${args.slice(0, 4).join(" ")} failed; the head was not changed`);
        return 1;
      }
    }
  } finally {
    // A dry run's commands name the bytes' file: it is kept for them.
    if (!values["dry-run"]) rmSync(tmp, { recursive: true, force: true });
  }
  if (!values["dry-run"]) {
    console.error(
      `pushed ${file.bundle_sha256.slice(0, 12)} (sequence ${file.sequence}${values.rollback ? ", rollback" : ""}) to ${BUNDLES_BINDING} ${values.remote ? "(remote)" : "(local)"}`,
    );
  }
  return 0;
}

function wranglerBin(): string {
  return createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js", { paths: [process.cwd()] });
}

const quote = (s: string) => (/^[\w./:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
