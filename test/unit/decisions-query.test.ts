/**
 * The one parser of decision queries (src/decisions/query.ts) that the CLI and the worker share:
 * defaults, times, every refusal with its own message, and the round trip the CLI relies on for
 * --local (toParams -> parseQuery gives the same query). Also the CLI's output helpers and its
 * reading of the dataset name from wrangler.toml.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { datasetOf } from "../../src/cli/decisions";
import { csv, printable, table } from "../../src/cli/output";
import { parseQuery, type QueryInput, toParams } from "../../src/decisions/query";

const NOW = Date.parse("2026-05-01T12:00:00Z");
const ok = (input: QueryInput) => {
  const r = parseQuery(input, NOW);
  if (!r.ok) throw new Error(r.problem);
  return r.query;
};
const problem = (input: QueryInput) => {
  const r = parseQuery(input, NOW);
  return r.ok ? null : r.problem;
};

describe("parseQuery", () => {
  it("defaults: the last 24 hours, newest 50", () => {
    expect(ok({})).toEqual({ filters: { since: NOW - 86_400_000, until: NOW }, view: { kind: "list", limit: 50 } });
    expect(ok({ view: "counts" }).view).toEqual({ kind: "counts", by: "effect", limit: 20 });
    expect(ok({ view: "timeseries" }).view).toEqual({
      kind: "timeseries",
      bucket: { n: 1, unit: "HOUR", ms: 3600_000 },
    });
  });

  it.each([
    ["90s", NOW - 90_000],
    ["30m", NOW - 1_800_000],
    ["1h", NOW - 3_600_000],
    ["7d", NOW - 7 * 86_400_000],
    ["2026-04-30", Date.parse("2026-04-30T00:00:00Z")],
    ["2026-04-30T10:00:00Z", Date.parse("2026-04-30T10:00:00Z")],
    ["2026-04-30T10:00:00.250+02:00", Date.parse("2026-04-30T08:00:00.250Z")],
  ])("since %s", (since, expected) => {
    expect(ok({ since }).filters.since).toBe(expected);
  });

  it.each([
    [{ since: "yesterday" }, "since must be an ISO date"],
    [{ since: "0h" }, "since must be an ISO date"],
    [{ until: "2026-13-45" }, "until must be an ISO date"],
    [{ since: "1h", until: "2h" }, "since must be before until"],
    [{ effect: "maybe" }, "effect must be one of allow, deny, approval_required"],
    [{ view: "pie" }, "view must be list, counts or timeseries"],
    [{ view: "counts", by: "path" }, "by must be one of effect, reason, asi, action, agent"],
    [{ asi: "ASI11" }, "asi must be an OWASP Agentic id, ASI01 to ASI10"],
    [{ asi: "asi02" }, "asi must be an OWASP Agentic id"],
    [{ asi: "__proto__" }, "asi must be an OWASP Agentic id"],
    [{ asi: "" }, "asi needs a value"],
    [{ by: "reason" }, "by applies to the counts and timeseries views"],
    [{ bucket: "5m" }, "bucket applies to the timeseries view"],
    [{ view: "timeseries", bucket: "5x" }, "bucket must be a duration"],
    [{ view: "timeseries", bucket: "1s", since: "7d" }, "more than 2000 buckets"],
    [{ view: "timeseries", limit: "5" }, "limit applies to the list and counts views"],
    [{ limit: "0" }, "limit must be a whole number from 1 to 1000"],
    [{ limit: "1001" }, "limit must be a whole number"],
    [{ limit: "5; DROP" }, "limit must be a whole number"],
    [{ would_deny: "yes" }, "would_deny must be true or false"],
    [{ agent: "" }, "agent needs a value"],
    [{ agent: "x".repeat(513) }, "agent is longer than 512 characters"],
    [{ agent: "bad\uD800" }, "agent is not valid Unicode text"],
    [{ nope: "1" }, 'unknown parameter "nope"'],
    [{ "x' OR 1=1": "1" }, "unknown parameter (unprintable name)"],
  ])("refuses %j", (input, message) => {
    expect(problem(input as QueryInput)).toContain(message);
  });

  it("takes an ASI id as a filter, and asi as a grouping", () => {
    expect(ok({ asi: "ASI02" }).filters.asi).toBe("ASI02");
    expect(ok({ view: "counts", by: "asi", effect: "deny" }).view).toEqual({ kind: "counts", by: "asi", limit: 20 });
  });

  it("keeps odd values as they are: escaping is the builder's job", () => {
    expect(ok({ agent: "x' OR 1=1 --", task: "a\nb\0" }).filters).toMatchObject({
      agent: "x' OR 1=1 --",
      task: "a\nb\0",
    });
  });

  it.each([
    [{}],
    [{ since: "3h", agent: "workloads:x", effect: "deny", would_deny: true, limit: "7" }],
    [{ view: "counts", by: "agent", reason: "policy.no_match", service: "github", action: "a", task: "t" }],
    [{ view: "timeseries", bucket: "15m", by: "reason", since: "2d" }],
    [{ view: "counts", by: "asi", asi: "ASI09", effect: "deny" }],
    [{ view: "timeseries", bucket: "1d", since: "30d" }],
  ])("round-trips through toParams: %j", (input) => {
    const q = ok(input as QueryInput);
    expect(ok(Object.fromEntries(toParams(q)))).toEqual(q);
  });
});

describe("CLI output", () => {
  it("shows control characters as escapes in a table", () => {
    expect(printable("a\nb\x1b[2Jc\x07\x9b")).toBe("a\\nb\\x1b[2Jc\\x07\\x9b");
    expect(table(["k", "n"], [["x\ny", 3]])).toBe("k     n\nx\\ny  3");
  });

  it("quotes CSV fields per RFC 4180", () => {
    expect(
      csv(
        ["a", "b"],
        [
          ["plain", 'say "hi", ok'],
          ["line\nbreak", 5],
        ],
      ),
    ).toBe('a,b\r\nplain,"say ""hi"", ok"\r\n"line\nbreak",5\r\n');
  });
});

describe("the dataset name from wrangler.toml", () => {
  it("is the DECISIONS binding's at the top level (the deployed worker's)", () => {
    const toml = readFileSync(join(import.meta.dirname, "..", "..", "wrangler.toml"), "utf8");
    expect(datasetOf(toml)).toBe("firebreak_decisions");
  });

  it("ignores other bindings and environments", () => {
    const toml = `[[analytics_engine_datasets]]\nbinding = "OTHER"\ndataset = "x"\n\n[[analytics_engine_datasets]]\nbinding = 'DECISIONS'\ndataset = 'mine'\n\n[env.dev]\n[[env.dev.analytics_engine_datasets]]\nbinding = "DECISIONS"\ndataset = "dev"\n`;
    expect(datasetOf(toml)).toBe("mine");
    expect(
      datasetOf(`[env.dev]\n[[env.dev.analytics_engine_datasets]]\nbinding = "DECISIONS"\ndataset = "dev"\n`),
    ).toBeNull();
  });
});
