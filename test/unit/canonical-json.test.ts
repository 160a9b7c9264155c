/**
 * Canonical JSON, the one writer behind the step log's hash chain, approval digests and the bundle
 * revision: byte for byte what the two writers it replaced produced (kept below as references), on
 * fixed vectors and on thousands of generated values; pieces hash as the whole string does.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, type Json, writeCanonicalJson } from "../../src/core/canonical-json";

/** The former src/core/canonical-json.ts: keys in code-unit order (hash chains, approval digests). */
function formerCore(value: Json): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formerCore).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${formerCore(value[k] as Json)}`).join(",")}}`;
}

/** The former compiler writer: array-index keys first, undefined and functions left out (the revision). */
function formerCompiler(value: unknown): string {
  const out: string[] = [];
  const isIndex = (k: string) => /^(0|[1-9][0-9]*)$/.test(k) && Number(k) < 4294967295;
  const write = (v: unknown): void => {
    if (v === null || typeof v !== "object") {
      out.push(JSON.stringify(v) ?? "null");
      return;
    }
    if (Array.isArray(v)) {
      out.push("[");
      v.forEach((x, i) => {
        if (i > 0) out.push(",");
        if (x === undefined || typeof x === "function") out.push("null");
        else write(x);
      });
      out.push("]");
      return;
    }
    const record = v as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    const ordered = [...keys.filter(isIndex).sort((a, b) => Number(a) - Number(b)), ...keys.filter((k) => !isIndex(k))];
    out.push("{");
    let first = true;
    for (const k of ordered) {
      const x = record[k];
      if (x === undefined || typeof x === "function") continue;
      out.push(first ? "" : ",", JSON.stringify(k), ":");
      first = false;
      write(x);
    }
    out.push("}");
  };
  write(value);
  return out.join("");
}

const pieces = (value: unknown, order: "sorted" | "index-first") => {
  const out: string[] = [];
  writeCanonicalJson(value, (p) => out.push(p), order);
  return out;
};

/** A seeded generator (mulberry32), so a failure names a value that can be made again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  "a",
  "b",
  "B",
  "_",
  "",
  "0",
  "1",
  "2",
  "10",
  "01",
  "-1",
  "1.5",
  "4294967294",
  "4294967295",
  "é",
  "e\u0301",
];
const MORE_KEYS = [
  "ß",
  "日本",
  "😀",
  "\ud83d",
  "\u2028",
  'q"uote',
  "back\\slash",
  "tab\t",
  "\u0000",
  "__proto__",
  "constructor",
];
const STRINGS = [
  "",
  "plain",
  "é",
  "😀",
  "\ud800",
  "\udc00x",
  'a"b',
  "a\\b",
  "\n\r\t\b\f",
  "\u001f",
  "\u007f",
  "\u2028\u2029",
];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789012345680000, -1.5e-300, 2 ** 53, Number.MAX_VALUE, 5e-324];

function jsonValue(rnd: () => number, depth: number): Json {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const r = rnd();
  if (depth <= 0 || r < 0.45) return pick<Json>([null, true, false, ...STRINGS, ...NUMBERS]);
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 5) }, () => jsonValue(rnd, depth - 1));
  const o: Record<string, Json> = rnd() < 0.2 ? Object.create(null) : {};
  const n = Math.floor(rnd() * 7);
  for (let i = 0; i < n; i++) o[pick([...KEYS, ...MORE_KEYS])] = jsonValue(rnd, depth - 1);
  return o;
}

/** Values JSON cannot hold as such: what JSON.stringify drops or turns into null, and non-plain objects. */
function anyValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  const odd = [undefined, () => 1, Number.NaN, Number.POSITIVE_INFINITY, new Date(0), new Map([[1, 2]]), [undefined]];
  if (r < 0.15) return odd[Math.floor(rnd() * odd.length)];
  if (depth <= 0 || r < 0.5) return jsonValue(rnd, 0);
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 5) }, () => anyValue(rnd, depth - 1));
  const o: Record<string, unknown> = {};
  const n = Math.floor(rnd() * 7);
  for (let i = 0; i < n; i++) o[KEYS[Math.floor(rnd() * KEYS.length)] as string] = anyValue(rnd, depth - 1);
  return o;
}

describe("canonicalJson", () => {
  it.each<[Json, string]>([
    [null, "null"],
    [-0, "0"],
    [1e21, "1e+21"],
    [1e-7, "1e-7"],
    ["😀\u2028", '"😀\u2028"'],
    ["\ud800", '"\\ud800"'],
    ['"\\\n\u001f', '"\\"\\\\\\n\\u001f"'],
    [[[], [[]], {}], "[[],[[]],{}]"],
    [{ b: 1, a: [true, null], "": { z: "é", y: -0 } }, '{"":{"y":0,"z":"é"},"a":[true,null],"b":1}'],
    [{ é: 1, z: 2, Z: 3, "😀": 4, ﬀ: 5 }, '{"Z":3,"z":2,"é":1,"😀":4,"ﬀ":5}'],
    [{ 10: "a", 2: "b", x: "c", "01": "d" }, '{"01":"d","10":"a","2":"b","x":"c"}'],
  ])("%j -> %s", (value, text) => {
    expect(canonicalJson(value)).toBe(text);
    expect(canonicalJson(value)).toBe(formerCore(value));
  });

  it("is the former writer's byte string on 5,000 generated JSON values", () => {
    const rnd = random(7);
    for (let i = 0; i < 5000; i++) {
      const v = jsonValue(rnd, 5);
      expect(canonicalJson(v), JSON.stringify(v)).toBe(formerCore(v));
    }
  });

  it("is JSON.stringify's text, keys sorted: parsing it gives the value back", () => {
    const rnd = random(11);
    for (let i = 0; i < 1000; i++) {
      const v = jsonValue(rnd, 5);
      expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
    }
  });

  it("leaves out what JSON.stringify leaves out (the former writer wrote `undefined` and holes here)", () => {
    const v = { a: undefined, b: () => 1, c: [undefined, () => 1, 1], d: new Date(0) } as unknown as Json;
    expect(canonicalJson(v)).toBe('{"c":[null,null,1],"d":{}}');
    expect(formerCore(v)).toBe('{"a":undefined,"b":undefined,"c":[,,1],"d":{}}');
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is written
    expect(canonicalJson([1, , 2] as Json)).toBe("[1,null,2]");
  });
});

describe("the index-first order: the bundle revision's input", () => {
  it.each<[unknown, string]>([
    [{ 10: "a", 2: "b", x: "c", "01": "d", "4294967295": "e" }, '{"2":"b","10":"a","01":"d","4294967295":"e","x":"c"}'],
    [{ b: undefined, a: () => 1, c: [undefined, () => 2] }, '{"c":[null,null]}'],
    [{ n: Number.NaN, i: Number.NEGATIVE_INFINITY, z: -0, big: 1e21 }, '{"big":1e+21,"i":null,"n":null,"z":0}'],
    [undefined, "null"],
  ])("%j -> %s", (value, text) => {
    expect(pieces(value, "index-first").join("")).toBe(text);
    expect(pieces(value, "index-first").join("")).toBe(formerCompiler(value));
  });

  it("is the former compiler writer's byte string on 5,000 generated values", () => {
    const rnd = random(13);
    for (let i = 0; i < 5000; i++) {
      const v = anyValue(rnd, 5);
      expect(pieces(v, "index-first").join("")).toBe(formerCompiler(v));
    }
  });

  it("differs from the sorted order only where keys are array indexes", () => {
    const rnd = random(17);
    for (let i = 0; i < 1000; i++) {
      const v = jsonValue(rnd, 4);
      const text = canonicalJson(v);
      if (!/"(0|[1-9][0-9]*)":/.test(text)) expect(canonicalJson(v, "index-first")).toBe(text);
    }
  });
});

describe("writeCanonicalJson: a large value in pieces", () => {
  // About 1.3 MB with astral characters throughout, so that pieces end next to surrogate pairs.
  const big = {
    rows: Array.from({ length: 20_000 }, (_, i) => ({
      id: i,
      name: `row-${i}-😀é`,
      tags: ["日本", i % 7 === 0 ? "\ud83d" : "x"],
    })),
    by: Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${(i * 7919) % 5000}😀`, [i, -i]])),
  };

  it("pieces are about 64 KiB, and joined they are canonicalJson's string", () => {
    for (const order of ["sorted", "index-first"] as const) {
      const parts = pieces(big, order);
      expect(parts.length).toBeGreaterThan(10);
      for (const p of parts.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(65_536);
      expect(parts.join("")).toBe(canonicalJson(big as unknown as Json, order));
    }
  });

  it("hashing the pieces in turn hashes the whole string's UTF-8", () => {
    const whole = createHash("sha256")
      .update(canonicalJson(big as unknown as Json, "index-first"))
      .digest("hex");
    const hash = createHash("sha256");
    writeCanonicalJson(big, (p) => hash.update(p), "index-first");
    expect(hash.digest("hex")).toBe(whole);
    expect(whole).toBe(createHash("sha256").update(formerCompiler(big)).digest("hex"));
  });
});
