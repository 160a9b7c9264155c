/**
 * Compiles the fixture policy sets in test/fixtures/policies/<name>/ into test/.generated/<name>.json
 * before any test runs, with the real compiler: integration tests import them as bundles.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compilePolicies } from "../../src/compiler/compile";

export default function setup(): void {
  const root = join(import.meta.dirname, "..", "fixtures", "policies");
  const out = join(import.meta.dirname, "..", ".generated");
  mkdirSync(out, { recursive: true });
  for (const name of readdirSync(root)) {
    const result = compilePolicies(join(root, name));
    if (!result.ok) throw new Error(`fixture policies ${name} do not compile:\n${result.problems.format()}`);
    writeFileSync(join(out, `${name}.json`), JSON.stringify(result.bundle));
  }
}
