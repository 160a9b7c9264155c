/**
 * Google Workspace operations, read from one `@googleapis/<api>` package (a dev dependency of the
 * importer only). The package is generated from Google's discovery document: its built JS has one
 * class per resource (`Resource$Users$Messages`), whose constructor names the sub-resources
 * (`this.attachments = new Resource$Users$Messages$Attachments(...)`) and whose every method calls
 * createAPIRequest with `url: rootUrl + '/gmail/v1/users/{userId}/messages/send'`, `method: 'POST'` and,
 * for uploads, `mediaUrl: rootUrl + '/upload/gmail/v1/...'`. Both are read from the JS's syntax tree,
 * walking the resource tree from the API's root class, so names keep the SDK's case
 * (`users.settings.sendAs.list`, as `gmail.users.settings.sendAs.list()` is called).
 *
 * The declarations (build/<version>.d.ts) add, through the TypeScript checker, each method's
 * description and its parameters: the scalar query parameters (path parameters and the request body
 * aside) and the scalar top-level fields of the request body's schema are its arguments (the service
 * reads both, `args_in: [query, body]`).
 *
 * An upload (`mediaUrl`) is a second operation, `<name>.upload` (id and name), of the same method on
 * the upload path; its body is the media, so it declares no arguments. Kind: GET read; a method of an
 * `admin` resource the caller names (permissions, ACLs, settings) admin; DELETE or a method named
 * delete/batchDelete/clear/emptyTrash delete; everything else write.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import ts from "typescript";
import type { ArgType, Kind } from "../../policy/types";
import type { CatalogSource, SourceOperation } from "../source";
import { checkerFor, collect, firstSentence, firstString, prop, scalarProps } from "./sdk-types";

const require = createRequire(import.meta.url);

interface JsMethod {
  name: string;
  url: string;
  mediaUrl?: string;
  method: SourceOperation["method"];
  pathParams: string[];
}

interface JsClass {
  /** Sub-resource property -> its class. */
  children: [string, string][];
  methods: JsMethod[];
}

/** What the declarations say about one method of a resource class. */
interface Declared {
  description: string;
  args: Record<string, ArgType>;
}

export interface GoogleApi {
  service: string;
  /** `@googleapis/gmail` */
  pkg: string;
  /** The API version file: `v1` (build/v1.js, build/v1.d.ts). */
  version: string;
  /** Resource names whose non-read methods are admin (`permissions`, `acl`, `settings`). */
  admin: string[];
}

/** The resource classes of the built JS, and the API's root class (the one not named Resource$...). */
export function readJs(file: string): { root: string; classes: Map<string, JsClass> } {
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const classes = new Map<string, JsClass>();
  let root = "";
  for (const cls of collect(sf, ts.isClassDeclaration)) {
    const name = cls.name?.text ?? "";
    const entry: JsClass = { children: [], methods: [] };
    for (const member of cls.members) {
      if (ts.isConstructorDeclaration(member)) entry.children = childrenOf(member);
      else if (ts.isMethodDeclaration(member) && ts.isIdentifier(member.name)) {
        const m = methodOf(member.name.text, member);
        if (m) entry.methods.push(m);
      }
    }
    classes.set(name, entry);
    if (!name.startsWith("Resource$") && entry.children.length > 0) root = name;
  }
  if (root === "") throw new Error(`${file}: no API root class`);
  return { root, classes };
}

/** `this.x = new Resource$A$X(this.context)` -> [x, Resource$A$X]. */
function childrenOf(ctor: ts.ConstructorDeclaration): [string, string][] {
  const out: [string, string][] = [];
  for (const bin of collect(ctor, ts.isBinaryExpression)) {
    const { left, right } = bin;
    if (!ts.isPropertyAccessExpression(left) || left.expression.kind !== ts.SyntaxKind.ThisKeyword) continue;
    if (!ts.isNewExpression(right) || !ts.isIdentifier(right.expression)) continue;
    if (right.expression.text.startsWith("Resource$")) out.push([left.name.text, right.expression.text]);
  }
  return out;
}

/** The request a method makes: the `options` literal with url and method, and `pathParams`. */
function methodOf(name: string, node: ts.MethodDeclaration): JsMethod | undefined {
  let found: JsMethod | undefined;
  let pathParams: string[] = [];
  let mediaUrl: string | undefined;
  for (const obj of collect(node, ts.isObjectLiteralExpression)) {
    const url = prop(obj, "url");
    const method = prop(obj, "method");
    if (url && method) {
      const verb = (firstString(method) ?? "").toUpperCase() as JsMethod["method"];
      found = { name, url: firstString(url) ?? "", method: verb, pathParams: [] };
    }
    // `parameters`: { options: {url, method}, mediaUrl, pathParams, ... }
    const pp = prop(obj, "pathParams");
    if (pp && ts.isArrayLiteralExpression(pp)) pathParams = pp.elements.map((e) => firstString(e) ?? "");
    const media = prop(obj, "mediaUrl");
    if (media) mediaUrl = firstString(media);
  }
  if (!found) return undefined;
  found.pathParams = pathParams;
  if (mediaUrl) found.mediaUrl = mediaUrl;
  return found;
}

/** `Class.method` -> description and arguments, from the declarations. */
export function readDeclarations(file: string): Map<string, Declared> {
  const { program, checker } = checkerFor([file]);
  const sf = program.getSourceFile(file);
  const out = new Map<string, Declared>();
  if (!sf) return out;
  for (const cls of collect(sf, ts.isClassDeclaration)) {
    const className = cls.name?.text ?? "";
    for (const member of cls.members) {
      if (!ts.isMethodDeclaration(member) || !ts.isIdentifier(member.name)) continue;
      const key = `${className}.${member.name.text}`;
      if (out.has(key)) continue; // the first overload carries the documentation
      const symbol = checker.getSymbolAtLocation(member.name);
      const doc = symbol ? ts.displayPartsToString(symbol.getDocumentationComment(checker)) : "";
      const param = member.parameters[0];
      const args = param ? argsOf(checker, checker.getTypeAtLocation(param)) : {};
      out.set(key, { description: firstSentence(doc), args });
    }
  }
  return out;
}

/**
 * Body fields that are never arguments: arguments are kept in the task's step log, and these carry a
 * whole message (Gmail's `raw`) or key material and passwords (S/MIME, client-side encryption).
 */
const NOT_BODY_ARGS = new Set(["raw", "pem", "pkcs7", "pkcs12", "encryptedKeyPassword"]);

/**
 * Scalar query parameters (path parameters are removed later) and the body schema's scalar fields.
 * The parameters every method inherits (StandardParameters: alt, fields, key, access_token, ...) are
 * plumbing, not arguments.
 */
function argsOf(checker: ts.TypeChecker, params: ts.Type): Record<string, ArgType> {
  const type = checker.getNonNullableType(params);
  const skip = new Set(["requestBody", "media"]);
  for (const p of checker.getPropertiesOfType(type)) {
    const parent = p.declarations?.[0]?.parent;
    if (parent && ts.isInterfaceDeclaration(parent) && parent.name.text === "StandardParameters") skip.add(p.name);
  }
  const args = scalarProps(checker, type, skip);
  const body = type.getProperty("requestBody");
  if (body) {
    const schema = checker.getNonNullableType(checker.getTypeOfSymbol(body));
    for (const [name, kind] of Object.entries(scalarProps(checker, schema, NOT_BODY_ARGS))) {
      // A name that is a query parameter and a body field is one argument only where both agree.
      if (args[name] === undefined) args[name] = kind;
      else if (args[name] !== kind) delete args[name];
    }
  }
  return args;
}

const DELETES = /^(delete|batchDelete|clear|emptyTrash)$/;

function kindOf(m: JsMethod, resources: string[], api: GoogleApi): Kind {
  if (m.method === "GET") return "read";
  if (resources.some((r) => api.admin.includes(r))) return "admin";
  if (m.method === "DELETE" || DELETES.test(m.name)) return "delete";
  return "write";
}

/** `https://gmail.googleapis.com//gmail/v1/x` -> `/gmail/v1/x`; `{+name}` (reserved expansion) -> `{name+}`. */
function pathOf(url: string): string {
  const path = url.replace(/^https?:\/\/[^/]+/, "").replace(/\/{2,}/g, "/");
  const withSlash = path.startsWith("/") ? path : `/${path}`;
  return withSlash.replace(/\{\+([A-Za-z_][A-Za-z0-9_]*)\}/g, "{$1+}");
}

function withoutPathParams(args: Record<string, ArgType>, pathParams: string[]): Record<string, ArgType> {
  return Object.fromEntries(Object.entries(args).filter(([n]) => !pathParams.includes(n)));
}

function opsOf(api: GoogleApi, classes: Map<string, JsClass>, declared: Map<string, Declared>, root: string) {
  const ops: SourceOperation[] = [];
  const walk = (cls: string, resources: string[]) => {
    const c = classes.get(cls);
    if (!c) return;
    for (const m of c.methods) {
      const name = [...resources, m.name].join(".");
      const d = declared.get(`${cls}.${m.name}`);
      const description = d?.description ?? "";
      const op: SourceOperation = {
        id: name,
        name,
        method: m.method,
        path: pathOf(m.url),
        kind: kindOf(m, resources, api),
        deprecated: /^deprecated\b/i.test(description),
        description,
      };
      const args = withoutPathParams(d?.args ?? {}, m.pathParams);
      if (Object.keys(args).length > 0) op.args = args;
      ops.push(op);
      if (m.mediaUrl) {
        const { args: _, ...plain } = op;
        ops.push({ ...plain, id: `${name}.upload`, name: `${name}.upload`, path: pathOf(m.mediaUrl) });
      }
    }
    for (const [child, childClass] of c.children) walk(childClass, [...resources, child]);
  };
  walk(root, []);
  return foldCustomMethods(ops);
}

const CUSTOM = /\/(\{[A-Za-z_][A-Za-z0-9_]*\}):([A-Za-z]+)$/;
const KIND_ORDER: Kind[] = ["read", "write", "delete", "admin"];

/**
 * Google's custom methods on a resource (`POST .../keypairs/{keyPairId}:disable`) end in a segment that
 * is a parameter and a literal at once, which a route template cannot say (a segment is a literal or a
 * whole parameter). The custom methods of one method and resource become one operation on the
 * parameter's path (`.../keypairs/{keyPairId}`), named by their verbs (`keypairs.disable_enable_obliterate`),
 * of the strongest kind among them; rules tell the verbs apart by `request.path`. A collection's custom
 * method (`.../approvals:start`) is a literal segment and stays as it is.
 */
export function foldCustomMethods(ops: SourceOperation[]): SourceOperation[] {
  const groups = new Map<string, SourceOperation[]>();
  const out: SourceOperation[] = [];
  for (const op of ops) {
    const m = CUSTOM.exec(op.path);
    if (!m) {
      out.push(op);
      continue;
    }
    const key = `${op.method} ${op.path.slice(0, m.index)}/${m[1]}`;
    groups.set(key, [...(groups.get(key) ?? []), op]);
  }
  for (const [key, members] of groups) {
    const path = key.slice(key.indexOf(" ") + 1);
    const first = members[0] as SourceOperation;
    if (out.some((o) => o.method === first.method && o.path === path)) throw new Error(`${key} is also a method`);
    const verbs = members.map((o) => o.name.slice(o.name.lastIndexOf(".") + 1));
    const name = `${first.name.slice(0, first.name.lastIndexOf(".") + 1)}${verbs.join("_")}`;
    const kinds = members.map((o) => KIND_ORDER.indexOf(o.kind ?? "write"));
    const folded: SourceOperation = {
      id: name,
      name,
      method: first.method,
      path,
      kind: KIND_ORDER[Math.max(...kinds)],
      deprecated: members.every((o) => o.deprecated),
      description:
        members.length === 1
          ? first.description
          : `${verbs.join(", ")} (custom methods ${path}:<verb>): ${first.description}`,
    };
    const args = Object.assign({}, ...members.map((o) => o.args ?? {}));
    if (Object.keys(args).length > 0) folded.args = args;
    out.push(folded);
  }
  return out;
}

function buildDir(pkg: string): string {
  return dirname(require.resolve(pkg));
}

export function googleSource(api: GoogleApi): CatalogSource {
  return {
    service: api.service,
    get origin() {
      const meta = JSON.parse(readFileSync(join(buildDir(api.pkg), "..", "package.json"), "utf8")) as {
        version: string;
      };
      return `${api.pkg}@${meta.version} (${api.version})`;
    },
    operations() {
      const dir = buildDir(api.pkg);
      const { root, classes } = readJs(join(dir, `${api.version}.js`));
      const declared = readDeclarations(join(dir, `${api.version}.d.ts`));
      return opsOf(api, classes, declared, root);
    },
  };
}
