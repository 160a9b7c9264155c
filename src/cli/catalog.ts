/**
 * `firebreak catalog import <service>` and `firebreak catalog coverage` (docs/design/catalogs.md).
 * Exit codes: 0 ok, 1 a catalog that is not what its source and overrides give, or below 100%, 2 usage.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import { coverageOf } from "../catalog/coverage";
import { diffCatalogs, formatDiff } from "../catalog/diff";
import { catalogText, generate } from "../catalog/generate";
import { githubPermissionMap, permissionMapText } from "../catalog/github-permissions";
import { type ActionEntry, readOverrides } from "../catalog/overrides";
import type { CatalogSource } from "../catalog/source";
import { loadSource, SOURCE_NAMES } from "../catalog/sources";
import { compactArtifactPath, compactArtifactText } from "../compiler/graphql-schema";

const GITHUB_PERMISSIONS = fileURLToPath(new URL("../credentials/github-permissions.json", import.meta.url));

const USAGE = `firebreak catalog <command> [options]

  import <service>... [--policies DIR] [--check]
      regenerate policies/services/<service>.yaml from the vendor's description and
      <service>.overrides.yaml, and print what changed (new, removed, changed actions);
      --check writes nothing and exits 1 when the file on disk is not what the import gives
  coverage [--policies DIR]
      covered / total operations of each service's source, the ones missing; exit 1 below 100%

services with a source: ${SOURCE_NAMES.join(", ")}`;

export async function catalogCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (e) {
    console.error(`firebreak catalog: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...names] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const dir = join(values.policies, "services");
  if (command === "import") return importCommand(names, dir, values.check);
  if (command === "coverage") return coverageCommand(names.length > 0 ? names : [...SOURCE_NAMES], dir);
  console.error(`firebreak catalog: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      policies: { type: "string", default: "policies" },
      check: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

async function sourceOf(name: string): Promise<CatalogSource | null> {
  const source = await loadSource(name);
  if (!source) console.error(`firebreak catalog: no source for "${name}" (have: ${SOURCE_NAMES.join(", ")})`);
  return source;
}

async function importCommand(names: string[], dir: string, check: boolean): Promise<number> {
  if (names.length === 0) {
    console.error(`firebreak catalog import: name a service\n\n${USAGE}`);
    return 2;
  }
  let status = 0;
  for (const name of names) {
    const source = await sourceOf(name);
    if (!source) return 2;
    const overrides = readOverrides(join(dir, `${name}.overrides.yaml`));
    const generated = generate(source.operations(), overrides);
    const file = join(dir, `${name}.yaml`);
    const text = catalogText(generated, overrides, source.origin);
    const before = existsSync(file) ? readFileSync(file, "utf8") : "";
    console.log(`${name}: ${formatDiff(diffCatalogs(actionsIn(before), generated.actions))}`);
    if (source.graphqlSchema && !writeSchema(join(dir, `${name}.graphql`), source.graphqlSchema(), check)) status = 1;
    // GitHub's: the App permission each action needs (src/catalog/github-permissions.ts), read by the worker.
    if (
      name === "github" &&
      !writeOrCheck(GITHUB_PERMISSIONS, permissionMapText(githubPermissionMap(generated.actions)), check)
    )
      status = 1;
    for (const id of generated.unused) console.error(`${name}: overrides name "${id}", which the source does not have`);
    if (check) {
      if (text !== before) {
        console.error(`${file} is not what \`firebreak catalog import ${name}\` gives: run it and commit the result`);
        status = 1;
      }
    } else writeFileSync(file, text);
  }
  return status;
}

async function coverageCommand(names: string[], dir: string): Promise<number> {
  let status = 0;
  for (const name of names) {
    const source = await sourceOf(name);
    if (!source) return 2;
    const file = join(dir, `${name}.yaml`);
    const c = coverageOf(source.operations(), existsSync(file) ? actionsIn(readFileSync(file, "utf8")) : {});
    const pct = c.total === 0 ? 100 : (100 * c.covered) / c.total;
    console.log(`${name}: ${c.covered} / ${c.total} (${pct.toFixed(1)}%) from ${source.origin}`);
    for (const m of c.missing) console.log(`  missing ${m}`);
    if (c.covered < c.total) status = 1;
  }
  return status;
}

/** The SDL, and beside it its compact string (src/compiler/graphql-schema.ts), so a compile need not rebuild it. */
function writeSchema(file: string, sdl: string, check: boolean): boolean {
  const wrote = writeOrCheck(file, sdl, check);
  return writeOrCheck(compactArtifactPath(file), compactArtifactText(sdl), check) && wrote;
}

/** Writes `text` to `file`, or with --check says whether the file already holds it. */
function writeOrCheck(file: string, text: string, check: boolean): boolean {
  if (!check) {
    writeFileSync(file, text);
    return true;
  }
  if (existsSync(file) && readFileSync(file, "utf8") === text) return true;
  console.error(`${file} is not what the import gives: run \`firebreak catalog import\` and commit the result`);
  return false;
}

function actionsIn(text: string): Record<string, ActionEntry> {
  if (text === "") return {};
  const data = parse(text) as { actions?: Record<string, ActionEntry> } | null;
  return data?.actions ?? {};
}
