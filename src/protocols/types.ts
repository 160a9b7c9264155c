/**
 * What a protocol endpoint's body classifies into: the steps one HTTP request asks for. A GraphQL
 * document is one step per root field of the operation to execute; an MCP message is one step per
 * JSON-RPC call. Every step is an action of the same model as REST, decided, counted and logged alike.
 */

export interface ProtocolCall {
  /** Index of the action in the bundle's `actions`. */
  action: number;
  /** The action's declared arguments, as the upstream will read them (variables resolved). */
  args: Record<string, unknown>;
  /** Values for the action's resource template's `{param}` parts. */
  params: Record<string, string>;
  /** Where the step is in the message, for logs and approvals: `m1: mergePullRequest`, `tools/call search`. */
  at: string;
}

/** The protocol a refusal is written in: GraphQL's `errors`, or a JSON-RPC error per call. */
export type ProtocolKind = "graphql" | "mcp";
