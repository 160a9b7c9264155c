/**
 * `firebreak explain`: one request decided by the gateway's own front half (src/request/explain.ts),
 * printed for a person, or as JSON. With `--profile`, as a step of a task of that profile: its approval
 * risk applies, and the budgets and sequence rules that could still refuse the call are listed, since
 * explain decides with a task that has made no call yet.
 */
import { readFileSync } from "node:fs";
import type { LoadedBundle } from "../policy/load";
import { type Explanation, explainRequest } from "../request/explain";

export interface ExplainOptions {
  agent: string;
  issuer?: string;
  claims?: string;
  request?: string;
  profile?: string;
  json: boolean;
}

/** Exit code; `usage` reports a mistake in the command line. */
export function explainCommand(
  bundle: LoadedBundle,
  opts: ExplainOptions,
  positionals: string[],
  usage: (problem: string) => number,
): number {
  const request =
    typeof opts.request === "string"
      ? JSON.parse(readFileSync(opts.request, "utf8"))
      : positionals.length === 2
        ? { method: positionals[0], url: positionals[1] }
        : null;
  if (!request) return usage("explain needs METHOD URL or --request FILE");
  if (opts.profile !== undefined) request.task = { id: "explain", profile: opts.profile };
  const issuerName = opts.issuer ?? bundle.spec.issuers[0]?.name ?? "";
  const issuer = bundle.spec.issuers.find((i) => i.name === issuerName);
  const claims = typeof opts.claims === "string" ? JSON.parse(opts.claims) : {};
  const agent = { issuer: issuerName, iss: issuer?.issuer ?? "", sub: opts.agent, claims };
  const result = explainRequest(bundle, agent, request, new Date());
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else for (const line of lines(`${issuerName}:${opts.agent}`, result, opts.profile)) console.log(line);
  return 0;
}

function lines(agent: string, r: Explanation, profile: string | undefined): string[] {
  const d = r.decision;
  const labels = r.kind ? ` (kind ${r.kind}, risk ${r.risk}${r.data.length ? `, data ${r.data.join(",")}` : ""})` : "";
  const out = [`agent     ${agent}`, `action    ${r.action ?? "-"}${labels}`, `resource  ${r.resource || "-"}`];
  if (Object.keys(r.args).length) out.push(`args      ${JSON.stringify(r.args)}`);
  out.push(`rules     ${d.rules.length ? d.rules.map((id) => `${id} (${r.sources[id]})`).join(", ") : "none"}`);
  out.push(`decision  ${d.effect} (${d.reason})${d.message ? `: ${d.message}` : ""}`);
  if (d.report) {
    out.push(
      `report    would ${d.report.effect} (${d.report.reason}) by ${d.report.rules.join(", ") || "default deny"}`,
    );
  }
  for (const step of r.steps ?? []) out.push(`step      ${step.at} -> ${step.action}: ${step.decision}`);
  if (r.person) out.push(`approval  a person decides first (${r.person.rules.join(", ")}; waits ${r.person.ttl_s} s)`);
  if (d.effect === "deny") return out;
  if (profile === undefined) {
    out.push("task      not explained as a task's step: --profile NAME lists the budgets and sequence rules");
    out.push("          that could still refuse it there");
  } else if (r.limits.length === 0) {
    out.push(`task      nothing in profile ${profile} counts or orders this action`);
  } else {
    out.push(`task      in profile ${profile}, admission could still refuse it:`);
    for (const l of r.limits) out.push(`            ${l}`);
  }
  return out;
}
