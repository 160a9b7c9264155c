/** What the stages of one proxied call share: its dependencies and what is known of it so far. */
import type { DecisionRecord } from "../decisions/record";
import type { Env } from "../env";
import type { TaskRef } from "../identity/caller";
import type { Agent } from "../policy/evaluate";
import type { BundleState, LoadedBundle } from "../policy/load";
import type { CanonicalRequest } from "../request/route";
import type { StepRequest } from "../tasks/types";
import type { AnalyticsSink } from "./record";

export interface Deps {
  /** The bundle, or why it could not be loaded: then every call is refused (fail closed). */
  bundle: BundleState;
  env: Env;
  gatewayDomain: string | undefined;
  /** The app's clock (createApp's `clock`): the time the call is decided, admitted and recorded at. */
  now: () => Date;
  fetcher: (request: Request) => Promise<Response>;
  analytics: AnalyticsSink | undefined;
  newId: () => string;
  /** Work that outlives the response (approval notifications): `ctx.waitUntil`. */
  background: (work: Promise<unknown>) => void;
}

export interface Call {
  request: Request;
  req: CanonicalRequest;
  /** The service's GraphQL or MCP endpoint the call goes to; null: a REST action. */
  endpoint: "graphql" | "mcp" | null;
  bundle: LoadedBundle;
  agent: Agent;
  task: TaskRef | null;
  /** The decision's time. */
  at: Date;
  deps: Deps;
  rec: DecisionRecord;
  /** The body as text once read: an MCP refusal answers the JSON-RPC request in it. */
  said: { rpcBody: string | null };
  /** Headers the gateway sets on the upstream request: an MCP session id checked for this task. */
  upstreamSet: Record<string, string>;
  /** The steps as the task object admits and logs them, once the call is decided. */
  steps: [StepRequest, ...StepRequest[]] | null;
}
