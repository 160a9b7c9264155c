/**
 * What `firebreak lint` needs from the sources that the bundle does not carry: where each rule,
 * profile and issuer (and the keys a finding points at) is written, the findings accepted there with
 * their reasons, and the `lint:` settings of policies/firebreak.yaml. A side map returned by the
 * compile, never part of the shipped bundle: positions are plain `file:line` strings, so the YAML
 * documents are not kept alive by it.
 */
import type { DEFAULT_CAPS } from "./lint-caps";
import type { SourceFile } from "./source";

/** A finding accepted in a policy file: the lint rule's id, why, and where the acceptance is written. */
export interface Acceptance {
  lint: string;
  reason: string;
  where: string;
}

/** Where one rule, profile or issuer is written. */
export interface EntitySource {
  /** `file:line` of the entry (its first key). */
  where: string;
  /** `file:line` of some of its keys, by dotted path (`when`, `agents`, `actions.kind:read`, `budgets.calls`). */
  keys: Record<string, string>;
  accept: Acceptance[];
}

/** The `lint:` block of policies/firebreak.yaml, as written (DEFAULT_CAPS where a cap is not). */
export interface LintSettings {
  caps?: { [K in keyof typeof DEFAULT_CAPS]?: number };
  public_issuers?: string[];
  /** `file:line` of the block's keys (`caps.task_ttl`), for findings about the settings. */
  keys: Record<string, string>;
}

export interface LintSources {
  /** By rule id (unique in a bundle that compiled). */
  rules: Map<string, EntitySource>;
  /** By profile name. */
  profiles: Map<string, EntitySource>;
  /** By issuer name: the declaration that is in the bundle (a dev overlay's replaces production's). */
  issuers: Map<string, EntitySource>;
  lint: LintSettings;
}

export function emptyLintSources(): LintSources {
  return { rules: new Map(), profiles: new Map(), issuers: new Map(), lint: { keys: {} } };
}

type Path = (string | number)[];

/**
 * The selectors a lint finding can point at (every action, a whole service, a kind of writes): only
 * their lines are kept, since ten thousand rules name many more selectors than that.
 */
const WIDE_SELECTOR = /^(\*|[^:]+:\*|kind:(write|delete|admin))$/;

/**
 * One entry's positions: the entry at `base`, each key of `keys` that is written, its wide selectors
 * by value (`actions.github:*`), and its acceptances.
 */
export function entitySource(
  src: SourceFile,
  base: Path,
  data: object,
  keys: string[],
  where = src.at(base),
): EntitySource {
  const d = data as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of keys) {
    const [head, tail] = key.split(".") as [string, string | undefined];
    const value = d[head];
    if (value === undefined) continue;
    if (tail === undefined) out[key] = src.at([...base, head]);
    else if (typeof value === "object" && value !== null && Object.hasOwn(value, tail))
      out[key] = src.at([...base, head, tail]);
  }
  if (Array.isArray(d.actions))
    (d.actions as string[]).forEach((sel, k) => {
      if (WIDE_SELECTOR.test(sel)) out[`actions.${sel}`] ??= src.at([...base, "actions", k]);
    });
  const accept = ((d.accept ?? []) as { lint: string; reason: string }[]).map((a, k) => ({
    lint: a.lint,
    reason: a.reason,
    where: src.at([...base, "accept", k]),
  }));
  return { where, keys: out, accept };
}

/** The `lint:` block of firebreak.yaml with the positions of its keys. */
export function lintSettings(src: SourceFile): LintSettings {
  const data = (src.data as { lint?: Omit<LintSettings, "keys"> }).lint ?? {};
  const keys: Record<string, string> = {};
  for (const k of Object.keys(data.caps ?? {})) keys[`caps.${k}`] = src.at(["lint", "caps", k]);
  return { ...data, keys };
}
