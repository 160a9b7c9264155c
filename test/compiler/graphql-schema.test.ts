/**
 * The compact schema strings `catalog import` writes beside each GraphQL schema
 * (src/compiler/graphql-schema.ts): the shipped ones are current, a compile takes one only for the SDL
 * it was made from, and checks the actions the same way with or without it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  COMPACT_ARTIFACT_FORMAT,
  compactArtifactPath,
  compactArtifactText,
  endpointSchema,
} from "../../src/compiler/graphql-schema";

const SERVICES = join(import.meta.dirname, "..", "..", "policies", "services");
const tmp = mkdtempSync(join(tmpdir(), "firebreak-graphql-schema-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SDL = "type Query { a(x: String!): Int }\ntype Mutation { b(input: In!): Int }\ninput In { id: ID! }\n";

describe("compact schema artifacts", () => {
  const schemas = readdirSync(SERVICES).filter((f) => f.endsWith(".graphql"));

  it.each(schemas)("policies/services/%s has its current compact string beside it", (f) => {
    const path = join(SERVICES, f);
    const sdl = readFileSync(path, "utf8");
    expect(readFileSync(compactArtifactPath(path), "utf8")).toBe(compactArtifactText(sdl));
  });

  it("takes the artifact's string for the SDL it was made from, and ignores it for any other", () => {
    const file = join(tmp, "one.graphql");
    const sdl = `${SDL}# one\n`;
    const made = JSON.parse(compactArtifactText(sdl)) as { sha256: string; schema: string };
    // A marker string the full path would never produce: seen only if the artifact is taken.
    const schema = made.schema.replace('"q":"Query"', '"q":"Query","x":1');
    writeFileSync(compactArtifactPath(file), JSON.stringify({ format: COMPACT_ARTIFACT_FORMAT, ...made, schema }));
    expect(endpointSchema(file, sdl)).toMatchObject({ compact: schema });

    const other = join(tmp, "two.graphql");
    const edited = `${SDL}# two\n`;
    writeFileSync(compactArtifactPath(other), JSON.stringify({ format: COMPACT_ARTIFACT_FORMAT, ...made, schema }));
    expect(endpointSchema(other, edited)).toMatchObject({ compact: made.schema });
  });

  it("checks root fields and argument paths against the compact string", () => {
    const built = endpointSchema(join(tmp, "none.graphql"), SDL);
    if ("error" in built) throw new Error(built.error);
    expect(built.view.root("query", "a")?.args.get("x")).toBe("String!");
    expect(built.view.root("mutation", "b")?.args.get("input")).toBe("In!");
    expect(built.view.root("query", "b")).toBeUndefined();
    expect(built.view.inputFields("In")?.get("id")).toBe("ID!");
    expect(built.view.kind("ID")).toBe("S");
  });

  it("reports an SDL that does not build", () => {
    expect(endpointSchema(join(tmp, "bad.graphql"), "type Query { a: Missing }")).toHaveProperty("error");
  });
});
