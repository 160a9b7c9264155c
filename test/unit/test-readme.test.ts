/**
 * test/README.md says which file covers what: every `*.test.ts` under test/ has its row, in the section of
 * its folder, and every file the page names exists. A new test file without a row fails here.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describe, expect, it } from "vitest";

const TEST = join(import.meta.dirname, "..");
const PAGE = readFileSync(join(TEST, "README.md"), "utf8");

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith(".") || entry.name === "node_modules") return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith(".test.ts") ? [relative(TEST, path).split(sep).join("/")] : [];
  });
}

/** The files named in the first cell of each table row, with the `### \`folder/\`` section above them. */
function rows(): { file: string; section: string }[] {
  const found: { file: string; section: string }[] = [];
  let section = "";
  for (const line of PAGE.split("\n")) {
    const heading = /^#{2,3} `?([^`:]*)`?/.exec(line);
    if (heading) section = heading[1]!;
    const row = /^\| (`[^|]+`) +\|/.exec(line);
    if (!row) continue;
    for (const named of row[1]!.matchAll(/`([^`]+)`/g)) found.push({ file: named[1]!, section });
  }
  return found;
}

describe("test/README.md", () => {
  const listed = rows();

  it("lists every test file in the section of its folder", () => {
    const files = testFiles(TEST);
    expect(files.length).toBeGreaterThan(40);
    const missing = files.filter((f) => !listed.some((r) => r.file === f && r.section === `${f.split("/")[0]}/`));
    expect(missing, "add a row for each to test/README.md, under its folder").toEqual([]);
  });

  it("names no file that does not exist", () => {
    const named = listed.map((r) => r.file).filter((f) => /\.tsx?$|\/$/.test(f));
    expect(named.length).toBeGreaterThan(40);
    expect(named.filter((f) => !existsSync(join(TEST, f)))).toEqual([]);
  });

  it("lists each test file once", () => {
    const tests = listed.map((r) => r.file).filter((f) => f.endsWith(".test.ts"));
    expect(tests.filter((f, i) => tests.indexOf(f) !== i)).toEqual([]);
  });
});
