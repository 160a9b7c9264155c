/**
 * Small policy sets for Node tests: written to a temporary directory (one file per entry, JSON is
 * valid YAML) and compiled with the real compiler. Directories are removed when the process exits.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { compilePolicies } from "../../src/compiler/compile";
import { type LoadedBundle, loadBundle } from "../../src/policy/load";

const root = mkdtempSync(join(tmpdir(), "firebreak-policies-"));
process.on("exit", () => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** Writes `{ "firebreak.yaml": {...}, "services/svc.yaml": {...}, ... }` and returns the directory. */
export function writePolicySet(files: Record<string, unknown>): string {
  const dir = join(root, `set-${n++}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof content === "string" ? content : JSON.stringify(content));
  }
  return dir;
}

/** Compiles a policy set (it must compile) and loads the bundle as the worker would. */
export function compileSet(files: Record<string, unknown>): LoadedBundle {
  const result = compilePolicies(writePolicySet(files));
  if (!result.ok) throw new Error(result.problems.format());
  return loadBundle(JSON.parse(JSON.stringify(result.bundle)));
}

/** An issuer entry for sets whose tests never verify tokens. */
export const CI_ISSUER = {
  name: "ci",
  issuer: "https://ci.example.com",
  audience: ["fb"],
  algorithms: ["RS256"],
  jwks_uri: "https://ci.example.com/jwks",
};

/** A person issuer (approvers) for sets with approve rules. */
export const STAFF_ISSUER = {
  name: "staff",
  kind: "person",
  issuer: "https://staff.example.com",
  audience: ["fb"],
  algorithms: ["RS256"],
  jwks_uri: "https://staff.example.com/jwks",
};
