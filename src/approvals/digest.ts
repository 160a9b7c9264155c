/**
 * The request digest an approval is bound to (issue 4): method, service, canonical path, sorted query,
 * sha256 of the body, agent, task and action. A retried call must produce the same digest, byte for
 * byte, or it is `approval.mismatch`. Synchronous (node:crypto, as the step log's chain).
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../tasks/hash-chain";

export interface DigestInput {
  method: string;
  service: string;
  path: string;
  query: Record<string, string>;
  body: Uint8Array | null;
  agent: { issuer: string; sub: string };
  task: string;
  action: string;
}

export function sortedQuery(query: Record<string, string>): [string, string][] {
  return Object.keys(query)
    .sort()
    .map((k) => [k, query[k]]);
}

export function bodySha256(body: Uint8Array | null): string {
  return createHash("sha256")
    .update(body ?? new Uint8Array(0))
    .digest("hex");
}

export function requestDigest(d: DigestInput): { digest: string; body_sha256: string } {
  const body_sha256 = bodySha256(d.body);
  const facts = canonicalJson({
    v: 1,
    method: d.method,
    service: d.service,
    path: d.path,
    query: sortedQuery(d.query),
    body_sha256,
    agent: [d.agent.issuer, d.agent.sub],
    task: d.task,
    action: d.action,
  });
  return { digest: createHash("sha256").update(facts).digest("hex"), body_sha256 };
}
