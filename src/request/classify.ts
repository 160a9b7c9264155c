/**
 * Stage 3, classify: method + canonical path -> exactly one catalog action (literal segments beat
 * parameters, see src/policy/routes.ts; the compiler refused same-shape templates), its path
 * parameters, and later the resource it touches. Pure.
 *
 * HEAD is classified as the GET action of the same path: it reads the same thing, minus the body.
 */

import { type Result, refuse } from "../core/result";
import type { LoadedBundle } from "../policy/load";
import { matchRoute } from "../policy/routes";
import type { ActionSpec, ServiceSpec } from "../policy/types";
import { scopedResource } from "./headers";
import type { CanonicalRequest } from "./route";

export interface Classification {
  action: number;
  spec: ActionSpec;
  params: Record<string, string>;
}

export function classify(bundle: LoadedBundle, req: CanonicalRequest): Result<{ value: Classification }> {
  const method = req.method === "HEAD" ? "GET" : req.method;
  const match = matchRoute(req.service.routes, req.segments, method);
  if (!match) return refuse("action.unknown", `${req.method} ${req.service.name}${req.path}`.slice(0, 256));
  const spec = bundle.spec.actions[match.action];
  if (spec === undefined) return refuse("bundle.invalid", `the route names no action ${match.action}`);
  const params: Record<string, string> = Object.create(null);
  let i = 0;
  for (const name of spec.params) {
    const value = match.values[i++];
    if (value === undefined) return refuse("bundle.invalid", `${spec.name} has no value for ${name}`);
    // Canonical segments are valid UTF-8 escapes (route checked), so this cannot throw.
    params[name] = decodeURIComponent(value);
  }
  return { ok: true, value: { action: match.action, spec, params } };
}

/**
 * The resource a call touches: the action's template, prefixed by the scope of each semantic header
 * it carries (a Stripe call with `Stripe-Account: acct_1` touches `account:acct_1/customer:cus_1`), so
 * a rule written for the platform's own objects does not match a connected account's.
 */
export function resourceFor(
  service: ServiceSpec,
  spec: ActionSpec,
  params: Record<string, string>,
  args: Record<string, unknown>,
  headers: Record<string, string>,
): string {
  return scopedResource(service, headers, resourceOf(spec, params, args));
}

/** Renders the action's resource template (`repo:{owner}/{repo}`); "" when there is none or a part is missing. */
export function resourceOf(spec: ActionSpec, params: Record<string, string>, args: Record<string, unknown>): string {
  if (spec.resource === null) return "";
  let out = "";
  for (const part of spec.resource) {
    if ("t" in part) out += part.t;
    else {
      const v = "param" in part ? params[part.param] : args[part.arg];
      if (v === undefined || v === null || typeof v === "object") return "";
      out += String(v);
    }
  }
  return out;
}
