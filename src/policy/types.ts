/**
 * The bundle model shared by the compiler (Node) and the worker. A bundle is plain JSON: the worker
 * never parses YAML, validates a schema or builds a catalog per request; it only walks what the
 * compiler precomputed (route tries, rule index by selector, subject and claim).
 */

import type { Scope } from "./scope";

export const BUNDLE_FORMAT = 2;

export type Effect = "allow" | "deny" | "approve";
export type Mode = "enforce" | "report";
export type Kind = "read" | "write" | "delete" | "admin";
export type Risk = "low" | "medium" | "high" | "critical";
export type ArgType = "string" | "integer" | "number" | "boolean";
export type ArgSource = "body" | "query";

export const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
export type Method = (typeof METHODS)[number];

export interface Manifest {
  format: typeof BUNDLE_FORMAT;
  /** sha256 (hex) of the canonical bundle content, manifest excluded. */
  revision: string;
  compiler_version: string;
  /** True when the dev overlay (dev issuer, local upstreams) was compiled in. Never deploy such a bundle. */
  dev: boolean;
  counts: { issuers: number; services: number; actions: number; rules: number; profiles: number };
}

export interface Settings {
  mode: Mode;
  max_body_bytes: number;
  upstream_timeout_ms: number;
  /**
   * Whether a workload token without a task may call services (default false: every call needs a
   * task token, else 403 `task.required`).
   */
  bare_workload_tokens: boolean;
  /** Who may revoke tasks and an agent's tasks (workload tokens only); null: nobody. */
  admins: AgentMatch | null;
  /** Per-agent caps checked by the agent Durable Object when a task starts (defaults 10 / 60). */
  agent_limits: { live_tasks: number; starts_per_hour: number };
  /** Who approves when a rule or profile that asks for a person names nobody (person issuers only). */
  approvers: AgentMatch | null;
  /** Lower-case request headers every service forwards besides the defaults and its own list. */
  forward_headers: string[];
}

/** Workload issuers identify agents; person issuers identify the people who approve. */
export type IssuerKind = "workload" | "person";

export interface IssuerSpec {
  name: string;
  kind: IssuerKind;
  issuer: string;
  audience: string[];
  algorithms: string[];
  jwks: { uri: string } | { var: string };
  clock_tolerance_s: number;
  max_token_age_s: number | null;
  /** Longest accepted `exp - iat`, in seconds (a default applies when max_token_age is unset); null: none. */
  max_token_lifetime_s: number | null;
  claims: string[];
  spiffe: { trust_domains: string[] } | null;
  /**
   * Claims every token of the issuer must carry, each with one of the listed string values (a public
   * provider's `repository_owner`): a token without one is refused `identity.missing_claim`. Absent: none.
   */
  require?: Record<string, string[]>;
}

export interface CredentialSpec {
  secret: string;
  header: string;
  /** Contains `{secret}` exactly once. */
  format: string;
}

/**
 * Where a service's credential comes from, from `credentials:` in policies/firebreak.yaml (src/compiler/
 * credentials.ts, docs/credentials.md). Absent on a service: `static`, its `credential.secret`. Fields
 * named after secrets hold Worker secret names, never values.
 */
export type CredentialProviderSpec =
  | { provider: "static"; secret: string }
  | {
      provider: "github_app";
      app_id: string;
      installation_id: string;
      /** The account (organization or user) the installation belongs to: `repo:<account>/<name>` resources. */
      account: string;
      /** Secret: the App's private key (PEM, PKCS#1 as GitHub gives it or PKCS#8, or a JWK). */
      private_key: string;
      /** Base URL of GitHub's REST API (the service's upstream). */
      api: string;
    }
  | {
      provider: "oauth2_client_credentials";
      token_url: string;
      client_id: string;
      /** Secret: the client secret, sent with HTTP Basic. */
      client_secret: string;
      scopes: string[];
      /** RFC 7009 revocation endpoint, or null. */
      revocation_url: string | null;
    }
  | {
      provider: "token_exchange";
      token_url: string;
      client_id: string | null;
      /** Secret, or null for a public client. */
      client_secret: string | null;
      audience: string;
      scopes: string[];
      revocation_url: string | null;
    };

/**
 * A node of a service's route trie. `l`: literal children; `p`: the single-segment parameter child;
 * `g`: a greedy tail parameter (`{name+}`) -> method -> action index; `m`: method -> action index for
 * a path ending here.
 */
export interface RouteNode {
  l?: Record<string, RouteNode>;
  p?: RouteNode;
  g?: Record<string, number>;
  m?: Record<string, number>;
}

/**
 * How the upstream parses a request body, whatever the agent claims (docs/decisions.md, "what Firebreak
 * sees is what the upstream gets"): `json` (GitHub: JSON whatever the Content-Type says), `form`
 * (Stripe: form-encoded only), `content_type` (Slack: JSON or form, by the Content-Type).
 */
export type BodyFormat = "json" | "form" | "content_type";

/** The error shape a service's SDKs understand, for refusals of that service's calls. */
export type RefusalDialect = "firebreak" | "slack" | "stripe";

/**
 * A request header that changes what the upstream does (Stripe-Account): forwarded, visible to rules
 * as `request.headers[name]`, bound into approvals, and, with `scope`, a prefix of the resource.
 */
export interface SemanticHeader {
  /** Lower-case header name. */
  name: string;
  /** Resource prefix template with `{value}` (`account:{value}/`), or null. */
  scope: string | null;
}

/**
 * Another address of the resource a call names, as the upstream writes it in `Link` headers: GitHub
 * pages `/repos/{owner}/{repo}/issues` with `/repositories/{id}/issues?page=2`. A Link to the same
 * endpoint under `from` is pointed at the request's own `to` prefix, so the next page is the same
 * action on the same resource. Segments: a literal, or null for a parameter.
 */
export interface LinkAlias {
  from: (string | null)[];
  to: (string | null)[];
}

export interface ServiceSpec {
  name: string;
  /** https origin plus optional base path, no trailing slash. */
  upstream: string;
  credential: CredentialSpec;
  /** How the credential is obtained when not the static `credential.secret` (minted per task by its object: docs/credentials.md). */
  provider?: CredentialProviderSpec;
  args_in: ArgSource[];
  /** Lower-case parameter names that would carry an agent's own credential. */
  reject_params: string[];
  /** Lower-case request headers removed before forwarding (besides the global list). */
  strip_headers: string[];
  body_format: BodyFormat;
  /**
   * Lower-case request headers forwarded as sent, besides the defaults every service forwards
   * (src/request/headers.ts): API versions, previews. Every other header is dropped.
   */
  forward_headers: string[];
  semantic_headers: SemanticHeader[];
  refusal: RefusalDialect;
  link_aliases: LinkAlias[];
  /** Whether bodies of this service are always read (to check reject_params). */
  inspect_body: boolean;
  routes: RouteNode;
  /** A GraphQL endpoint of this service (GitHub `/graphql`, Linear): the document names the actions. */
  graphql: GraphqlEndpoint | null;
  /** An MCP server (Streamable HTTP) of this service: the JSON-RPC message names the action. */
  mcp: McpEndpoint | null;
}

/**
 * A GraphQL endpoint: `POST <path>` is classified by the operation's root fields, not by its path. Each
 * root field of the operation to execute is one step, of the action its field maps to.
 */
export interface GraphqlEndpoint {
  /** The canonical path under the service (`/graphql`). */
  path: string;
  /** Root field name -> action index, per operation type. A field not listed is `action.unknown`. */
  query: Record<string, number>;
  mutation: Record<string, number>;
  /**
   * The service's schema in the compact form of src/protocols/graphql/compact.ts, kept a string so that
   * loading a bundle does not build it: it is parsed once per isolate, on the first GraphQL call.
   */
  schema: string;
  /** Deepest selection and most fields (aliases included) a document may have. */
  max_depth: number;
  max_fields: number;
  /** Whether `__schema` / `__type` root fields may be asked (a read of the schema, never of data). */
  introspection: boolean;
}

/** An MCP server behind a service: `POST <path>` carries JSON-RPC, classified by method and name. */
export interface McpEndpoint {
  /** The canonical path under the service (`/mcp`). */
  path: string;
  /** Tool name -> action index (`tools/call`); resource URI -> action index (`resources/read`); prompts. */
  tools: Record<string, number>;
  resources: Record<string, number>;
  prompts: Record<string, number>;
}

/** One template segment of a resource string: literal text, a path param, or a declared argument. */
export type ResourcePart = { t: string } | { param: string } | { arg: string };

export interface ActionSpec {
  /** Qualified name, e.g. `github:pulls.merge`. */
  name: string;
  service: string;
  method: Method[];
  path: string;
  kind: Kind;
  risk: Risk;
  data: string[];
  /** Parameter names in path order, for the values the route matcher collects. */
  params: string[];
  resource: ResourcePart[] | null;
  args: Record<string, ArgType>;
  same_effect_as: string[];
  forbidden: string | null;
  /** How the upstream parses this action's body when it differs from the service's (Stripe /v2: JSON). */
  body_format: BodyFormat | null;
  source: string;
}

export interface AgentMatch {
  issuer?: string[];
  sub?: string[];
  claims?: Record<string, string[]>;
}

export interface RuleSpec {
  id: string;
  effect: Effect;
  mode: Mode;
  agents: AgentMatch | null;
  when: string | null;
  message: string | null;
  /** `approve` rules: who may approve (person issuers); null: settings.approvers. */
  approvers: AgentMatch | null;
  /** `file:line` of the rule in policies/. */
  source: string;
}

/**
 * The rules that name one selector (`kind:read`, `github:issues.*`), by whom they select: those naming
 * subjects under each subject; those naming claims (and no subject) under their first claim in sorted
 * order, once per allowed value; the rest under `any`. Each list ascending.
 */
export interface RuleBucket {
  selector: string;
  by_sub: Record<string, number[]>;
  by_claim: Record<string, Record<string, number[]>>;
  any: number[];
}

export interface Bundle {
  manifest: Manifest;
  settings: Settings;
  issuers: IssuerSpec[];
  services: Record<string, ServiceSpec>;
  actions: ActionSpec[];
  rules: RuleSpec[];
  /**
   * Action index -> the buckets whose selector selects that action, ascending. A selector is stored
   * once however many rules and actions share it, so the index grows with the rules, not with
   * rules x actions.
   */
  index: number[][];
  /** One per distinct selector the rules name, in order of first use. */
  buckets: RuleBucket[];
  /** Task profiles (policies/profiles/), in file then declaration order; names are unique. */
  profiles: ProfileSpec[];
}

/**
 * Task profiles as the compiler emits them and the task Durable Object enforces them. Selectors are
 * resolved at compile time: every action reference is a qualified action name that exists in the
 * bundle, every label is `kind:<k>`, `risk:<r>` or `data:<d>`.
 */
export interface ProfileSpec {
  name: string;
  /** Which agents may start a task of this profile (null: any verified agent). */
  agents: AgentMatch | null;
  /** Task token lifetime in seconds (default 600). */
  ttl_s: number;
  /** Hard end of the task, from its start, in seconds; renewals never pass it. */
  max_lifetime_s: number;
  /** Qualified action names a task of this profile may call at all (tool-level segmentation). */
  actions: string[];
  budgets: Budgets;
  sequence: SequenceRules;
  /**
   * Aliases in the profile -> the actions whose effect they have (same_effect_as, transitively): a step
   * of an alias counts against its targets' per-action budgets and satisfies or meets their sequence
   * rules as they would. Absent in tasks opened before it existed: none.
   */
  effects: Record<string, string[]>;
  approvals: ApprovalSettings;
  /**
   * Per service, the most a task may reach (src/policy/scope.ts): lower-case repository patterns,
   * `owner/name` or `owner/*`. Every task of the profile names its own within it when it starts.
   * Absent: the profile sets none, and its tasks name none.
   */
  scope?: Scope;
  /**
   * Per OAuth service (client credentials, token exchange), the scopes its tasks' tokens ask for,
   * sorted, each one of the provider's. Absent for a service: the provider's scopes.
   */
  oauth_scopes?: Record<string, string[]>;
  source: string;
}

/** Human approval in tasks of this profile. */
export interface ApprovalSettings {
  /** How long an approval request waits for a person, then it is `expired` (default 900 s). */
  ttl_s: number;
  /** Calls of actions at or above this risk need a person's approval even when a rule allows them. */
  risk: Risk | null;
  /** Who approves for this profile (null: the deciding rules' approvers, else settings.approvers). */
  approvers: AgentMatch | null;
}

export interface Budgets {
  /** Total calls admitted in the task. */
  calls: number | null;
  /** Qualified action name -> max calls. */
  per_action: Record<string, number>;
  /** Label (`kind:write`, `risk:high`, `data:pii`) -> max calls of actions carrying it. */
  per_label: Record<string, number>;
  /** Distinct services the task may touch. */
  services: number | null;
  /** At most `calls` in any sliding `seconds` window (429 + Retry-After). */
  windows: { calls: number; seconds: number }[];
  /** Running total of a declared numeric argument of one action, in-flight reservations included. */
  totals: { action: string; arg: string; max: number }[];
}

export interface SequenceRules {
  /** `action` is admitted only after one of `after` succeeded (2xx) in this task. */
  requires: { action: string; after: string[] }[];
  /**
   * Once an action carrying one of `read` labels succeeded, actions matching `deny` labels are refused
   * unless their service is in `allow_services` (the toxic flow).
   */
  forbid_after: { read: string[]; deny: string[]; allow_services: string[] }[];
  /** `action` may only target a resource that one of `read_by` returned successfully in this task. */
  correlate: { action: string; read_by: string[] }[];
}

/** A verified agent as rules see it: who issued its token, its subject, the claims the issuer keeps. */
export interface Agent {
  /** Name of the issuer in the bundle (`dev`, `github-actions`). */
  issuer: string;
  iss: string;
  sub: string;
  claims: Record<string, unknown>;
}
