/**
 * Slack's operations, read from `@slack/web-api` (a dev dependency of the importer only): every Web
 * API method the SDK binds in its Methods class (dist/methods.js: `bindApiCall(this, 'chat.postMessage')`),
 * each one path, `POST /api/<method>`. The SDK's declarations (dist/methods.d.ts) give each method's
 * description, `@deprecated`, and its argument type, from which the scalar arguments are read with the
 * TypeScript checker: a field whose every variant is a string (or string literal), a number or a boolean.
 * A field that is a string in one variant and a number in another (`post_at: string | number`) is left
 * undeclared, since a declared argument of the wrong type is refused; objects and arrays are never
 * arguments, nor is `token` (the service rejects it).
 *
 * Kind from the method's name, since every method is a POST: `admin.*` admin; a last segment that
 * lists, reads or looks up (`list`, `info`, `history`, `get*`, `lookup*`, `search.*`, ...) read; one that
 * deletes, removes or archives delete; everything else write.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import ts from "typescript";
import type { ArgType, Kind } from "../../policy/types";
import type { CatalogSource, SourceOperation } from "../source";
import { scalarKind } from "./sdk-types";

const require = createRequire(import.meta.url);
const dist = () => dirname(require.resolve("@slack/web-api"));

/** The Web API method names the SDK binds, in its own order. */
export function slackMethodNames(): string[] {
  const text = readFileSync(join(dist(), "methods.js"), "utf8");
  const names = [...text.matchAll(/bindApiCall(?:WithOptionalArgument)?\(this,\s*'([^']+)'\)/g)].map((m) => m[1] ?? "");
  return [...new Set(names)];
}

/** What the SDK's declarations say about one method. */
export interface Declared {
  description: string;
  deprecated: boolean;
  args: Record<string, ArgType>;
}

let cached: Map<string, Declared> | null = null;

/** Method name -> what methods.d.ts declares for it, through the TypeScript checker (read once). */
export function declaredMethods(): Map<string, Declared> {
  cached ??= readDeclarations();
  return cached;
}

function readDeclarations(): Map<string, Declared> {
  const file = join(dist(), "methods.d.ts");
  const options = { noEmit: true, skipLibCheck: true, types: [], strict: true, lib: ["lib.es2022.d.ts"] };
  const program = ts.createProgram([file], { ...options, target: ts.ScriptTarget.ES2022 });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(file);
  const out = new Map<string, Declared>();
  const cls = sf?.statements.find(
    (s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === "Methods",
  );
  if (!cls) return out;
  const walk = (type: ts.Type, path: string[]) => {
    for (const prop of checker.getPropertiesOfType(type)) {
      const t = checker.getTypeOfSymbol(prop);
      const calls = t.getCallSignatures();
      const at = [...path, prop.name];
      if (calls.length === 0) {
        if (at.length < 6 && t.flags & ts.TypeFlags.Object) walk(t, at);
        continue;
      }
      const param = calls[0]?.getParameters()[0];
      const argType = param ? checker.getTypeOfSymbol(param) : undefined;
      out.set(at.join("."), {
        description: firstSentence(docOf(checker, prop)),
        deprecated: prop.getJsDocTags(checker).some((tag) => tag.name === "deprecated"),
        args: argType ? scalarArgs(checker, argType) : {},
      });
    }
  };
  for (const member of cls.members) {
    if (!ts.isPropertyDeclaration(member) || !ts.isIdentifier(member.name)) continue;
    const t = checker.getTypeAtLocation(member);
    walk(t, [member.name.text]);
  }
  return out;
}

type Scalar = ArgType | "none" | "mixed";

/** Scalar fields over every variant of an argument type (a union's members, each with all its fields). */
function scalarArgs(checker: ts.TypeChecker, type: ts.Type): Record<string, ArgType> {
  const variants = (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & ts.TypeFlags.Undefined));
  const kinds = new Map<string, Scalar>();
  for (const variant of variants) {
    for (const prop of checker.getPropertiesOfType(variant)) {
      const kind = scalarKind(checker.getTypeOfSymbol(prop));
      const before = kinds.get(prop.name);
      if (kind === "none") {
        if (before === undefined) kinds.set(prop.name, "none");
      } else if (before === undefined || before === "none") kinds.set(prop.name, kind);
      else if (before !== kind) kinds.set(prop.name, "mixed");
    }
  }
  const args: Record<string, ArgType> = {};
  for (const [name, kind] of [...kinds].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name === "token" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
    if (kind === "string" || kind === "number" || kind === "boolean") args[name] = kind;
  }
  return args;
}

/** The JSDoc text, or its `@description` tag (the SDK writes its descriptions as one). */
function docOf(checker: ts.TypeChecker, prop: ts.Symbol): string {
  const comment = ts.displayPartsToString(prop.getDocumentationComment(checker));
  if (comment.trim() !== "") return comment;
  const tag = prop.getJsDocTags(checker).find((t) => t.name === "description");
  return tag?.text ? ts.displayPartsToString(tag.text) : "";
}

/** One line: the first sentence, `{@link url text}` as its text. */
function firstSentence(doc: string): string {
  const text = doc
    .replace(/\{@link\s+\S+\s*([^}]*)\}/g, (_, t: string) => t.replaceAll("`", "").trim())
    .replace(/\s+/g, " ")
    .trim();
  const end = /[.!?](\s|$)/.exec(text);
  return end ? text.slice(0, end.index) : text;
}

const READ_LAST =
  /^(list|info|history|replies|members|conversations|test|identity|search|get[A-Z].*|get|lookup.*|list[A-Z].*|.*Info|.*Logs)$/;
const DELETE_LAST = /^(delete.*|remove.*|archive)$/;

/** The kind a method's name says (every Slack method is a POST). */
export function kindOf(method: string): Kind {
  const segs = method.split(".");
  const last = segs[segs.length - 1] ?? "";
  if (segs[0] === "admin") return "admin";
  if (segs[0] === "search" || READ_LAST.test(last)) return "read";
  if (DELETE_LAST.test(last)) return "delete";
  return "write";
}

function operations(): SourceOperation[] {
  const declared = declaredMethods();
  return slackMethodNames().map((name) => {
    const d = declared.get(name);
    const op: SourceOperation = {
      id: name,
      name,
      method: "POST",
      path: `/api/${name}`,
      kind: kindOf(name),
      deprecated: d?.deprecated ?? false,
      description: d?.description ?? "",
    };
    if (d && Object.keys(d.args).length > 0) op.args = d.args;
    return op;
  });
}

function origin(): string {
  const pkg = JSON.parse(readFileSync(join(dist(), "..", "package.json"), "utf8")) as { version: string };
  return `@slack/web-api@${pkg.version}`;
}

export const source: CatalogSource = {
  service: "slack",
  get origin() {
    return origin();
  },
  operations,
};
