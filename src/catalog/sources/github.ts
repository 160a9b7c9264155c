/**
 * GitHub's REST API as GitHub describes it: the api.github.com OpenAPI document in `@octokit/openapi`
 * (a dev dependency of the importer; Node only, never in the worker bundle). One SourceOperation per
 * method + path operation of the document:
 *
 *   id           the operationId (`pulls/merge`), the key policies/services/github.overrides.yaml uses
 *   name         `pulls.merge`, `repos.get_content`: `/` -> `.`, kebab -> snake
 *   path         the document's template; a parameter name that is not an identifier is written in
 *                snake case (`{enterprise-team}` -> `{enterprise_team}`), and a segment that mixes text
 *                and parameters (`{base}...{head}`) is one parameter named after them (`{basehead}`),
 *                since a gateway template has whole-segment parameters only. Which parameters may span
 *                segments (`{path+}`) is the overrides' `greedy` list, not the adapter's guess.
 *   kind         `admin` where the path says the operation changes who may do what, credentials or
 *                settings (ADMIN_SEGMENTS), and for every operation on webhooks (their configurations
 *                carry delivery URLs and secrets); otherwise left to the method
 *   deprecated   the document's `deprecated`, or a description that starts with `**Deprecated**`
 *   description  the summary
 *   args         the scalar top-level properties of the JSON request body (string, integer, number,
 *                boolean; not nullable, not a oneOf/anyOf/allOf)
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { ArgType, Kind } from "../../policy/types";
import type { CatalogSource, SourceOperation } from "../source";
import { githubGraphqlOperations, githubGraphqlOrigin, githubGraphqlText } from "./github-graphql";

const PACKAGE = "@octokit/openapi";
const DOCUMENT = `${PACKAGE}/generated/api.github.com.json`;
const METHODS = ["get", "post", "put", "patch", "delete"] as const;

interface Schema {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  oneOf?: unknown[];
  anyOf?: unknown[];
  allOf?: unknown[];
  properties?: Record<string, Schema>;
  [key: string]: unknown;
}

interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  deprecated?: boolean;
  requestBody?: Schema & { content?: Record<string, { schema?: Schema }> };
}

interface Document {
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components: Record<string, Record<string, unknown>>;
}

/**
 * Literal path segments under which a change (any method but GET) is administrative: membership and
 * permissions (collaborators, members, teams, roles, invitations, blocks), branch protection and
 * rulesets, credentials and keys (secrets, tokens, deploy and SSH/GPG keys, runner registration),
 * and settings (Actions permissions and runners, security features, environments, OIDC, billing).
 */
export const ADMIN_SEGMENTS: ReadonlySet<string> = new Set([
  // who may do what
  "collaborators",
  "outside_collaborators",
  "members",
  "memberships",
  "public_members",
  "invitations",
  "repository_invitations",
  "teams",
  "organization-roles",
  "security-managers",
  "permissions",
  "blocks",
  "interaction-limits",
  "installations",
  "installation",
  "suspended",
  "personal-access-tokens",
  "personal-access-token-requests",
  "transfer",
  // what protects a branch
  "protection",
  "rulesets",
  "environments",
  // credentials
  "hooks",
  "hook",
  "secrets",
  "variables",
  "keys",
  "gpg_keys",
  "ssh_signing_keys",
  "access_tokens",
  "token",
  "grant",
  "credentials",
  "registration-token",
  "remove-token",
  "generate-jitconfig",
  "private-registries",
  "oidc",
  // settings
  "settings",
  "runners",
  "runner-groups",
  "hosted-runners",
  "retention-limit",
  "storage-limit",
  "properties",
  "code-security",
  "default-setup",
  "setup",
  "custom-patterns",
  "pattern-configurations",
  "push-protection-bypasses",
  "vulnerability-alerts",
  "automated-security-fixes",
  "private-vulnerability-reporting",
  "immutable-releases",
  "autolinks",
  "preferences",
  "access",
  "billing",
  "policies",
  "content_exclusion",
  "repository-access",
  "issue-types",
  "issue-fields",
]);

/** Segments whose reads are administrative too: a webhook's configuration holds its URL and secret. */
const ADMIN_READ_SEGMENTS: ReadonlySet<string> = new Set(["hooks", "hook"]);

/** The operation's kind when its path says more than its method; undefined leaves it to the method. */
export function kindOf(method: string, path: string): Kind | undefined {
  const literals = path.split("/").filter((s) => s !== "" && !s.includes("{"));
  const admin = method === "GET" ? ADMIN_READ_SEGMENTS : ADMIN_SEGMENTS;
  return literals.some((s) => admin.has(s)) ? "admin" : undefined;
}

/** `repos/get-content` -> `repos.get_content`. */
export function nameOf(operationId: string): string {
  return operationId.replace(/-/g, "_").replace(/\//g, ".");
}

const snake = (name: string) => name.replace(/-/g, "_");

/** The document's path as a gateway template: whole-segment, identifier-named parameters. */
export function templateOf(path: string): string {
  return path
    .split("/")
    .map((seg) => {
      const names = [...seg.matchAll(/\{([^}]+)\}/g)].map((m) => snake(m[1]!));
      if (names.length === 0) return seg;
      // `{base}...{head}`: the upstream reads one segment (and more, when a branch name has a slash).
      return `{${names.join("")}}`;
    })
    .join("/");
}

function resolve(doc: Document, schema: Schema | undefined): Schema | undefined {
  let s = schema;
  for (let hops = 0; s?.$ref !== undefined && hops < 16; hops++) {
    const [, section, name] = s.$ref.replace(/^#\//, "").split("/");
    if (section === undefined || name === undefined) return undefined;
    s = doc.components[section]?.[name] as Schema | undefined;
  }
  return s;
}

const SCALARS: ReadonlySet<string> = new Set(["string", "integer", "number", "boolean"]);

/** The scalar top-level properties of the operation's JSON body (none for a body that is not an object). */
export function argsOf(doc: Document, op: Operation): Record<string, ArgType> | undefined {
  const body = resolve(doc, op.requestBody) as Operation["requestBody"];
  const schema = resolve(doc, body?.content?.["application/json"]?.schema);
  const args: Record<string, ArgType> = {};
  for (const [name, raw] of Object.entries(schema?.properties ?? {})) {
    const p = resolve(doc, raw);
    if (!p || p.nullable || p.oneOf || p.anyOf || p.allOf || !SCALARS.has(p.type ?? "")) continue;
    args[name] = p.type as ArgType;
  }
  return Object.keys(args).length > 0 ? args : undefined;
}

function operationOf(doc: Document, method: string, path: string, op: Operation): SourceOperation {
  const upper = method.toUpperCase() as SourceOperation["method"];
  const out: SourceOperation = {
    id: op.operationId,
    name: nameOf(op.operationId),
    method: upper,
    path: templateOf(path),
    deprecated: op.deprecated === true || (op.description ?? "").startsWith("**Deprecated**"),
    description: (op.summary ?? "").trim(),
  };
  const kind = kindOf(upper, path);
  if (kind) out.kind = kind;
  const args = upper === "GET" ? undefined : argsOf(doc, op);
  if (args) out.args = args;
  return out;
}

export interface Folded {
  /** The operation with no action of its own, and the one whose action its requests reach. */
  id: string;
  into: string;
}

/**
 * Every operation of the document, in the document's order, but one per method + gateway template:
 * two operations the template cannot tell apart address the same endpoint (GitHub's deprecated
 * `GET /compare/{base}...{head}` is `GET /compare/{basehead}`), so the one the document does not
 * deprecate is kept and the other is listed in `folded`.
 */
export function operationsOf(doc: Document): { ops: SourceOperation[]; folded: Folded[] } {
  const byShape = new Map<string, SourceOperation>();
  const folded: Folded[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const raw = item[method];
      if (!raw) continue;
      const op = operationOf(doc, method, path, raw);
      const key = `${op.method} ${op.path.replace(/\{[^}]*\}/g, "{}")}`;
      const twin = byShape.get(key);
      if (!twin) byShape.set(key, op);
      else {
        const [keep, drop] = twin.deprecated && !op.deprecated ? [op, twin] : [twin, op];
        byShape.set(key, keep);
        folded.push({ id: drop.id, into: keep.id });
      }
    }
  }
  return { ops: [...byShape.values()], folded };
}

const nodeRequire = createRequire(import.meta.url);
let cached: ReturnType<typeof operationsOf> | undefined;

/** The parsed api.github.com document of the installed package (13 MB of JSON). */
export function githubDocument(): Document {
  return JSON.parse(readFileSync(nodeRequire.resolve(DOCUMENT), "utf8")) as Document;
}

const version = (): string => (nodeRequire(`${PACKAGE}/package.json`) as { version: string }).version;

/** The operations (read once), and those folded into a twin of the same template. */
export function githubOperations(): ReturnType<typeof operationsOf> {
  cached ??= operationsOf(githubDocument());
  return cached;
}

export const source: CatalogSource = {
  service: "github",
  origin: `${PACKAGE}@${version()} and ${githubGraphqlOrigin()}`,
  operations: () => [...githubOperations().ops, ...githubGraphqlOperations()],
  graphqlSchema: githubGraphqlText,
};

export default source;
