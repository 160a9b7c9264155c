/**
 * The GitHub App permissions a task's installation token asks for, from the actions its profile allows.
 * The map (github-permissions.json) is written by `firebreak catalog import github` from GitHub's
 * description and the reviewed table in src/catalog/github-permissions.ts; CI checks it is current.
 * Each entry is `permission:level` (several, comma-separated, for a GraphQL alias of several REST
 * actions), `none` (no permission needed) or `unavailable` (an installation token cannot call it).
 */
import map from "./github-permissions.json";

export type PermissionLevel = "read" | "write" | "admin";
const RANK: Record<PermissionLevel, number> = { read: 1, write: 2, admin: 3 };

const MAP: Readonly<Record<string, string>> = map;

/** The grants of one unqualified action name, or undefined when the map does not cover it. */
export function grantsOf(action: string): string | undefined {
  return Object.hasOwn(MAP, action) ? MAP[action] : undefined;
}

/**
 * The permissions an installation token needs for these actions (qualified, `github:issues.get`; those
 * of other services are ignored): each permission at the highest level any action needs. Actions the
 * map does not cover, or that installation tokens cannot call, add nothing (`unmappedActions` names
 * them; the compiler refuses a github_app profile that allows one).
 */
export function permissionsFor(actions: string[], service = "github"): Record<string, PermissionLevel> {
  const out: Record<string, PermissionLevel> = {};
  const prefix = `${service}:`;
  for (const action of actions) {
    if (!action.startsWith(prefix)) continue;
    const grants = grantsOf(action.slice(prefix.length));
    if (grants === undefined || grants === "none" || grants === "unavailable") continue;
    for (const grant of grants.split(",")) {
      const [permission, level] = grant.split(":") as [string, PermissionLevel];
      const had = out[permission];
      if (had === undefined || RANK[level] > RANK[had]) out[permission] = level;
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The actions of `service` an installation token could not be scoped to: unmapped or unavailable. */
export function unmappedActions(actions: string[], service = "github"): string[] {
  const prefix = `${service}:`;
  return actions.filter((a) => {
    if (!a.startsWith(prefix)) return false;
    const grants = grantsOf(a.slice(prefix.length));
    return grants === undefined || grants === "unavailable";
  });
}
