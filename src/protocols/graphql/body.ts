/**
 * The HTTP body of a GraphQL request, read as the upstream reads it: one JSON object
 * `{ query, variables, operationName }`. Everything that would make the upstream execute something
 * other than the document Firebreak classifies is refused: a batch (JSON array), a persisted-query id
 * (the upstream looks the document up), duplicate keys, keys the upstream may interpret and Firebreak
 * does not (`extensions` with content, `id`, `documentId`). Pure.
 */
import { duplicateKey } from "../../core/json-keys";
import { type Result, refuse } from "../../core/result";

export interface GraphqlRequest {
  query: string;
  variables: Record<string, unknown>;
  operationName: string | null;
}

const KEYS = new Set(["query", "variables", "operationName", "extensions"]);
/** Keys persisted-query protocols send instead of (or beside) the document: Apollo APQ, Relay, GraphQL over HTTP. */
const PERSISTED = ["id", "documentId", "queryId", "doc_id"];

export function readGraphqlBody(body: string, contentType: string | null): Result<{ request: GraphqlRequest }> {
  if (!isJson(contentType)) return refuse("request.content_type", "GraphQL bodies are application/json");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refuse("request.body_invalid", "JSON does not parse");
  }
  if (Array.isArray(parsed)) return refuse("graphql.batch", `${parsed.length} operations in one request`);
  if (typeof parsed !== "object" || parsed === null) return refuse("request.body_invalid", "not a JSON object");
  const dup = duplicateKey(body);
  if (dup !== null) return refuse("request.duplicate_key", dup.slice(0, 64));
  const o = parsed as Record<string, unknown>;
  for (const key of PERSISTED) if (Object.hasOwn(o, key)) return refuse("graphql.persisted_query", `key ${key}`);
  const ext = o.extensions;
  if (ext !== undefined && ext !== null) {
    if (typeof ext !== "object" || Array.isArray(ext)) return refuse("request.body_invalid", "extensions");
    if (Object.hasOwn(ext, "persistedQuery")) return refuse("graphql.persisted_query", "extensions.persistedQuery");
    const keys = Object.keys(ext);
    // An extension is an instruction to the upstream that Firebreak cannot read: none is let through.
    if (keys.length > 0) return refuse("request.body_invalid", `extensions.${keys[0]?.slice(0, 40)}`);
  }
  for (const key of Object.keys(o))
    if (!KEYS.has(key)) return refuse("request.body_invalid", `key ${key.slice(0, 40)}`);
  const { query, variables, operationName } = o;
  if (typeof query !== "string" || query === "") return refuse("request.body_invalid", "no query document");
  if (variables !== undefined && variables !== null && (typeof variables !== "object" || Array.isArray(variables))) {
    return refuse("graphql.variables", "variables is not an object");
  }
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
    return refuse("graphql.operation", "operationName is not a string");
  }
  return {
    ok: true,
    request: {
      query,
      variables: (variables ?? {}) as Record<string, unknown>,
      operationName: operationName ?? null,
    },
  };
}

/** `application/json`, UTF-8 if a charset is named: what GitHub and Linear parse as a GraphQL request. */
function isJson(contentType: string | null): boolean {
  if (contentType === null) return false;
  const [type, ...params] = contentType.split(";");
  if ((type ?? "").trim().toLowerCase() !== "application/json") return false;
  return params.every((p) => {
    const [k, v] = p.split("=").map((x) => x.trim().toLowerCase());
    return k !== "charset" || v === "utf-8" || v === "utf8";
  });
}
