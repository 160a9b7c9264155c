/**
 * What a re-import changes: the actions the new catalog adds, removes and changes, compared with the
 * catalog on disk, so the person re-importing reads exactly what the vendor changed. Pure.
 */
import type { ActionEntry } from "./overrides";

export interface CatalogDiff {
  added: string[];
  removed: string[];
  /** Action name -> the keys whose values differ. */
  changed: Record<string, string[]>;
}

export function diffCatalogs(before: Record<string, ActionEntry>, after: Record<string, ActionEntry>): CatalogDiff {
  const added = Object.keys(after).filter((n) => !Object.hasOwn(before, n));
  const removed = Object.keys(before).filter((n) => !Object.hasOwn(after, n));
  const changed: Record<string, string[]> = {};
  for (const [name, entry] of Object.entries(after)) {
    const old = before[name];
    if (!old) continue;
    const keys = [...new Set([...Object.keys(old), ...Object.keys(entry)])].filter(
      (k) => JSON.stringify(old[k as keyof ActionEntry]) !== JSON.stringify(entry[k as keyof ActionEntry]),
    );
    if (keys.length > 0) changed[name] = keys.sort();
  }
  return { added, removed, changed };
}

export function formatDiff(d: CatalogDiff): string {
  const out: string[] = [];
  for (const n of d.added) out.push(`+ ${n}`);
  for (const n of d.removed) out.push(`- ${n}`);
  for (const [n, keys] of Object.entries(d.changed)) out.push(`~ ${n} (${keys.join(", ")})`);
  const summary = `${d.added.length} new, ${d.removed.length} removed, ${Object.keys(d.changed).length} changed`;
  return out.length === 0 ? "no changes" : `${out.join("\n")}\n${summary}`;
}
