/**
 * The ActionSpec every kind of action compiles to (REST, GraphQL, MCP): what they share, written once.
 * Each kind brings its own methods, path parameters, resource template and body format.
 */

import type { ActionSpec, ArgType, BodyFormat, Kind, ResourcePart, Risk } from "../policy/types";
import type { Problems } from "./source";

/** What every action says in YAML, whatever classifies it. */
export interface ActionCommon {
  path: string;
  kind: Kind;
  risk: Risk;
  data?: string[];
  args?: Record<string, ArgType>;
  same_effect_as?: string[];
  forbidden?: string;
}

export function actionSpecOf(
  service: string,
  key: string,
  a: ActionCommon,
  own: {
    method: ActionSpec["method"];
    params: string[];
    resource: ResourcePart[] | null;
    body_format: BodyFormat | null;
  },
  at: (...p: string[]) => string,
  problems: Problems,
): ActionSpec {
  // Argument names (or a segment of a dotted argument path) that are Object.prototype keys
  // (`__proto__`, `constructor`, ...) cannot be carried by the worker's plain argument objects
  // (`__proto__` would be silently dropped): refuse them.
  for (const name of Object.keys(a.args ?? {})) {
    if (name.split(".").some((segment) => segment in Object.prototype))
      problems.add(at("args", name), `argument name "${name}" is reserved in the gateway: remove it from args`);
  }
  return {
    name: `${service}:${key}`,
    service,
    method: own.method,
    path: a.path,
    kind: a.kind,
    risk: a.risk,
    data: a.data ?? [],
    params: own.params,
    resource: own.resource,
    args: a.args ?? {},
    same_effect_as: (a.same_effect_as ?? []).map((t) => (t.includes(":") ? t : `${service}:${t}`)),
    forbidden: a.forbidden ?? null,
    body_format: own.body_format,
    source: at(),
  };
}
