/**
 * The text a step log entry's hash is taken over (src/tasks/entry.ts `entryText`) is canonical JSON of
 * its hashed content, byte for byte: chains written before it existed, by canonicalJson, must verify.
 */
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/canonical-json";
import { blank, type Entry, entryText, hashedEntry } from "../../src/tasks/entry";
import { chainHash, chainHashText, GENESIS } from "../../src/tasks/hash-chain";

/** Strings a column may hold, escapes and non-ASCII included. */
const STRINGS = [
  "",
  "github:issues.get",
  'a "quoted" \\ path',
  "line\nbreak\ttab\u0001",
  "ünï €",
  "\ud83d\ude00",
  "\ud800",
];
const KINDS: Entry["kind"][] = ["open", "call", "settle", "refusals", "complete", "revoke", "expire", "approval"];

/** A seeded generator: the same rows every run. */
function rows(n: number): (Required<Entry> & { seq: number })[] {
  let x = 7;
  const next = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x;
  };
  const str = () => (next() % 4 === 0 ? null : STRINGS[next() % STRINGS.length]!);
  const num = () => (next() % 3 === 0 ? null : next() % 100_000);
  return Array.from({ length: n }, (_, i) => ({
    ...blank(),
    seq: i + 1,
    ts: 1_764_600_000_000 + next(),
    kind: KINDS[next() % KINDS.length]!,
    decision_id: str(),
    action: str(),
    service: str(),
    resource: str(),
    labels: next() % 2 ? canonicalJson(["kind:read", "data:pii"]) : null,
    args: next() % 2 ? canonicalJson({ amount: 5, b: "x" }) : null,
    outcome: str(),
    reason: str(),
    ref: num(),
    status: num(),
    by: str(),
    facts: next() % 2 ? canonicalJson({ method: "GET", path: '/a"b', query: [["q", "ü"]], args: {} }) : null,
  }));
}

describe("entryText", () => {
  it("is canonicalJson of the hashed entry, for every kind, with and without facts and status", () => {
    for (const row of rows(2_000)) expect(entryText(row)).toBe(canonicalJson(hashedEntry(row)));
  });

  it("hashes as chainHash always has: a chain written before it still verifies", () => {
    for (const row of rows(200))
      expect(chainHashText(GENESIS, entryText(row))).toBe(chainHash(GENESIS, hashedEntry(row)));
  });

  it("leaves a call's status out (its settle entry carries it) and facts out when there are none", () => {
    const call = { ...blank(), seq: 2, ts: 1, kind: "call" as const, status: 200 };
    expect(JSON.parse(entryText(call))).not.toHaveProperty("status");
    expect(JSON.parse(entryText(call))).not.toHaveProperty("facts");
    const settle = { ...call, kind: "settle" as const, ref: 1 };
    expect(JSON.parse(entryText(settle))).toMatchObject({ status: 200, ref: 1 });
  });
});
