/**
 * Linear's GraphQL schema, read back from `@linear/sdk`. The package ships no schema file (no
 * schema.graphql, no introspection JSON); what it ships is the TypeScript that graphql-codegen's
 * `typescript` plugin generated from the schema, one declaration per schema type, in a regular shape:
 *
 *   type Scalars = { ID: string; DateTime: Date; ... }              the scalars
 *   declare enum IssueRelationType { Blocks = "blocks", ... }       an enum: the strings are the values
 *   type Node = { id: Scalars["ID"] }                               an interface (no __typename) ...
 *   type Issue = Node & { __typename?: "Issue"; title: ...; }       ... an object implementing it
 *   type Query = { __typename?: "Query"; issue: Issue; ... }        an object
 *   type QueryIssueArgs = { id: Scalars["String"] }                 the arguments of Query.issue
 *   type IssueCreateInput = { title?: InputMaybe<...>; ... }        an input object
 *   type Content = A | B                                            a union
 *
 * and in field types `Maybe<T>` / `InputMaybe<T>` / an optional member (nullable), `Array<T>` (a list),
 * `Scalars["X"]` (a scalar), a type name. This reads those declarations syntactically (the TypeScript
 * parser, no type checking) and prints the SDL they describe. What the TypeScript does not carry is
 * not in it: argument default values, descriptions, deprecations, interfaces of interfaces. Node only.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const BUILTIN = new Set(["ID", "String", "Boolean", "Int", "Float"]);

interface Declarations {
  scalars: string[];
  enums: Map<string, string[]>;
  /** Type literals by alias name, with the interfaces an intersection names before them. */
  literals: Map<string, { members: ts.TypeElement[]; implements: string[]; typename: boolean }>;
  unions: Map<string, string[]>;
}

/** The SDL of the schema the SDK's declarations were generated from. */
export function linearSdl(dist: string): string {
  const file = readdirSync(dist).find(
    (f) => f.endsWith(".d.mts") && readFileSync(join(dist, f), "utf8").includes("\ntype Mutation = {"),
  );
  if (file === undefined) throw new Error(`@linear/sdk: no declaration of the Mutation type under ${dist}`);
  const text = readFileSync(join(dist, file), "utf8");
  return print(declarations(ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false)));
}

function declarations(source: ts.SourceFile): Declarations {
  const d: Declarations = { scalars: [], enums: new Map(), literals: new Map(), unions: new Map() };
  for (const s of source.statements) {
    if (ts.isEnumDeclaration(s)) {
      const values = s.members.flatMap((m) =>
        m.initializer && ts.isStringLiteral(m.initializer) ? [m.initializer.text] : [],
      );
      d.enums.set(s.name.text, values);
      continue;
    }
    if (!ts.isTypeAliasDeclaration(s) || s.typeParameters) continue;
    const name = s.name.text;
    const t = s.type;
    if (name === "Scalars" && ts.isTypeLiteralNode(t)) {
      d.scalars = t.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : []));
    } else if (ts.isTypeLiteralNode(t)) {
      d.literals.set(name, { members: [...t.members], implements: [], typename: hasTypename(t) });
    } else if (ts.isIntersectionTypeNode(t)) {
      const last = t.types[t.types.length - 1];
      const heads = t.types.slice(0, -1);
      // Object types implementing interfaces; the operations' fragment types (`{ __typename: "X" } &
      // Pick<...>`) have another shape and are not schema types.
      if (last && ts.isTypeLiteralNode(last) && hasTypename(last) && heads.every(isPlainReference)) {
        const names = heads.map((h) => ((h as ts.TypeReferenceNode).typeName as ts.Identifier).text);
        d.literals.set(name, { members: [...last.members], implements: names, typename: true });
      }
    } else if (ts.isUnionTypeNode(t) && t.types.every(isPlainReference)) {
      d.unions.set(
        name,
        t.types.map((x) => ((x as ts.TypeReferenceNode).typeName as ts.Identifier).text),
      );
    }
  }
  return d;
}

const isPlainReference = (t: ts.TypeNode): boolean =>
  ts.isTypeReferenceNode(t) && ts.isIdentifier(t.typeName) && t.typeArguments === undefined;

/** `__typename?: "X"`: an object type's own declaration (the operations' types make it required). */
const hasTypename = (t: ts.TypeLiteralNode): boolean =>
  t.members.some((m) => ts.isPropertySignature(m) && memberName(m) === "__typename" && m.questionToken !== undefined);

const memberName = (m: ts.TypeElement): string =>
  m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? m.name.text : "";

function print(d: Declarations): string {
  const types = new Map<string, string>();
  for (const s of d.scalars) if (!BUILTIN.has(s)) types.set(s, `scalar ${s}`);
  for (const [name, values] of d.enums) types.set(name, `enum ${name} {\n${values.map((v) => `  ${v}`).join("\n")}\n}`);
  const interfaces = new Set([...d.literals.values()].flatMap((l) => l.implements));
  const outputs = new Set([...d.literals].filter(([n, l]) => l.typename || interfaces.has(n)).map(([n]) => n));
  const argsOf = new Set<string>();
  for (const name of outputs) {
    const l = d.literals.get(name)!;
    const fields = l.members.filter((m) => ts.isPropertySignature(m) && memberName(m) !== "__typename");
    const lines = fields.map((m) => {
      const field = memberName(m);
      const argsName = [`${name}${field[0]?.toUpperCase()}${field.slice(1)}Args`, `${name}${pascal(field)}Args`].find(
        (n) => d.literals.has(n),
      );
      const args = argsName === undefined ? undefined : d.literals.get(argsName);
      if (argsName !== undefined) argsOf.add(argsName);
      const list = args ? `(${args.members.map((a) => `${memberName(a)}: ${typeText(a, d)}`).join(", ")})` : "";
      return `  ${field}${list}: ${typeText(m, d)}`;
    });
    const keyword = l.typename ? "type" : "interface";
    const impl = l.implements.length > 0 ? ` implements ${l.implements.join(" & ")}` : "";
    types.set(name, `${keyword} ${name}${impl} {\n${lines.join("\n")}\n}`);
  }
  for (const [name, members] of d.unions) types.set(name, `union ${name} = ${members.join(" | ")}`);
  for (const [name, l] of d.literals) {
    if (outputs.has(name) || argsOf.has(name) || l.members.length === 0) continue;
    // Every field's arguments were found by codegen's naming: an `...Args` left over would be a missed one.
    if (/^(Query|Mutation)[A-Z]\w*Args$/.test(name)) throw new Error(`@linear/sdk: ${name} matches no field`);
    types.set(name, `input ${name} {\n${l.members.map((m) => `  ${memberName(m)}: ${typeText(m, d)}`).join("\n")}\n}`);
  }
  return reachable(types, d)
    .map((n) => types.get(n))
    .join("\n\n");
}

/**
 * The types reachable from Query and Mutation (and the objects of every interface reached): the SDK
 * declares types of its own too (webhook payloads, renamed by its bundler), which are not the API's.
 */
function reachable(types: Map<string, string>, d: Declarations): string[] {
  const implementors = new Map<string, string[]>();
  for (const [name, l] of d.literals)
    for (const i of l.implements) implementors.set(i, [...(implementors.get(i) ?? []), name]);
  const seen = new Set<string>();
  const todo = ["Query", "Mutation"];
  while (todo.length > 0) {
    const name = todo.pop()!;
    const text = types.get(name);
    if (seen.has(name) || text === undefined) continue;
    seen.add(name);
    for (const word of text.match(/[A-Za-z_][A-Za-z0-9_$]*/g) ?? [])
      if (types.has(word) && !seen.has(word)) todo.push(word);
    todo.push(...(implementors.get(name) ?? []));
  }
  return [...types.keys()].filter((n) => seen.has(n));
}

/** codegen's name for a field in a type name (change-case's pascalCase): `attachmentLinkURL` -> `AttachmentLinkUrl`. */
function pascal(field: string): string {
  const words = field
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== "");
  return words
    .map((w, i) => (i > 0 && /^[0-9]/.test(w) ? "_" : "") + w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
    .join("");
}

/** The GraphQL type of a member: nullable when optional or Maybe<>, else `!`. */
function typeText(m: ts.TypeElement, d: Declarations): string {
  const t = ts.isPropertySignature(m) ? m.type : undefined;
  if (t === undefined) throw new Error(`@linear/sdk: member ${memberName(m)} has no type`);
  const { text, nullable } = typeOf(t, d);
  return nullable || (ts.isPropertySignature(m) && m.questionToken) ? text : `${text}!`;
}

function typeOf(t: ts.TypeNode, d: Declarations): { text: string; nullable: boolean } {
  if (ts.isTypeReferenceNode(t) && ts.isIdentifier(t.typeName)) {
    const name = t.typeName.text;
    const arg = t.typeArguments?.[0];
    if ((name === "Maybe" || name === "InputMaybe") && arg) return { text: typeOf(arg, d).text, nullable: true };
    if (name === "Array" && arg) {
      const inner = typeOf(arg, d);
      return { text: `[${inner.text}${inner.nullable ? "" : "!"}]`, nullable: false };
    }
    if (t.typeArguments === undefined) return { text: name, nullable: false };
  }
  if (ts.isIndexedAccessTypeNode(t) && ts.isLiteralTypeNode(t.indexType) && ts.isStringLiteral(t.indexType.literal)) {
    return { text: t.indexType.literal.text, nullable: false };
  }
  throw new Error(`@linear/sdk: a field type of an unknown shape (${ts.SyntaxKind[t.kind]})`);
}
