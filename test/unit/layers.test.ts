/**
 * The folders of src/ are layers, and a file imports only from layers below its own (docs/architecture.md).
 * Type-only imports count: they tie files together as much as any other. This keeps the map true: a new
 * import that runs up a layer, or across two folders of one layer, fails here with the file that made it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(__dirname, "../../src");

/** Bottom to top. Folders in one layer do not import each other. */
const LAYERS: string[][] = [
  ["core", "env.ts", "ui"],
  ["policy"],
  ["protocols", "credentials"],
  ["identity", "request"],
  ["decisions"],
  ["tasks"],
  ["approvals"],
  ["gateway", "dashboard", "replay", "compiler", "catalog"],
  ["api", "lint"],
  ["app.ts"],
  ["index.ts", "cli"],
];
const rank = new Map(LAYERS.flatMap((layer, i) => layer.map((name) => [name, i] as const)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

function resolveImport(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

/** The top folder of a file under src/ (or the file itself for src/*.ts); null outside src/. */
function unitOf(path: string): string | null {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return null;
  return rel.split("/")[0] ?? null;
}

function importsUpOrAcross(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = unitOf(file)!;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(
      /(?:import|export)\s[^;]*?from\s*["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']/g,
    )) {
      const target = resolveImport(file, (m[1] ?? m[2])!);
      const to = target && unitOf(target);
      if (!to || to === from) continue;
      const a = rank.get(from);
      const b = rank.get(to);
      if (a === undefined || b === undefined || a <= b)
        found.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  return found;
}

describe("src/ layers", () => {
  it("names every folder and root file of src/ in exactly one layer", () => {
    const units = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory() || /\.tsx?$/.test(n));
    expect(units.filter((u) => !rank.has(u))).toEqual([]);
    expect([...rank.keys()].filter((u) => !units.includes(u))).toEqual([]);
  });

  it("has no import that runs up a layer or across one", () => {
    expect(importsUpOrAcross()).toEqual([]);
  });
});
