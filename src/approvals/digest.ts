/**
 * The request digest an approval is bound to: what the approver saw and what the upstream will act on.
 * Method, service, canonical path, sorted query, sha256 of the body and the media type it was read as,
 * the declared arguments and the resource as the page shows them, the semantic headers forwarded,
 * agent, task and action. A retried call must produce the same digest, byte for byte, or it is
 * `approval.mismatch`: the same bytes under another Content-Type, or with another Stripe-Account, are
 * another request. Synchronous (node:crypto, as the step log's chain).
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../core/canonical-json";
import { sortedQuery } from "../request/route";

export interface DigestInput {
  method: string;
  service: string;
  path: string;
  query: Record<string, string>;
  body: Uint8Array | null;
  mediaType: string;
  args: Record<string, string | number | boolean>;
  resource: string;
  headers: Record<string, string>;
  agent: { issuer: string; sub: string };
  task: string;
  action: string;
}

export function bodySha256(body: Uint8Array | null): string {
  return createHash("sha256")
    .update(body ?? new Uint8Array(0))
    .digest("hex");
}

export function requestDigest(d: DigestInput): { digest: string; body_sha256: string } {
  const body_sha256 = bodySha256(d.body);
  const facts = canonicalJson({
    v: 2,
    method: d.method,
    service: d.service,
    path: d.path,
    query: sortedQuery(d.query),
    body_sha256,
    media_type: d.mediaType,
    args: d.args,
    resource: d.resource,
    headers: d.headers,
    agent: [d.agent.issuer, d.agent.sub],
    task: d.task,
    action: d.action,
  });
  return { digest: createHash("sha256").update(facts).digest("hex"), body_sha256 };
}
