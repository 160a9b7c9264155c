/**
 * Canonical JSON: one byte string per value, what hashes, approval digests and the bundle revision are
 * taken over. One writer for all of them; the two key orders exist because each was hashed as it is.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * How an object's keys are ordered, at every level:
 * - `sorted`: by UTF-16 code units (`Object.keys(o).sort()`), what the step log's hash chain, the
 *   approval digests and the task's stored arguments are taken over;
 * - `index-first`: array-index keys ("2", "10") first in numeric order, then the rest sorted, as a
 *   JavaScript object built with sorted keys enumerates them: the bundle revision's input.
 */
export type KeyOrder = "sorted" | "index-first";

/**
 * JSON with object keys ordered at every level. Members that JSON.stringify leaves out (`undefined`,
 * functions) are left out, array holes and such elements are `null`; `toJSON` is not called on objects
 * (a Date is `{}`), primitives are written as JSON.stringify writes them.
 */
export function canonicalJson(value: Json, order: KeyOrder = "sorted"): string {
  const w: Writer = { text: "", order, emit: null };
  write(value, w);
  return w.text;
}

/**
 * The same bytes as `canonicalJson(value, order)`, handed to `emit` in pieces of about 64 KiB, for a
 * value too large to hold twice (a 10,000-rule bundle's content is tens of megabytes). Pieces end
 * between JSON tokens, so each is whole UTF-16 and hashing them in turn hashes the whole string.
 */
export function writeCanonicalJson(value: unknown, emit: (piece: string) => void, order: KeyOrder = "sorted"): void {
  const w: Writer = { text: "", order, emit };
  write(value, w);
  if (w.text !== "") emit(w.text);
}

const PIECE = 1 << 16;

interface Writer {
  text: string;
  order: KeyOrder;
  emit: ((piece: string) => void) | null;
}

function write(v: unknown, w: Writer): void {
  if (typeof v === "string") w.text += quote(v);
  // A finite number is written as its ToString, exactly as JSON.stringify writes it (-0 as 0).
  else if (typeof v === "number") w.text += Number.isFinite(v) ? `${v}` : "null";
  else if (v === null || typeof v !== "object") w.text += JSON.stringify(v) ?? "null";
  else if (Array.isArray(v)) writeArray(v, w);
  else writeObject(v as Record<string, unknown>, w);
  if (w.emit !== null && w.text.length >= PIECE) {
    w.emit(w.text);
    w.text = "";
  }
}

function writeArray(v: unknown[], w: Writer): void {
  const n = v.length;
  if (n === 0) {
    w.text += "[]";
    return;
  }
  w.text += "[";
  for (let i = 0; i < n; i++) {
    if (i > 0) w.text += ",";
    const x = v[i];
    if (x === undefined || typeof x === "function") w.text += "null";
    else write(x, w);
  }
  w.text += "]";
}

function writeObject(o: Record<string, unknown>, w: Writer): void {
  const keys = Object.keys(o).sort();
  const ordered = w.order === "index-first" && keys.some(startsWithDigit) ? indexesFirst(keys) : keys;
  let open = "{";
  for (const k of ordered) {
    const x = o[k];
    if (x === undefined || typeof x === "function") continue;
    w.text += `${open}${quote(k)}:`;
    open = ",";
    write(x, w);
  }
  w.text += open === "{" ? "{}" : "}";
}

const startsWithDigit = (k: string) => {
  const c = k.charCodeAt(0);
  return c >= 48 && c <= 57;
};

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;
const isIndex = (k: string) => ARRAY_INDEX.test(k) && Number(k) < 4294967295;

function indexesFirst(sorted: string[]): string[] {
  const indexes = sorted.filter(isIndex).sort((a, b) => Number(a) - Number(b));
  return indexes.length === 0 ? sorted : [...indexes, ...sorted.filter((k) => !isIndex(k))];
}

/** What JSON.stringify escapes in a string: the quote, the backslash, controls and (lone) surrogates. */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;
/** Most keys and strings need no escape: quoting them is cheaper than a call to JSON.stringify. */
const quote = (s: string) => (ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`);
