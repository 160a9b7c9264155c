/**
 * A GraphQL endpoint's schema as the compiler needs it: the graphql-js schema its actions are checked
 * against, and the compact string the bundle carries (src/protocols/graphql/compact.ts). Building,
 * validating and compacting GitHub's SDL costs hundreds of milliseconds and depends only on the SDL,
 * not on the rules, so it is done once per SDL text:
 *
 * - `firebreak catalog import` writes the compact string beside the schema (`github.graphql.compact.json`,
 *   with the sha256 of the SDL it was made from), and `catalog import --check` says when it is stale. A
 *   compile whose SDL has that hash takes the string as it is. An SDL edited by hand has another hash:
 *   it is built, validated and compacted in full.
 * - Either way the actions are checked against the compact string (./graphql-view.ts): it keeps all that
 *   the checks read (root fields, arguments, input fields and their types), and one code path checks both.
 * - In one process (tests, `npm start`'s rebuilds, the benchmark) each SDL is compiled once.
 *
 * Node only.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { buildSchema, type GraphQLSchema, validateSchema } from "graphql";
import { compactSchema } from "../protocols/graphql/compact";
import { type SchemaView, schemaView } from "./graphql-view";

/** Bumped whenever compact.ts writes a different string for the same schema: older artifacts are ignored. */
export const COMPACT_ARTIFACT_FORMAT = 1;

export interface EndpointSchema {
  /** What the bundle carries. */
  compact: string;
  /** What the actions are checked against, read from `compact`. */
  view: SchemaView;
}

interface Artifact {
  format: number;
  sha256: string;
  schema: string;
}

const compiled = new Map<string, EndpointSchema>();

/** The file beside `<schema>.graphql` that holds its compact string. */
export function compactArtifactPath(schemaFile: string): string {
  return `${schemaFile}.compact.json`;
}

/** What `catalog import` writes beside an SDL: its compact string and the SDL's hash. */
export function compactArtifactText(sdl: string): string {
  const built = buildAndValidate(sdl);
  if ("error" in built) throw new Error(`the GraphQL schema does not validate: ${built.error}`);
  const artifact: Artifact = { format: COMPACT_ARTIFACT_FORMAT, sha256: sha256(sdl), schema: built.compact };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

/** The schema of the SDL read from `file`, or what is wrong with it (the first line of the first error). */
export function endpointSchema(file: string, sdl: string): EndpointSchema | { error: string } {
  const hash = sha256(sdl);
  const known = compiled.get(hash);
  if (known !== undefined) return known;
  const built = fromArtifact(compactArtifactPath(file), hash) ?? buildAndValidate(sdl);
  if (!("error" in built)) compiled.set(hash, built);
  return built;
}

function fromArtifact(path: string, hash: string): EndpointSchema | null {
  if (!existsSync(path)) return null;
  let artifact: Artifact;
  try {
    artifact = JSON.parse(readFileSync(path, "utf8")) as Artifact;
  } catch {
    return null;
  }
  if (artifact.format !== COMPACT_ARTIFACT_FORMAT || artifact.sha256 !== hash || typeof artifact.schema !== "string")
    return null;
  // Valid by construction: the artifact was written from this very SDL after it validated.
  return { compact: artifact.schema, view: schemaView(artifact.schema) };
}

function buildAndValidate(sdl: string): EndpointSchema | { error: string } {
  let schema: GraphQLSchema;
  try {
    schema = buildSchema(sdl, { noLocation: true });
  } catch (e) {
    return { error: (e as Error).message.split("\n")[0] ?? "" };
  }
  const invalid = validateSchema(schema);
  if (invalid.length > 0) return { error: invalid[0]?.message ?? "" };
  const compact = compactSchema(schema);
  return { compact, view: schemaView(compact) };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
