/**
 * A fast reader for the plain block YAML that policy files are written in (and that `catalog import`
 * and the `yaml` package's stringify produce): block mappings and sequences, plain scalars (folded over
 * lines), single- and double-quoted scalars on one line, `[]` and `{}`, comments. It reads such a file
 * about ten times faster than `parseDocument`, which builds a whole CST and node tree first; a 10,000-rule
 * policy set is megabytes of it.
 *
 * It never guesses: anything outside that subset (tabs, CRLF, anchors, tags, block or multi-line quoted
 * scalars, flow collections, duplicate or non-string keys, numbers other than plain integers, anything
 * the `yaml` package would call an error) makes it return null, and ./source.ts reads the file with
 * `parseDocument` instead, which also reports every YAML error. What it returns is what
 * `parseDocument(text).toJS()` gives, and its `lineOf` what ./source.ts finds in that document
 * (test/compiler/yaml-block.test.ts compares both on every policy file of the repository).
 */

/** Where a mapping's keys and a sequence's items start (1-based lines). */
type Meta = { keys: Map<string, number> } | { items: number[] };

interface Line {
  /** Column of the first character of `text`. */
  indent: number;
  text: string;
  /** 1-based. */
  no: number;
}

export interface BlockYaml {
  data: unknown;
  /** The line of the node at `path`, or of its nearest existing parent (as ./source.ts `offsetOf`). */
  lineOf(path: (string | number)[]): number;
}

class NotBlock extends Error {}
const fail = (): never => {
  throw new NotBlock();
};

/** The document, or null when the text is not in the subset (the caller then parses it fully). */
export function readBlockYaml(text: string): BlockYaml | null {
  if (/[\t\r\uFEFF]/.test(text)) return null;
  try {
    return read(text);
  } catch (e) {
    if (e instanceof NotBlock) return null;
    throw e;
  }
}

function read(text: string): BlockYaml | null {
  const lines: Line[] = [];
  text.split("\n").forEach((raw, i) => {
    const text = raw.trimStart();
    if (text === "" || text.startsWith("#")) return;
    if (/^(---|\.\.\.)(\s|$)|^%/.test(raw)) fail();
    lines.push({ indent: raw.length - text.length, text: text.trimEnd(), no: i + 1 });
  });
  const first = lines[0];
  if (first === undefined || first.indent !== 0) return null;
  const meta = new WeakMap<object, Meta>();
  const reader = new Reader(lines, meta);
  const data = reader.block(0);
  if (reader.at < lines.length) return null;
  return { data, lineOf: (path) => lineOf(data, meta, path, first.no) };
}

class Reader {
  at = 0;
  constructor(
    private readonly lines: Line[],
    private readonly meta: WeakMap<object, Meta>,
  ) {}

  /** The collection whose first line is the current one. */
  block(indent: number): unknown {
    const line = this.lines[this.at] as Line;
    return isItem(line.text) ? this.sequence(indent) : this.mapping(indent);
  }

  private sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    const items: number[] = [];
    for (let line = this.current(indent); line !== null && isItem(line.text); line = this.current(indent)) {
      const rest = line.text.slice(1).trimStart();
      if (rest === "") {
        this.at++;
        const next = this.lines[this.at];
        if (next === undefined || next.indent <= indent) fail();
        items.push((next as Line).no);
        out.push(this.block((next as Line).indent));
      } else if (isItem(rest)) {
        fail();
      } else if (keyEnd(rest) !== -1) {
        // `- id: x`: a mapping whose keys line up with `id`.
        items.push(line.no);
        this.lines[this.at] = { indent: line.indent + line.text.length - rest.length, text: rest, no: line.no };
        out.push(this.mapping((this.lines[this.at] as Line).indent));
      } else {
        items.push(line.no);
        out.push(this.scalar(rest, indent));
      }
    }
    this.meta.set(out, { items });
    return out;
  }

  private mapping(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keys = new Map<string, number>();
    for (let line = this.current(indent); line !== null; line = this.current(indent)) {
      if (isItem(line.text)) fail();
      const end = keyEnd(line.text);
      if (end === -1) fail();
      const key = keyOf(line.text.slice(0, end));
      if (keys.has(key)) fail();
      keys.set(key, line.no);
      const rest = line.text.slice(end + 1).trimStart();
      let value: unknown = null;
      if (rest === "" || rest.startsWith("#")) {
        this.at++;
        const next = this.lines[this.at];
        if (next !== undefined && next.indent > indent) value = this.block(next.indent);
        // A sequence at the key's own indentation is YAML too, but not in this subset.
        else if (next !== undefined && next.indent === indent && isItem(next.text)) fail();
      } else value = this.scalar(rest, indent);
      out[key] = value;
    }
    this.meta.set(out, { keys });
    return out;
  }

  /** The current line if it continues the collection at `indent`; null when the collection ends. */
  private current(indent: number): Line | null {
    const line = this.lines[this.at];
    if (line === undefined || line.indent < indent) return null;
    if (line.indent > indent) fail();
    return line;
  }

  /** A scalar value starting on the current line (a plain one may go on over more-indented lines). */
  private scalar(text: string, indent: number): unknown {
    const line = this.lines[this.at] as Line;
    this.at++;
    if (text.startsWith('"') || text.startsWith("'")) {
      const [value, rest] = quoted(text);
      if (rest !== "" && !rest.startsWith("#")) fail();
      return value;
    }
    if (text === "[]" || text === "{}") return text === "[]" ? [] : {};
    const parts = [plain(text)];
    // Folded lines: only lines right below (a blank or comment line in between is not in the subset).
    for (let next = this.lines[this.at]; next !== undefined && next.indent > indent; next = this.lines[this.at]) {
      if (next.no !== line.no + parts.length) fail();
      parts.push(plain(next.text, false));
      this.at++;
    }
    return resolve(parts.join(" "));
  }
}

function isItem(text: string): boolean {
  return text === "-" || text.startsWith("- ");
}

/** Index of the `:` that ends a mapping key on this line, or -1 when the line is not `key: ...`. */
function keyEnd(text: string): number {
  if (text.startsWith('"') || text.startsWith("'")) {
    const [, rest] = quoted(text, false);
    return rest === ":" || rest.startsWith(": ") ? text.length - rest.length : -1;
  }
  const m = /:( |$)/.exec(text);
  return m === null ? -1 : m.index;
}

function keyOf(text: string): string {
  if (text.startsWith('"') || text.startsWith("'")) {
    const [value, rest] = quoted(text);
    if (rest !== "") fail();
    return value;
  }
  const key = text.trimEnd();
  // Keys that resolve to something other than a string, or that YAML reads specially.
  if (key === "__proto__" || key === "<<" || resolve(plain(key)) !== key) fail();
  return key;
}

/** A quoted scalar at the start of `text`, and what follows it (trimmed). */
function quoted(text: string, strict = true): [string, string] {
  const q = text[0] as string;
  let i = 1;
  for (; i < text.length; i++) {
    const c = text[i];
    if (q === '"' && c === "\\") i++;
    else if (c === q && q === "'" && text[i + 1] === "'") i++;
    else if (c === q) break;
  }
  if (i >= text.length) fail();
  const body = text.slice(1, i);
  const after = text.slice(i + 1);
  // After the closing quote: nothing, `: ` of a key, or a comment after a space.
  if (strict && after !== "" && !/^ +#/.test(after) && !/^ *:( |$)/.test(after)) fail();
  const rest = after.trimStart();
  if (q === "'") return [body.replaceAll("''", "'"), rest];
  // The JSON escapes mean the same in YAML; the ones JSON lacks are not in the subset.
  try {
    return [JSON.parse(`"${body}"`) as string, rest];
  } catch {
    return fail();
  }
}

/**
 * A plain scalar's text on one line: no `: `, comments cut. Its first line starts with no indicator; a
 * folded line may start with most of them, but not with those this subset leaves to the full parser.
 */
function plain(text: string, first = true): string {
  if (first ? /^[[\]{}#&*!|>'"%@`,]|^[-?:]( |$)/.test(text) : /^[-?:#,[\]{}'"]/.test(text)) fail();
  const comment = text.indexOf(" #");
  const value = (comment === -1 ? text : text.slice(0, comment)).trimEnd();
  if (/:( |$)/.test(value) || value === "") fail();
  return value;
}

/** YAML 1.2 core schema, for the values this subset keeps; anything number-like beyond integers bails. */
function resolve(s: string): unknown {
  if (s === "~" || s === "null" || s === "Null" || s === "NULL") return null;
  if (s === "true" || s === "True" || s === "TRUE") return true;
  if (s === "false" || s === "False" || s === "FALSE") return false;
  if (/^(0|-?[1-9][0-9]{0,14})$/.test(s)) return Number(s);
  if (/^[-+]?\.?[0-9]/.test(s) || /^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$/.test(s)) fail();
  return s;
}

/** ./source.ts `offsetOf`, over the data and its lines: a mapping entry on its key's line. */
function lineOf(data: unknown, meta: WeakMap<object, Meta>, path: (string | number)[], root: number): number {
  const nodes: unknown[] = [data];
  for (const key of path) nodes.push(child(nodes.at(-1), meta, key));
  for (let n = path.length; n > 0; n--) {
    const m = metaOf(nodes[n - 1], meta);
    const key = path[n - 1] as string | number;
    if (m === undefined) continue;
    if ("keys" in m) {
      const line = m.keys.get(key as string);
      if (line !== undefined) return line;
    } else {
      const i = indexOf(key);
      if (i !== null && i < m.items.length) return m.items[i] as number;
    }
  }
  return root;
}

function metaOf(node: unknown, meta: WeakMap<object, Meta>): Meta | undefined {
  return typeof node === "object" && node !== null ? meta.get(node) : undefined;
}

function child(node: unknown, meta: WeakMap<object, Meta>, key: string | number): unknown {
  const m = metaOf(node, meta);
  if (m === undefined) return undefined;
  if ("keys" in m) return m.keys.has(key as string) ? (node as Record<string, unknown>)[key] : undefined;
  const i = indexOf(key);
  return i === null ? undefined : (node as unknown[])[i];
}

/** A sequence index as the `yaml` package reads one from a path element. */
function indexOf(key: string | number): number | null {
  const i = typeof key === "string" ? Number(key) : key;
  return Number.isInteger(i) && i >= 0 ? i : null;
}
