/**
 * The operator's side of signed bundles (src/cli/bundles.ts, docs/bundles.md): `signing-key`, `build
 * --sign`, and `push` (the wrangler commands it runs, in order, and once for real against a temporary
 * local KV state, read back with wrangler). What the CLI signs is verified with the worker's own check.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main";
import { type SignedBundleFile, trustedKeys, verifyHead } from "../../src/policy/signed";
import { captureConsole } from "../helpers/console";

const { out, err } = captureConsole();

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURE = join(ROOT, "test", "fixtures", "policies", "gateway");
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "firebreak-bundles-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  delete process.env.FIREBREAK_SIGNING_KEY;
});

/** `signing-key --out`: the private key file and the public JWKS it printed. */
async function newKey(kid = "k1"): Promise<{ file: string; jwks: string }> {
  const file = join(dir, `${kid}.json`);
  expect(await main(["signing-key", "--kid", kid, "--out", file])).toBe(0);
  const jwks = err
    .join("\n")
    .split("\n")
    .find((l) => l.startsWith('{"keys"')) as string;
  return { file, jwks };
}

async function build(args: string[]): Promise<SignedBundleFile> {
  const bundle = join(dir, "bundle.json");
  expect(await main(["build", "--policies", FIXTURE, "--out", bundle, "--sign", ...args]), err.join("\n")).toBe(0);
  return JSON.parse(readFileSync(join(dir, "bundle.signed.json"), "utf8"));
}

const inForce = { sequence: 0, compiler_version: "0.1.0", dev: false };

describe("--help", () => {
  it.each(["signing-key", "push"])("firebreak %s --help prints its usage and exits 0", async (command) => {
    expect(await main([command, "--help"])).toBe(0);
    expect(out.join("\n")).toMatch(new RegExp(`^firebreak ${command}\\b`));
    expect(err).toEqual([]);
  });

  it("firebreak --help lists them, and build --help names --sign", async () => {
    expect(await main(["--help"])).toBe(0);
    expect(await main(["build", "--help"])).toBe(0);
    const text = out.join("\n");
    for (const c of ["signing-key", "push"]) expect(text).toContain(`  ${c} `);
    expect(text).toContain("--sign --key FILE");
  });
});

describe("signing-key", () => {
  it("prints a private Ed25519 JWK with its kid, and a public JWKS without the private part", async () => {
    const stdout: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => stdout.push(String(s)) > 0);
    expect(await main(["signing-key", "--kid", "ops-2026"])).toBe(0);
    const priv = JSON.parse(stdout.join(""));
    expect(priv).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: "ops-2026", alg: "EdDSA" });
    expect(typeof priv.d).toBe("string");
    const jwks = JSON.parse(
      err
        .join("\n")
        .split("\n")
        .find((l) => l.startsWith('{"keys"')) as string,
    );
    expect(jwks.keys).toEqual([{ kty: "OKP", crv: "Ed25519", x: priv.x, kid: "ops-2026", alg: "EdDSA", use: "sig" }]);
  });

  it("--out writes the key owner-only", async () => {
    const { file } = await newKey();
    expect(out).toEqual([]);
    expect(readFileSync(file, "utf8")).toContain('"d"');
    const { statSync } = await import("node:fs");
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe("build --sign", () => {
  it("writes bundle.signed.json beside the bundle: a head the worker verifies, over the exact bytes", async () => {
    const { file, jwks } = await newKey();
    const signed = await build(["--key", file, "--sequence", "42"]);
    expect(signed.bundle).toBe(readFileSync(join(dir, "bundle.json"), "utf8"));
    const keys = await trustedKeys(jwks);
    if (!(keys instanceof Map)) throw new Error("keys did not import");
    const head = await verifyHead(signed.head, keys, inForce);
    expect(head).toMatchObject({ ok: true, key_id: "k1", payload: { sequence: 42, rollback: false } });
    expect(signed).toMatchObject({ sequence: 42, key_id: "k1" });
  });

  it("takes the key from FIREBREAK_SIGNING_KEY, and a time-ordered sequence by default", async () => {
    const { file } = await newKey();
    process.env.FIREBREAK_SIGNING_KEY = readFileSync(file, "utf8");
    const before = Date.now();
    const signed = await build(["--rollback"]);
    expect(signed.sequence).toBeGreaterThanOrEqual(before);
    expect(JSON.parse(Buffer.from(signed.head.split(".")[1] as string, "base64url").toString())).toMatchObject({
      rollback: true,
    });
  });

  it("refuses without a key, with a public key, or with a bad sequence: one line, exit 2", async () => {
    const { jwks } = await newKey();
    const pub = join(dir, "public.json");
    writeFileSync(pub, JSON.stringify(JSON.parse(jwks).keys[0]));
    for (const [args, message] of [
      [[], /--key FILE or FIREBREAK_SIGNING_KEY/],
      [["--key", pub], /not a private Ed25519 JWK/],
      [["--key", join(dir, "k1.json"), "--sequence", "1.5"], /positive integer/],
    ] as const) {
      err.length = 0;
      expect(await main(["build", "--policies", FIXTURE, "--out", join(dir, "bundle.json"), "--sign", ...args])).toBe(
        2,
      );
      expect(err.join("\n")).toMatch(message);
    }
  });
});

describe("push", () => {
  it("--dry-run: the bundle under bundle/<sha256> first, then the head, with --local and the env", async () => {
    const { file } = await newKey();
    const signed = await build(["--key", file, "--sequence", "3"]);
    expect(await main(["push", "--dry-run", "--file", join(dir, "bundle.signed.json"), "--env", "dev"])).toBe(0);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(
      new RegExp(
        `^npx wrangler kv key put bundle/${signed.bundle_sha256} --path \\S+ --binding BUNDLES --local --env dev$`,
      ),
    );
    expect(out[1]).toBe(`npx wrangler kv key put head ${signed.head} --binding BUNDLES --local --env dev`);
    const path = out[0]?.split(" ")[7] as string;
    expect(readFileSync(path, "utf8")).toBe(signed.bundle);
    rmSync(join(path, ".."), { recursive: true, force: true });
  });

  it("--remote, and --rollback signs the file's bundle again under a new sequence", async () => {
    const { file } = await newKey();
    await build(["--key", file, "--sequence", "3"]);
    const signedFile = join(dir, "bundle.signed.json");
    expect(
      await main([
        "push",
        "--dry-run",
        "--remote",
        "--file",
        signedFile,
        "--rollback",
        "--key",
        file,
        "--sequence",
        "9",
      ]),
    ).toBe(0);
    expect(out[1]).toMatch(/ --binding BUNDLES --remote$/);
    const head = out[1]?.split(" ")[6] as string;
    expect(JSON.parse(Buffer.from(head.split(".")[1] as string, "base64url").toString())).toMatchObject({
      sequence: 9,
      rollback: true,
    });
    rmSync(join(out[0]?.split(" ")[7] as string, ".."), { recursive: true, force: true });
  });

  it("refuses a signed file whose bundle was changed after signing", async () => {
    const { file } = await newKey();
    const signed = await build(["--key", file, "--sequence", "3"]);
    const path = join(dir, "bundle.signed.json");
    writeFileSync(path, JSON.stringify({ ...signed, bundle: signed.bundle.replace("agent-reads", "agent-reade") }));
    err.length = 0;
    expect(await main(["push", "--dry-run", "--file", path])).toBe(2);
    expect(err[0]).toMatch(/^firebreak push: .*not the one signed/);
    expect(out).toEqual([]);
  });

  it("--local --dev writes what wrangler reads back from npm start's local KV (a temporary state dir)", async () => {
    const { file } = await newKey();
    const signed = await build(["--key", file, "--sequence", "5"]);
    const state = join(dir, "state");
    const signedFile = join(dir, "bundle.signed.json");
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      expect(
        await main(["push", "--local", "--dev", "--file", signedFile, "--persist-to", state]),
        err.join("\n"),
      ).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js", { paths: [ROOT] });
    const get = (key: string) =>
      spawnSync(
        process.execPath,
        [wrangler, "kv", "key", "get", key, "--binding", "BUNDLES", "--env", "dev", "--local", "--persist-to", state],
        {
          cwd: ROOT,
          encoding: "utf8",
        },
      ).stdout;
    // wrangler prints its banner, then the value.
    expect(get("head").endsWith(signed.head)).toBe(true);
    expect(get(`bundle/${signed.bundle_sha256}`).endsWith(signed.bundle)).toBe(true);
  }, 120_000);
});
