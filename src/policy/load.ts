/**
 * Loading a compiled bundle: check the manifest, parse each CEL condition once. Runs once per isolate
 * (the worker) or per command (the CLI), never per request.
 */

import { type Condition, compileCondition } from "./cel";
import type { ProfileSpec } from "./types";
import { BUNDLE_FORMAT, type Bundle, type RuleSpec } from "./types";

export interface LoadedBundle {
  spec: Bundle;
  conditions: (Condition | null)[];
  /** Qualified action name -> index. */
  actionIndex: Map<string, number>;
  /** Profile name -> profile (task tokens name their profile). */
  profiles: Map<string, ProfileSpec>;
  /** Rule id -> rule (a decision names its rules by id). */
  rulesById: Map<string, RuleSpec>;
}

export class BundleError extends Error {}

export type BundleState = { ok: true; bundle: LoadedBundle } | { ok: false; error: string };

/** The bundle loaded, or the reason it does not load, kept as a state: never thrown at a request. */
export function bundleState(json: unknown): BundleState {
  try {
    return { ok: true, bundle: loadBundle(json) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : "unloadable bundle" };
  }
}

export function loadBundle(json: unknown): LoadedBundle {
  const spec = json as Bundle;
  const m = spec?.manifest;
  if (!m || m.format !== BUNDLE_FORMAT) {
    throw new BundleError(`bundle format ${String(m?.format)} is not ${BUNDLE_FORMAT}: recompile the policies`);
  }
  if (!/^[0-9a-f]{64}$/.test(m.revision)) throw new BundleError("bundle revision is not a sha256");
  if (
    m.counts.actions !== spec.actions.length ||
    m.counts.rules !== spec.rules.length ||
    m.counts.issuers !== spec.issuers.length ||
    m.counts.services !== Object.keys(spec.services).length ||
    !Array.isArray(spec.profiles) ||
    m.counts.profiles !== spec.profiles.length ||
    !Array.isArray(spec.index) ||
    spec.index.length !== spec.actions.length ||
    !Array.isArray(spec.buckets)
  ) {
    throw new BundleError("bundle counts do not match its manifest");
  }
  const conditions = spec.rules.map((r) => (r.when === null ? null : compileCondition(r.when)));
  const actionIndex = new Map(spec.actions.map((a, i) => [a.name, i]));
  const profiles = new Map(spec.profiles.map((p) => [p.name, p]));
  const rulesById = new Map(spec.rules.map((r) => [r.id, r]));
  return { spec, conditions, actionIndex, profiles, rulesById };
}
