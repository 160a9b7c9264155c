/**
 * A service's overrides file (policies/services/<name>.overrides.yaml, docs/design/catalogs.md): what a
 * person decided about a catalog, kept apart from what the importer reads from the vendor, so a
 * re-import changes only what the vendor changed. Node only.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import type { ArgType, BodyFormat, Kind, Method, Risk } from "../policy/types";

/** One action as written in <name>.yaml (the compiler's ActionData). */
export interface ActionEntry {
  method: Method | Method[];
  path: string;
  kind: Kind;
  risk: Risk;
  data?: string[];
  resource?: string;
  args?: Record<string, ArgType>;
  same_effect_as?: string[];
  forbidden?: string;
  description?: string;
  deprecated?: boolean;
  body_format?: BodyFormat;
  graphql?: string | string[];
  mcp?: { tool?: string; prompt?: string; uri?: string };
}

/** What a person may decide about one source operation; `name` renames its action. */
export type ActionOverride = Partial<ActionEntry> & { name?: string };

export interface LabelRule {
  /** An action-name glob: `*` stands for one or more characters. */
  match: string;
  data?: string[];
  risk?: Risk;
  kind?: Kind;
  same_effect_as?: string[];
  body_format?: BodyFormat;
}

export interface Overrides {
  /** The service-level keys of <name>.yaml, copied verbatim (service, upstream, credential, ...). */
  service: Record<string, unknown> & { service: string; args_in?: ("body" | "query")[] };
  header?: string;
  greedy?: string[];
  resources?: { prefix: string; resource: string }[];
  labels?: LabelRule[];
  actions?: Record<string, ActionOverride>;
  extra?: Record<string, ActionEntry>;
}

export function readOverrides(file: string): Overrides {
  const data = parse(readFileSync(file, "utf8")) as Overrides | null;
  if (!data || typeof data !== "object" || !data.service || typeof data.service.service !== "string") {
    throw new Error(`${file}: an overrides file needs a "service:" map with the service's name`);
  }
  return data;
}

/** `*` as one or more characters, everything else literal. */
export function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.split("*").map(escapeRegex).join(".+")}$`);
  return re.test(name);
}

const escapeRegex = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
