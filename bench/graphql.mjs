// GraphQL classification cost (docs/design/graphql.md), for each service with a GraphQL endpoint in
// policies/: the first call of an isolate (the compact schema expanded and built, then one document
// validated; measured in a fresh Node process per sample, the same V8 as workerd) and each further
// document (graphqlCalls warm, median of many). With graphql-js's full specified rules beside ours
// for comparison. Needs tsx registered:  node --import tsx bench/graphql.mjs
import { execFileSync } from "node:child_process";
import { join } from "node:path";

const COLD_SAMPLES = 7;
const WARM_RUNS = 2000;
const BATCH = 50;

/** A typical document per service: what `gh pr view` and the Linear SDK's issue query send. */
export const DOCUMENTS = {
  github: {
    query: `query PullRequestByNumber($owner: String!, $repo: String!, $pr_number: Int!) {
      repository(owner: $owner, name: $repo) {
        pullRequest(number: $pr_number) {
          id number title state body url isDraft mergeable baseRefName headRefName
          author { login }
          reviewRequests(first: 100) { nodes { requestedReviewer { ... on User { login } ... on Team { name } } } }
          reviews(last: 100) { nodes { author { login } state body submittedAt } }
          labels(first: 100) { nodes { name } }
          commits(last: 1) { nodes { commit { oid statusCheckRollup { state } } } }
        }
      }
    }`,
    variables: { owner: "acme", repo: "api", pr_number: 42 },
  },
  linear: {
    query: `query Issues($filter: IssueFilter, $first: Int) {
      issues(filter: $filter, first: $first) {
        nodes { id identifier title priority state { name } assignee { id name } labels { nodes { name } } }
        pageInfo { hasNextPage endCursor }
      }
      viewer { id name }
    }`,
    variables: { filter: { state: { name: { eq: "Todo" } } }, first: 50 },
  },
};

export async function runGraphql(repoRoot, log = console.log) {
  const { compilePolicies } = await import(join(repoRoot, "src/compiler/compile.ts"));
  const result = compilePolicies(join(repoRoot, "policies"));
  if (!result.ok) throw new Error(`policies/ do not compile:\n${result.problems.format()}`);
  const out = {};
  for (const [name, svc] of Object.entries(result.bundle.services)) {
    if (!svc.graphql || !DOCUMENTS[name]) continue;
    const cold = [];
    for (let i = 0; i < COLD_SAMPLES; i++) {
      const text = execFileSync(process.execPath, ["--import", "tsx", import.meta.filename, "--cold", name], {
        cwd: repoRoot,
        encoding: "utf8",
      });
      cold.push(JSON.parse(text.trim().split("\n").pop()));
    }
    const med = (key) => median(cold.map((c) => c[key]));
    out[name] = {
      schema_kb: Math.round(svc.graphql.schema.length / 1024),
      first_call_ms: { expand: med("expand"), build: med("build"), first_document: med("first"), total: med("total") },
      ...(await warm(repoRoot, result.bundle, name)),
    };
    const o = out[name];
    log(
      `  ${name}: schema ${o.schema_kb} KiB; first call ${o.first_call_ms.total} ms (expand ${o.first_call_ms.expand}, ` +
        `build ${o.first_call_ms.build}, first document ${o.first_call_ms.first_document}); per document ` +
        `${o.per_document_us} µs (validate ${o.validate_us} µs; with all specified rules ${o.validate_all_rules_us} µs)`,
    );
  }
  return out;
}

/** One isolate's first GraphQL call, in this (fresh) process. */
async function coldSample(repoRoot, name) {
  const { compilePolicies } = await import(join(repoRoot, "src/compiler/compile.ts"));
  const { expandSchema } = await import(join(repoRoot, "src/protocols/graphql/compact.ts"));
  const { graphqlCalls } = await import(join(repoRoot, "src/protocols/graphql/calls.ts"));
  const { schemaOf } = await import(join(repoRoot, "src/protocols/graphql/schema.ts"));
  const result = compilePolicies(join(repoRoot, "policies"));
  const bundle = JSON.parse(JSON.stringify(result.bundle));
  const ep = bundle.services[name].graphql;
  // Expanding alone (on a copy: the real path below starts cold too), then the real first call:
  // schemaOf builds and caches the schema, graphqlCalls then classifies its first document.
  const t0 = performance.now();
  expandSchema(`${ep.schema} `.trimEnd());
  const t1 = performance.now();
  schemaOf(ep);
  const t2 = performance.now();
  const r = graphqlCalls(ep, bundle.actions, JSON.stringify(DOCUMENTS[name]), "application/json");
  const t3 = performance.now();
  if (!r.ok) throw new Error(`${name}: ${r.reason} ${r.detail}`);
  const parts = { expand: t1 - t0, build: t2 - t1 - (t1 - t0), first: t3 - t2, total: t3 - t1 };
  console.log(JSON.stringify(parts));
}

async function warm(repoRoot, bundle, name) {
  const { graphqlCalls } = await import(join(repoRoot, "src/protocols/graphql/calls.ts"));
  const { schemaOf } = await import(join(repoRoot, "src/protocols/graphql/schema.ts"));
  const { VALIDATION_RULES } = await import(join(repoRoot, "src/protocols/graphql/rules.ts"));
  const { parse, specifiedRules, validate } = await import("graphql");
  const ep = bundle.services[name].graphql;
  const body = JSON.stringify(DOCUMENTS[name]);
  const schema = schemaOf(ep);
  const doc = parse(DOCUMENTS[name].query, { noLocation: true });
  return {
    per_document_us: timeUs(() => graphqlCalls(ep, bundle.actions, body, "application/json")),
    validate_us: timeUs(() => validate(schema, doc, VALIDATION_RULES, { maxErrors: 1 })),
    validate_all_rules_us: timeUs(() => validate(schema, doc, specifiedRules, { maxErrors: 1 })),
  };
}

/** Median µs (to 0.1) of one call of `f`, warm, over batches of BATCH calls: the clock is too coarse for one call. */
export function timeUs(f, runs = WARM_RUNS) {
  for (let i = 0; i < runs / 4; i++) f();
  const t = [];
  for (let i = 0; i < runs / BATCH; i++) {
    const s = performance.now();
    for (let j = 0; j < BATCH; j++) f();
    t.push((performance.now() - s) / BATCH);
  }
  return Math.round(median(t, 10_000) * 10_000) / 10;
}

function median(xs, scale = 10) {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * scale) / scale;
}

if (process.argv[2] === "--cold") await coldSample(process.cwd(), process.argv[3]);
else if (import.meta.filename === process.argv[1]) await runGraphql(process.cwd());
