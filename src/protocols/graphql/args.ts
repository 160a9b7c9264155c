/**
 * A root field's arguments as the action declares them. GraphQL arguments nest (GitHub's mutations
 * take one `input` object), so a declared argument is named by its path: `input.pullRequestId` is the
 * `pullRequestId` field of the `input` argument, `owner` a top-level argument. The values are the
 * coerced ones (variables resolved, literals parsed, enums by name), exactly what the server executes
 * with. A path that is absent is left out; an explicit `null` is kept as null (setting a field to null
 * is a change a rule may want to see). Pure.
 */
import { type Result, refuse } from "../../core/result";
import type { ActionSpec, ArgType } from "../../policy/types";

export function declaredArgs(
  action: ActionSpec,
  values: Record<string, unknown>,
): Result<{ args: Record<string, unknown>; params: Record<string, string> }> {
  const args: Record<string, unknown> = Object.create(null);
  for (const [path, type] of Object.entries(action.args)) {
    const v = at(values, path);
    if (v === undefined) continue;
    if (v !== null && !fits(v, type)) return refuse("request.body_invalid", `argument ${path} is not a ${type}`);
    args[path] = v;
  }
  const params: Record<string, string> = Object.create(null);
  for (const path of action.params) {
    const v = at(values, path);
    if (typeof v === "string") params[path] = v;
    else if (typeof v === "number" && Number.isFinite(v)) params[path] = String(v);
  }
  return { ok: true, args, params };
}

/** The value at a dotted path through objects (never through lists); undefined when absent. */
function at(values: Record<string, unknown>, path: string): unknown {
  let v: unknown = values;
  for (const seg of path.split(".")) {
    if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function fits(v: unknown, type: ArgType): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "boolean":
      return typeof v === "boolean";
  }
}
