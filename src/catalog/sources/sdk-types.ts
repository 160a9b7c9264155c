/**
 * What the SDK-based catalog sources (googleapis, jira, notion) share: reading an SDK's TypeScript
 * declarations with the TypeScript checker, and saying a type's scalar argument type. Node only.
 */
import ts from "typescript";
import type { ArgType } from "../../policy/types";

/** A checker over one declaration or source file (and what it imports). */
export function checkerFor(files: string[]): { program: ts.Program; checker: ts.TypeChecker } {
  const program = ts.createProgram(files, {
    noEmit: true,
    skipLibCheck: true,
    types: [],
    strict: true,
    allowJs: false,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
  });
  return { program, checker: program.getTypeChecker() };
}

/**
 * string | number | boolean when every member of the type is one of them (string literals are
 * strings), ignoring undefined and null; undefined for objects, arrays, mixtures and `any`.
 * Numbers are `number`: the SDKs' types do not say integer.
 */
export function scalarOf(type: ts.Type): ArgType | undefined {
  const kind = scalarKind(type);
  return kind === "none" || kind === "mixed" ? undefined : kind;
}

/**
 * As scalarOf, but telling a type with no members left (`never`, `undefined`: "none") from one that
 * is not a single scalar ("mixed"), for sources that merge a property over several request types.
 */
export function scalarKind(type: ts.Type): ArgType | "none" | "mixed" {
  const members = (type.isUnion() ? type.types : [type]).filter(
    (t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.Never)),
  );
  let kind: ArgType | "none" = "none";
  for (const t of members) {
    const k =
      t.flags & ts.TypeFlags.StringLike
        ? "string"
        : t.flags & ts.TypeFlags.NumberLike
          ? "number"
          : t.flags & ts.TypeFlags.BooleanLike
            ? "boolean"
            : "mixed";
    if (k === "mixed" || (kind !== "none" && kind !== k)) return "mixed";
    kind = k;
  }
  return kind;
}

/** The scalar properties of a type, by name, sorted; names that are not identifiers are left out. */
export function scalarProps(checker: ts.TypeChecker, type: ts.Type, skip: Set<string>): Record<string, ArgType> {
  const out: [string, ArgType][] = [];
  for (const prop of checker.getPropertiesOfType(type)) {
    if (skip.has(prop.name) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(prop.name)) continue;
    const kind = scalarOf(checker.getTypeOfSymbol(prop));
    if (kind) out.push([prop.name, kind]);
  }
  return Object.fromEntries(out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One line from a doc comment: markdown links as their text, whitespace collapsed, the first sentence. */
export function firstSentence(doc: string): string {
  const text = doc
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\{@link\s+\S+\s*([^}]*)\}/g, (_, t: string) => t.trim())
    .replace(/\s+/g, " ")
    .trim();
  const end = /[.!?](\s|$)/.exec(text);
  const line = end ? text.slice(0, end.index) : text;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** The first string literal in an expression (`(rootUrl + '/gmail/v1/...').replace(...)` -> the path). */
export function firstString(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  let found: string | undefined;
  node.forEachChild((child) => {
    found ??= firstString(child);
  });
  return found;
}

/** The object literal property `name` of `obj`, if it has one. */
export function prop(obj: ts.ObjectLiteralExpression, name: string): ts.Expression | undefined {
  for (const p of obj.properties) {
    if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === name) return p.initializer;
  }
  return undefined;
}

/** Every node under `root` for which `test` holds, depth first. */
export function collect<T extends ts.Node>(root: ts.Node, test: (n: ts.Node) => n is T): T[] {
  const out: T[] = [];
  const walk = (n: ts.Node) => {
    if (test(n)) out.push(n);
    n.forEachChild(walk);
  };
  walk(root);
  return out;
}
