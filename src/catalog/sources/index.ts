/**
 * The catalog sources by service name: src/catalog/sources/<name>.ts exports `source`. Each is loaded
 * only when asked for: the vendors' packages are dev dependencies of the importer, never part of the
 * worker bundle. A new service adds its file and its name here.
 */
import type { CatalogSource } from "../source";

export const SOURCE_NAMES = [
  "github",
  "stripe",
  "slack",
  "gmail",
  "drive",
  "calendar",
  "jira",
  "notion",
  "linear",
  "crm",
] as const;

export async function loadSource(name: string): Promise<CatalogSource | null> {
  if (!(SOURCE_NAMES as readonly string[]).includes(name)) return null;
  const module = (await import(`./${name}.ts`)) as { source: CatalogSource };
  return module.source;
}
