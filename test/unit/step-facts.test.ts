/** The step log's facts are bounded in total, not only per string (src/tasks/steps.ts). */
import { describe, expect, it } from "vitest";
import type { StepFacts } from "../../src/request/decide-call";
import { factsOf, MAX_FACTS } from "../../src/tasks/steps";
import type { StepRequest } from "../../src/tasks/types";

const step = (facts: StepFacts): StepRequest => ({
  decision_id: "d",
  action: "a",
  service: "s",
  resource: "",
  labels: [],
  args: {},
  facts,
  now: 0,
});

describe("factsOf", () => {
  it("keeps small facts exactly", () => {
    const facts = { method: "GET", path: "/x", query: [["a", "1"]] as [string, string][], args: { n: 1 } };
    expect(JSON.parse(factsOf(step(facts))!)).toEqual(facts);
  });

  it("cuts many medium strings until the whole fits, and says so", () => {
    const query = Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(1000)] as [string, string]);
    const stored = factsOf(step({ method: "GET", path: "/x", query, args: {} }))!;
    expect(stored.length).toBeLessThanOrEqual(MAX_FACTS);
    const parsed = JSON.parse(stored);
    expect(parsed.truncated).toBe(true);
    expect(parsed.query).toHaveLength(40);
  });

  it("keeps only the method and path when even short strings are too many", () => {
    const query = Array.from({ length: 2000 }, (_, i) => [`k${i}`, "v"] as [string, string]);
    const stored = factsOf(step({ method: "POST", path: `/${"p".repeat(5000)}`, query, args: {} }))!;
    expect(stored.length).toBeLessThanOrEqual(MAX_FACTS);
    expect(JSON.parse(stored)).toMatchObject({ method: "POST", query: [], args: {}, truncated: true });
  });

  it("bounds argument names as well as values", () => {
    const args = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`${i}${"n".repeat(3000)}`, 1]));
    expect(factsOf(step({ method: "POST", path: "/x", query: [], args }))!.length).toBeLessThanOrEqual(MAX_FACTS);
  });
});
