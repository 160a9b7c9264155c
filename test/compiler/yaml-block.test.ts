/**
 * The fast block-YAML reader (src/compiler/yaml-block.ts) against the `yaml` package: wherever it
 * reads a file at all, the data and the line of every path are what `parseDocument` gives; the large
 * files (catalogs, generated rules) take the fast path; and edge cases either match or fall back.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseYamlDocument } from "../../src/compiler/source";
import { readBlockYaml } from "../../src/compiler/yaml-block";

const ROOT = join(import.meta.dirname, "..", "..");

function yamlUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return yamlUnder(p);
    return /\.ya?ml$/.test(f) ? [p] : [];
  });
}

/** Every path into the data, and beside each one a few that do not exist. */
function paths(v: unknown, p: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(p, [...p, "nope"], [...p, 9999], [...p, "0"], [...p, 0, "x"]);
  if (Array.isArray(v)) v.forEach((x, i) => void paths(x, [...p, i], out));
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...p, k], out);
  return out;
}

/** True when the fast reader took the text; throws (via expect) when it read it differently. */
function agrees(text: string): boolean {
  const fast = readBlockYaml(text);
  if (fast === null) return false;
  const full = parseYamlDocument(text);
  expect(full.ok).toBe(true);
  if (!full.ok) return true;
  expect(fast.data).toStrictEqual(full.data);
  expect(JSON.stringify(fast.data)).toBe(JSON.stringify(full.data));
  const lines = paths(full.data).map((p) => [JSON.stringify(p), fast.lineOf(p), full.lineOf(p)]);
  expect(lines.filter(([, a, b]) => a !== b)).toEqual([]);
  return true;
}

describe("the block-YAML reader", () => {
  it("reads the repository's policy files as the yaml package does", () => {
    const files = [...yamlUnder(join(ROOT, "policies")), ...yamlUnder(join(ROOT, "test", "fixtures"))];
    const fast = files.filter((f) => agrees(readFileSync(f, "utf8")));
    // Every generated catalog takes the fast path: they are most of a compile's YAML.
    const catalogs = yamlUnder(join(ROOT, "policies", "services")).filter((f) => !f.endsWith(".overrides.yaml"));
    expect(catalogs.filter((f) => !fast.includes(f))).toEqual([]);
  });

  it("reads rule files as the yaml package writes them (bench/policies.mjs) as it reads them", () => {
    // Long conditions are folded over lines; quotes, brackets, `!` and `&&` inside plain scalars.
    const rules = Array.from({ length: 300 }, (_, i) => ({
      id: `agent-${i}-r${i % 5}`,
      effect: ["allow", "deny", "approve"][i % 3],
      agents: i % 2 ? { issuer: ["workloads"], sub: [`agent-${i}`] } : { claims: { team: ["infra"] } },
      actions: [`github:issues.${i % 7 ? "get" : "*"}`, "kind:read", "risk:high"],
      ...(i % 2 ? { when: `action.risk in ["low", "medium"] && !resource.startsWith("repo:acme-${i}/infra")` } : {}),
      ...(i % 3 ? {} : { message: `Not for agent ${i}: ask #platform.`, mode: "report" }),
    }));
    const text = stringify({ rules });
    expect(text).toMatch(/&&\n\s+!resource/);
    expect(agrees(text)).toBe(true);
  });

  const same = [
    "a: 1\nb: -2\nc: 0\nd: true\ne: ~\nf:\ng: null\nh: False\n",
    "a: 'it''s'\nb: \"x\\ty \\u00e9 \\\"q\\\"\"\n\"c d\": 1\n'e': 2\n",
    "a: one\n  two\n    three\nb: x\n  !y\n",
    "# head\na: b # c\n# d\nl:\n  - x # y\n  - 'q' # z\n  - \"r\"\nm: b#c\nn: x #\n",
    "- a\n- b: c\n  d: e\n-\n  f: g\n-\n  - h\n",
    'a: -x\nb: :x\nc: x:y\nd: "{owner}"\ne: /repos/{owner}/{repo}\nf: []\ng: {}\n',
    "rules:\n  - id: r\n    when: a &&\n      b\n    actions:\n      - x\n",
  ];
  it.each(same)("reads %j as the yaml package does", (text) => {
    expect(agrees(text)).toBe(true);
  });

  const bails = [
    "",
    "# only a comment\n",
    "  a: 1\n",
    "a: [1, 2]\n",
    "a: { b: c }\n",
    "a: 007\n",
    "a: 1.5\n",
    "a: .inf\n",
    "a: -0\n",
    "a: 12345678901234567\n",
    "a: 1\na: 2\n",
    "a:\n- x\n",
    "- - a\n",
    "a: x\n\n  y\n",
    "a: x\n  # c\n  y\n",
    "a: x\n  - y\n",
    "a: 'x\n  y'\n",
    "a: |\n  x\n",
    "a: >\n  x\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "? a\n: b\n",
    "__proto__: 1\n",
    "1: a\n",
    "true: a\n",
    "a:\tb\n",
    "a: b\r\n",
    "a: b\n---\nc: d\n",
    'a: "\\e"\n',
    "a: 'b' c\n",
    'a: "b"c\n',
    "key: value: x\n",
    "a: x\n b: y\n",
  ];
  it.each(bails)("leaves %j to the yaml package", (text) => {
    expect(readBlockYaml(text)).toBeNull();
  });
});
