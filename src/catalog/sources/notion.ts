/**
 * Notion's operations, read from `@notionhq/client` (a dev dependency of the importer only). The SDK
 * describes every endpoint as data (build/src/api-endpoints/*.js: `exports.getPage = { method: "get",
 * pathParams: ["page_id"], queryParams, bodyParams, path: (p) => \`pages/${p.page_id}\` }`), and its
 * Client calls them by the names agents use (`notion.pages.retrieve(...)`). So the source is read by
 * running both, with nothing sent: a Client whose `request` and `streamRequest` only record what they
 * are asked, and every function in its tree called with arguments that name themselves (`page_id` is
 * `{page_id}`), which gives the path template, the method and the name (`pages.retrieve`); the
 * endpoint with that method and path gives the id (`getPage`), and its doc comment the description.
 * The endpoint's declared parameter type (`GetPageParameters` in the .d.ts), through the TypeScript
 * checker, gives the scalar query and body parameters: the arguments.
 *
 * Kind: GET read; a POST that queries or searches read; DELETE delete; else write. Paths are under
 * /v1, the API's version prefix (the SDK's base URL is https://api.notion.com/v1/).
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import ts from "typescript";
import type { ArgType, Kind } from "../../policy/types";
import type { CatalogSource, SourceOperation } from "../source";
import { checkerFor, firstSentence, scalarProps } from "./sdk-types";

const require = createRequire(import.meta.url);
const buildSrc = () => dirname(require.resolve("@notionhq/client"));

interface Endpoint {
  method: string;
  pathParams: string[];
  queryParams: string[];
  bodyParams?: string[];
  formDataParams?: string[];
  path: (p: Record<string, string>) => string;
}

/** Arguments that name themselves: `args.page_id` is `{page_id}`, and they have no keys of their own. */
const SELF_NAMING = new Proxy({} as Record<string, string>, {
  get: (_, key) => (typeof key === "string" ? `{${key}}` : undefined),
});

/** What each function of the Client's tree asks its transport for: name -> method and path. */
function clientCalls(): Map<string, { method: string; path: string }> {
  const { Client } = require("@notionhq/client") as { Client: new (o: object) => Record<string, unknown> };
  const client = new Client({ logLevel: "error", logger: () => {} });
  let last: { method: string; path: string } | undefined;
  const record = (args: { method: string; path: string }) => {
    last = { method: args.method, path: args.path };
    return Promise.resolve({});
  };
  client.request = record;
  client.streamRequest = record;
  const out = new Map<string, { method: string; path: string }>();
  const walk = (node: Record<string, unknown>, at: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      if (key === "request" || key === "streamRequest") continue;
      if (typeof value === "function") {
        last = undefined;
        (value as (a: unknown) => unknown)(SELF_NAMING);
        if (last) out.set([...at, key].join("."), last);
      } else if (value && typeof value === "object") walk(value as Record<string, unknown>, [...at, key]);
    }
  };
  walk(client, []);
  return out;
}

/** The endpoint definitions by export name, and their doc comments. */
function endpoints(): { defs: Map<string, Endpoint>; docs: Map<string, string> } {
  const dir = join(buildSrc(), "api-endpoints");
  const defs = new Map(Object.entries(require(join(buildSrc(), "api-endpoints.js")) as Record<string, Endpoint>));
  const docs = new Map<string, string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
    const text = readFileSync(join(dir, file), "utf8");
    for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*exports\.(\w+) = \{/g)) {
      docs.set(m[2] ?? "", (m[1] ?? "").replace(/^\s*\* ?/gm, ""));
    }
  }
  return { defs, docs };
}

/** Export name -> scalar query and body parameters of its `<Name>Parameters` type. */
function declaredArgs(defs: Map<string, Endpoint>): Map<string, Record<string, ArgType>> {
  const dir = join(buildSrc(), "api-endpoints");
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".d.ts"))
    .map((f) => join(dir, f));
  const { program, checker } = checkerFor(files);
  const types = new Map<string, ts.Type>();
  for (const file of files) {
    const sf = program.getSourceFile(file);
    for (const st of sf?.statements ?? []) {
      if (ts.isTypeAliasDeclaration(st) && st.name.text.endsWith("Parameters")) {
        types.set(st.name.text, checker.getTypeAtLocation(st.name));
      }
    }
  }
  const out = new Map<string, Record<string, ArgType>>();
  for (const [name, def] of defs) {
    const type = types.get(`${name[0]?.toUpperCase()}${name.slice(1)}Parameters`);
    if (!type) continue;
    const wanted = new Set([...def.queryParams, ...(def.bodyParams ?? [])]);
    const skip = new Set(
      checker
        .getPropertiesOfType(type)
        .map((p) => p.name)
        .filter((n) => !wanted.has(n)),
    );
    out.set(name, scalarProps(checker, type, skip));
  }
  return out;
}

function kindOf(method: string, name: string): Kind {
  if (method === "GET") return "read";
  if (method === "DELETE") return "delete";
  if (method === "POST" && /(^|\.)(query\w*|search|list\w*|retrieve\w*|get\w*|introspect)$/.test(name)) return "read";
  return "write";
}

/** `external_agent_stub/{agent_id}/sessions` + `startExternalAgentStubSession` -> `externalAgentStub.startExternalAgentStubSession`. */
function unexposedName(path: string, id: string): string {
  const first = (path.split("/")[0] ?? "").replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return `${first}.${id}`;
}

/**
 * One operation per endpoint definition's method and path, named as the Client calls it; an endpoint
 * the Client does not expose (reachable with `notion.request(...)`) is named by its first path segment
 * and its definition (`threads.continueThread`). Two definitions of one method and path (a session's
 * update and its stream) are one operation.
 */
function operations(): SourceOperation[] {
  const { defs, docs } = endpoints();
  const args = declaredArgs(defs);
  const names = new Map<string, string>();
  for (const [name, call] of clientCalls()) {
    const key = `${call.method} ${call.path}`;
    if (!names.has(key)) names.set(key, name);
  }
  const ops = new Map<string, SourceOperation>();
  for (const [id, def] of defs) {
    if (typeof def.path !== "function" || typeof def.method !== "string") continue;
    const path = def.path(SELF_NAMING);
    const key = `${def.method} ${path}`;
    if (ops.has(key)) continue;
    const name = names.get(key) ?? unexposedName(path, id);
    const method = def.method.toUpperCase() as SourceOperation["method"];
    const doc = docs.get(id) ?? "";
    const op: SourceOperation = {
      id,
      name,
      method,
      path: `/v1/${path}`,
      kind: kindOf(method, name),
      deprecated: /@deprecated/.test(doc),
      description: firstSentence(doc.replace(/@\w+[\s\S]*$/, "")),
    };
    const a = args.get(id) ?? {};
    if (Object.keys(a).length > 0) op.args = a;
    ops.set(key, op);
  }
  return [...ops.values()];
}

export const source: CatalogSource = {
  service: "notion",
  get origin() {
    const pkg = JSON.parse(readFileSync(join(buildSrc(), "..", "..", "package.json"), "utf8")) as { version: string };
    return `@notionhq/client@${pkg.version}`;
  },
  operations,
};
