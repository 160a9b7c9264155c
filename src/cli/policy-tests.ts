/** `firebreak test`: policies/tests/*.yaml against the compiled bundle, with the worker's evaluator. */
import { join } from "node:path";
import { Problems, readSource, yamlFiles } from "../compiler/source";
import type { LoadedBundle } from "../policy/load";
import { type ExplainRequest, explainRequest } from "../request/explain";

interface TestCase {
  name: string;
  agent: { issuer: string; sub: string; claims?: Record<string, unknown> };
  request: ExplainRequest;
  now?: string;
  expect: { decision: string; reason?: string; action?: string; resource?: string; rules?: string[] };
}

export interface TestReport {
  passed: number;
  failed: { where: string; name: string; diff: string[] }[];
  problems: Problems;
}

export function runPolicyTests(bundle: LoadedBundle, policiesDir: string, now = new Date()): TestReport {
  const problems = new Problems();
  const report: TestReport = { passed: 0, failed: [], problems };
  for (const path of yamlFiles(join(policiesDir, "tests"))) {
    const src = readSource(path, "tests", join(policiesDir, ".."), problems);
    if (!src) continue;
    (src.data as { tests: TestCase[] }).tests.forEach((t, i) => {
      const issuer = bundle.spec.issuers.find((s) => s.name === t.agent.issuer);
      const agent = {
        issuer: t.agent.issuer,
        iss: issuer?.issuer ?? "",
        sub: t.agent.sub,
        claims: t.agent.claims ?? {},
      };
      const got = explainRequest(bundle, agent, t.request, t.now ? new Date(t.now) : now);
      const actual: Record<string, unknown> = {
        decision: got.decision.effect,
        reason: got.decision.reason,
        action: got.action,
        resource: got.resource,
        rules: got.decision.rules,
      };
      const diff: string[] = [];
      for (const [key, want] of Object.entries(t.expect)) {
        const have = key === "decision" ? actual.decision : actual[key];
        if (JSON.stringify(have) !== JSON.stringify(want)) {
          diff.push(`- ${key}: ${JSON.stringify(want)}`, `+ ${key}: ${JSON.stringify(have)}`);
        }
      }
      if (diff.length === 0) report.passed++;
      else report.failed.push({ where: src.at(["tests", i]), name: t.name, diff });
    });
  }
  return report;
}
