/**
 * Jira Cloud's operations (the platform REST API v3), read from `jira.js` (a dev dependency of the
 * importer only). The package ships its TypeScript sources: one class per API group
 * (src/version3/issueComments.ts), each method building `const config: RequestConfig = { url:
 * \`/rest/api/3/issue/${issueIdOrKey}/comment\`, method: 'POST', params: {...}, data: {...} }`. The
 * syntax tree gives the path (each `${...}` a parameter named by its last identifier) and the method;
 * the client (src/version3/client/version3Client.ts: `issueComments = new IssueComments(this)`) the
 * name, `issueComments.addComment`, as it is called; the TypeScript checker the scalar `params` (query)
 * and `data` (body) fields: the arguments. The doc comment gives the description and `@deprecated`.
 *
 * Only Version3Client: Version2Client is the same API under /rest/api/2 (its paths stay
 * `action.unknown`), and the Agile and Service Desk clients are other products' APIs.
 *
 * Kind: GET read; a POST that only reads (searches, bulk fetches, pickers) read; a method of a
 * configuration group (workflows, schemes, permissions, roles, groups, users, fields, settings,
 * sharing, webhooks: what a Jira administrator changes) admin; DELETE delete; else write.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import ts from "typescript";
import type { ArgType, Kind } from "../../policy/types";
import type { CatalogSource, SourceOperation } from "../source";
import { checkerFor, collect, firstSentence, prop, scalarOf } from "./sdk-types";

const require = createRequire(import.meta.url);
const root = () => join(dirname(require.resolve("jira.js/package.json")), "src", "version3");

/** API groups whose changes configure Jira (what needs Jira or project administration). */
const ADMIN_GROUPS = new Set([
  "announcementBanner",
  "appDataPolicies",
  "appMigration",
  "applicationRoles",
  "dynamicModules",
  "fieldSchemes",
  "filterSharing",
  "groups",
  "issueCustomFieldAssociations",
  "issueCustomFieldConfigurationApps",
  "issueCustomFieldContexts",
  "issueCustomFieldOptions",
  "issueCustomFieldOptionsApps",
  "issueFieldConfigurations",
  "issueFields",
  "issueLinkTypes",
  "issueNavigatorSettings",
  "issueNotificationSchemes",
  "issuePriorities",
  "issueResolutions",
  "issueSecurityLevel",
  "issueSecuritySchemes",
  "issueTypeSchemes",
  "issueTypeScreenSchemes",
  "issueTypes",
  "jiraSettings",
  "migrationOfConnectModulesToForge",
  "permissionSchemes",
  "permissions",
  "prioritySchemes",
  "projectCategories",
  "projectClassificationLevels",
  "projectEmail",
  "projectFeatures",
  "projectPermissionSchemes",
  "projectRoleActors",
  "projectRoles",
  "projectTemplates",
  "projects",
  "screenSchemes",
  "screenTabFields",
  "screenTabs",
  "screens",
  "status",
  "timeTracking",
  "uIModificationsApps",
  "users",
  "webhooks",
  "workflowSchemeDrafts",
  "workflowSchemeProjectAssociations",
  "workflowSchemes",
  "workflowStatusCategories",
  "workflowStatuses",
  "workflowTransitionProperties",
  "workflowTransitionRules",
  "workflows",
]);

/** A POST whose last path segment or method name says it only reads. */
const READ_POST =
  /(^|\/)(search|list|picker|bulkfetch|match|evaluate|read|query|fetch)([A-Z/]|$)|^(get|search|find)[A-Z]/i;

/** Class name -> the client's property (`IssueComments` -> `issueComments`). */
function groupsOf(dir: string): Map<string, string> {
  const text = readFileSync(join(dir, "client", "version3Client.ts"), "utf8");
  return new Map([...text.matchAll(/^\s+(\w+) = new (\w+)\(this\);/gm)].map((m) => [m[2] ?? "", m[1] ?? ""]));
}

/** `/rest/api/3/issue/${issueIdOrKey}` -> `/rest/api/3/issue/{issueIdOrKey}`. */
function pathOf(url: ts.Expression): string | undefined {
  if (ts.isStringLiteral(url) || ts.isNoSubstitutionTemplateLiteral(url)) return url.text;
  if (!ts.isTemplateExpression(url)) return undefined;
  let out = url.head.text;
  for (const span of url.templateSpans) {
    const names = collect(span.expression, ts.isIdentifier).map((i) => i.text);
    out += `{${names[names.length - 1]}}${span.literal.text}`;
  }
  return out;
}

/** Scalar fields of a `params` or `data` object literal: each `name: parameters.x` the checker types. */
function scalarFields(checker: ts.TypeChecker, obj: ts.Expression | undefined): Record<string, ArgType> {
  const out: Record<string, ArgType> = {};
  if (!obj || !ts.isObjectLiteralExpression(obj)) return out;
  for (const p of obj.properties) {
    if (!p.name || !ts.isIdentifier(p.name)) continue;
    const value = ts.isPropertyAssignment(p) ? p.initializer : ts.isShorthandPropertyAssignment(p) ? p.name : null;
    if (!value) continue;
    const kind = scalarOf(checker.getTypeAtLocation(value));
    if (kind) out[p.name.text] = kind;
  }
  return out;
}

function kindOf(group: string, method: string, name: string, path: string): Kind {
  if (method === "GET") return "read";
  if (method === "POST" && READ_POST.test(path.slice(path.lastIndexOf("/")))) return "read";
  if (method === "POST" && /^(get|search|find)[A-Z]/.test(name)) return "read";
  if (ADMIN_GROUPS.has(group)) return "admin";
  if (method === "DELETE") return "delete";
  return "write";
}

/** The operations of one API group's class. */
function groupOps(checker: ts.TypeChecker, sf: ts.SourceFile, groups: Map<string, string>): SourceOperation[] {
  const ops: SourceOperation[] = [];
  for (const cls of collect(sf, ts.isClassDeclaration)) {
    const group = groups.get(cls.name?.text ?? "");
    if (!group) continue;
    for (const m of cls.members) {
      if (!ts.isMethodDeclaration(m) || !m.body || !ts.isIdentifier(m.name)) continue;
      const config = collect(m.body, ts.isVariableDeclaration).find((v) => v.name.getText() === "config");
      const obj = config?.initializer;
      if (!obj || !ts.isObjectLiteralExpression(obj)) continue;
      const url = prop(obj, "url");
      const verb = prop(obj, "method");
      const path = url ? pathOf(url) : undefined;
      if (!path || !verb || !ts.isStringLiteral(verb)) throw new Error(`${group}.${m.name.text}: no url/method`);
      const method = verb.text.toUpperCase() as SourceOperation["method"];
      const symbol = checker.getSymbolAtLocation(m.name);
      const doc = symbol ? ts.displayPartsToString(symbol.getDocumentationComment(checker)) : "";
      const name = `${group}.${m.name.text}`;
      const op: SourceOperation = {
        id: name,
        name,
        method,
        path,
        kind: kindOf(group, method, m.name.text, path),
        deprecated: symbol?.getJsDocTags(checker).some((t) => t.name === "deprecated") ?? false,
        description: firstSentence(doc),
      };
      const args = { ...scalarFields(checker, prop(obj, "params")), ...scalarFields(checker, prop(obj, "data")) };
      if (Object.keys(args).length > 0) op.args = Object.fromEntries(Object.entries(args).sort());
      ops.push(op);
    }
  }
  return ops;
}

/**
 * Two SDK methods for one method + path (an old name kept beside a new one) are one operation: the
 * first that is not deprecated, else the first.
 */
function onePerPath(ops: SourceOperation[]): SourceOperation[] {
  const byShape = new Map<string, SourceOperation>();
  for (const op of ops) {
    const key = `${op.method} ${op.path}`;
    const had = byShape.get(key);
    if (!had || (had.deprecated && !op.deprecated)) byShape.set(key, op);
  }
  return [...byShape.values()];
}

function operations(): SourceOperation[] {
  const dir = root();
  const groups = groupsOf(dir);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".ts") && f !== "index.ts")
    .map((f) => join(dir, f));
  const { program, checker } = checkerFor(files);
  const ops: SourceOperation[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (sf) ops.push(...groupOps(checker, sf, groups));
  }
  return onePerPath(ops);
}

export const source: CatalogSource = {
  service: "jira",
  get origin() {
    const pkg = JSON.parse(readFileSync(join(root(), "..", "..", "package.json"), "utf8")) as { version: string };
    return `jira.js@${pkg.version} (Version3Client)`;
  },
  operations,
};
