/**
 * wrangler.toml as wrangler itself reads it: the deployed (default) worker has no local decision
 * store, and the `dev` environment that `npm start` runs is the same worker plus DECISIONS_LOCAL.
 * Environments do not inherit bindings, so every binding of the top level must be repeated in
 * [env.dev]; this test is what catches the two drifting apart.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { datasetOf } from "../../src/cli/decisions";
import { LOCAL_STORE_BINDING } from "../../src/decisions/local-store";

const config = join(import.meta.dirname, "..", "..", "wrangler.toml");

function read(env?: string) {
  const level = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error";
  try {
    return unstable_readConfig({ config, env });
  } finally {
    if (level === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = level;
  }
}

describe("wrangler.toml", () => {
  const prod = read();
  const dev = read("dev");

  it("deploys no local store", () => {
    expect(prod.d1_databases).toEqual([]);
    expect(JSON.stringify(prod)).not.toContain(LOCAL_STORE_BINDING);
  });

  it("gives npm start's dev environment the local store", () => {
    expect(dev.d1_databases.map((d: { binding: string }) => d.binding)).toEqual([LOCAL_STORE_BINDING]);
  });

  it("repeats every other binding of the top level in [env.dev], unchanged", () => {
    expect(dev.name).toBe(prod.name);
    // GATEWAY_ORIGIN is where the local gateway listens (task tokens' iss/aud, approval links).
    expect({ ...dev.vars, GATEWAY_ORIGIN: prod.vars.GATEWAY_ORIGIN }).toEqual(prod.vars);
    expect(dev.vars.GATEWAY_ORIGIN).toBe("http://127.0.0.1:8787");
    expect(dev.analytics_engine_datasets).toEqual(prod.analytics_engine_datasets);
    expect(dev.durable_objects).toEqual(prod.durable_objects);
    expect(dev.migrations).toEqual(prod.migrations);
    for (const key of ["r2_buckets", "services", "queues", "workflows", "secrets_store_secrets"] as const) {
      expect(dev[key], key).toEqual(prod[key]);
    }
  });

  // The KV namespace of signed bundles (docs/bundles.md) is optional at the top level: a deploy without
  // it runs its built-in bundle. npm start has it (local, under .wrangler/state) for `firebreak push --local`.
  it("gives [env.dev] the BUNDLES namespace, and the top level no other KV namespace than BUNDLES", () => {
    const names = (c: typeof prod) => c.kv_namespaces.map((k: { binding: string }) => k.binding);
    expect(names(dev)).toEqual(["BUNDLES"]);
    expect(["[]", '["BUNDLES"]']).toContain(JSON.stringify(names(prod)));
    expect(dev.vars.FIREBREAK_BUNDLE_KEYS).toBe("");
  });

  it("names the dataset the CLI reads as wrangler does", () => {
    const binding = prod.analytics_engine_datasets.find((d: { binding: string }) => d.binding === "DECISIONS");
    expect(binding?.dataset).toBe("firebreak_decisions");
    expect(datasetOf(readFileSync(config, "utf8"))).toBe(binding?.dataset);
  });
});
