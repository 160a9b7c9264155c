/**
 * JSON Schemas of the policy files. Published to policies/schema/ by `firebreak schema` so editors
 * complete and check policy files; the compiler validates with the same objects.
 */
import { MAX_SCOPE_PATTERNS } from "../policy/scope";
import { DEFAULT_CAPS } from "./lint-caps";

const name = { type: "string", pattern: "^[a-z][a-z0-9-]*$", maxLength: 40 };
const secretName = { type: "string", pattern: "^[A-Z][A-Z0-9_]*$", maxLength: 64 };
const strings = { type: "array", items: { type: "string", minLength: 1 } };
const headerName = { type: "string", pattern: "^[A-Za-z0-9-]+$", maxLength: 64 };
/**
 * Lint findings accepted in the policy file itself (docs/lint.md): the lint rule's id and why, never
 * without a reason. An acceptance that matches no finding is itself a finding (`accept-unused`).
 */
const accept = {
  type: "array",
  description: "Lint findings accepted here, each with its reason (docs/lint.md)",
  items: {
    type: "object",
    additionalProperties: false,
    required: ["lint", "reason"],
    properties: {
      lint: { type: "string", pattern: "^[a-z][a-z-]*$", maxLength: 60, description: "The lint rule's id" },
      reason: { type: "string", pattern: "\\S", maxLength: 500, description: "Why this finding is accepted" },
    },
  },
};
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

const issuer = {
  type: "object",
  additionalProperties: false,
  required: ["name", "issuer", "audience", "algorithms"],
  properties: {
    name,
    kind: {
      enum: ["workload", "person"],
      default: "workload",
      description:
        "workload: tokens of agents (proxied calls, task starts); person: tokens of the people who approve (never an agent)",
    },
    issuer: { type: "string", minLength: 1, description: "Exact `iss` value" },
    audience: { ...strings, minItems: 1, description: "Accepted `aud` values" },
    algorithms: {
      type: "array",
      minItems: 1,
      items: { enum: ALGORITHMS },
      description: "Pinned signature algorithms (HS* and none are never accepted)",
    },
    jwks_uri: { type: "string", description: "https URL of the issuer's JWKS" },
    jwks_var: { ...secretName, description: "Worker var/secret holding an inline JWKS" },
    clock_tolerance: { type: "integer", minimum: 0, maximum: 60, default: 30 },
    max_token_age: { type: "integer", minimum: 1, description: "Seconds since iat (iat then required)" },
    max_token_lifetime: {
      type: "integer",
      minimum: 1,
      description:
        "Longest accepted exp - iat (exp - now without iat), in seconds; default 86400 when max_token_age is unset",
    },
    claims: { ...strings, description: "Claims exposed to policy as agent.claims" },
    spiffe: {
      type: "object",
      additionalProperties: false,
      required: ["trust_domains"],
      properties: { trust_domains: { ...strings, minItems: 1 } },
    },
    require: {
      type: "object",
      description:
        "Claims every token of this issuer must carry, each one of the listed string values (a public provider: its repository_owner)",
      minProperties: 1,
      additionalProperties: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
    },
    accept,
  },
  oneOf: [{ required: ["jwks_uri"] }, { required: ["jwks_var"] }],
};

/** An identity selector that must name its issuers (admins, approvers). */
const identitySelector = {
  type: "object",
  additionalProperties: false,
  required: ["issuer"],
  properties: {
    issuer: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
    sub: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
    claims: {
      type: "object",
      additionalProperties: {
        oneOf: [{ type: "string" }, { type: "array", minItems: 1, items: { type: "string", minLength: 1 } }],
      },
    },
  },
};

const credentialId = { type: ["string", "integer"], pattern: "^[A-Za-z0-9._-]{1,64}$", minimum: 1 };

/** `credentials` in firebreak.yaml; which keys each provider needs is src/compiler/credentials.ts's check, with words. */
const credentialsSchema = {
  type: "object",
  description:
    "Service -> where its upstream credential comes from (docs/credentials.md); absent: its static credential.secret",
  additionalProperties: {
    type: "object",
    additionalProperties: false,
    required: ["provider"],
    properties: {
      provider: { enum: ["static", "github_app", "oauth2_client_credentials", "token_exchange"] },
      secret: { ...secretName, description: "static: the Worker secret" },
      app_id: { ...credentialId, description: "github_app: the App's id (or client id), the JWT's iss" },
      installation_id: {
        ...credentialId,
        description: "github_app: the installation's id (its settings URL ends in it)",
      },
      account: {
        type: "string",
        pattern: "^[A-Za-z0-9-]{1,39}$",
        description: "github_app: the account the App is installed on",
      },
      private_key: { ...secretName, description: "github_app: the Worker secret holding the App's private key (PEM)" },
      token_url: { type: "string", description: "OAuth: https URL of the token endpoint" },
      revocation_url: { type: "string", description: "OAuth: https URL of the RFC 7009 revocation endpoint" },
      client_id: { type: "string", minLength: 1, maxLength: 256 },
      client_secret: { ...secretName, description: "OAuth: the Worker secret holding the client secret (HTTP Basic)" },
      audience: { type: "string", minLength: 1, description: "token_exchange: the audience of the exchanged token" },
      scopes: {
        type: "array",
        items: { type: "string", pattern: "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$" },
        uniqueItems: true,
      },
    },
  },
};

export const configSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://firebreak.dev/schema/firebreak.schema.json",
  title: "Firebreak settings and trusted issuers (policies/firebreak.yaml)",
  type: "object",
  additionalProperties: false,
  properties: {
    settings: {
      type: "object",
      additionalProperties: false,
      properties: {
        mode: { enum: ["enforce", "report"], default: "enforce" },
        max_body_bytes: { type: "integer", minimum: 1024, maximum: 10485760, default: 1048576 },
        upstream_timeout_ms: { type: "integer", minimum: 100, maximum: 300000, default: 30000 },
        bare_workload_tokens: {
          type: "boolean",
          default: false,
          description:
            "Whether a workload token without a task may call services (false: every call needs a task token, else 403 task.required).",
        },
        admins: {
          ...identitySelector,
          description:
            "Who may revoke tasks and use the agent kill switch: verified tokens of these issuers (by name), narrowed by sub and/or claims. Omitted: nobody.",
        },
        approvers: {
          ...identitySelector,
          description:
            "Who approves calls that need a person when the rule or profile names nobody: tokens of person issuers (by name), narrowed by sub and/or claims.",
        },
        forward_headers: {
          type: "array",
          items: headerName,
          description:
            "Request headers every service forwards besides the defaults (docs/decisions.md): every other header is dropped",
        },
        agent_limits: {
          type: "object",
          additionalProperties: false,
          description: "Per-agent caps checked when a task starts (the agent Durable Object)",
          properties: {
            live_tasks: { type: "integer", minimum: 0, maximum: 100000, default: 10 },
            starts_per_hour: { type: "integer", minimum: 0, maximum: 1000000, default: 60 },
          },
        },
      },
    },
    secrets: { type: "array", items: secretName, description: "Worker secrets and vars the policies may reference" },
    issuers: { type: "array", items: issuer },
    credentials: credentialsSchema,
    lint: {
      type: "object",
      additionalProperties: false,
      description: "`firebreak lint` settings (docs/lint.md): the caps it holds profiles to",
      properties: {
        caps: {
          type: "object",
          additionalProperties: false,
          properties: {
            task_ttl: {
              type: "integer",
              minimum: 1,
              default: DEFAULT_CAPS.task_ttl,
              description: "Longest profile ttl, seconds",
            },
            task_lifetime: {
              type: "integer",
              minimum: 1,
              default: DEFAULT_CAPS.task_lifetime,
              description: "Longest profile max_lifetime, seconds",
            },
            calls: {
              type: "integer",
              minimum: 1,
              default: DEFAULT_CAPS.calls,
              description: "Largest budgets.calls of a profile",
            },
            calls_per_minute: {
              type: "integer",
              minimum: 1,
              default: DEFAULT_CAPS.calls_per_minute,
              description: "Fastest budgets.windows of a profile, as calls per minute",
            },
          },
        },
        public_issuers: {
          type: "array",
          items: { type: "string", minLength: 1 },
          description: "More `iss` values of public OIDC providers, besides the built-in list",
        },
      },
    },
    upstreams: {
      type: "object",
      description: "Dev overlay only: service -> local upstream base URL",
      additionalProperties: { type: "string" },
    },
  },
};

const graphqlField = { type: "string", pattern: "^(query|mutation)\\.[_A-Za-z][_0-9A-Za-z]*$" };

const action = {
  type: "object",
  additionalProperties: false,
  required: ["method", "path", "kind", "risk"],
  properties: {
    method: {
      oneOf: [
        { enum: ["GET", "POST", "PUT", "PATCH", "DELETE"] },
        { type: "array", minItems: 1, items: { enum: ["GET", "POST", "PUT", "PATCH", "DELETE"] } },
      ],
    },
    path: { type: "string", pattern: "^/", description: "Template: literals, {param}, {param+} as last segment" },
    kind: { enum: ["read", "write", "delete", "admin"] },
    risk: { enum: ["low", "medium", "high", "critical"] },
    data: { type: "array", items: { type: "string", pattern: "^[a-z][a-z0-9_]*$" } },
    resource: { type: "string", description: "e.g. repo:{owner}/{repo} or channel:{args.channel}" },
    args: {
      type: "object",
      description: "Declared arguments by name; a GraphQL action's are argument paths (input.pullRequestId)",
      propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$" },
      additionalProperties: { enum: ["string", "integer", "number", "boolean"] },
    },
    same_effect_as: { type: "array", items: { type: "string" } },
    forbidden: { type: "string", minLength: 1 },
    description: { type: "string" },
    deprecated: { type: "boolean", description: "The vendor marks the operation deprecated (kept by the importer)" },
    body_format: {
      enum: ["json", "form", "content_type"],
      description: "How the upstream parses this action's body, when it differs from the service's body_format",
    },
    graphql: {
      description:
        "Root field(s) of the service's GraphQL endpoint this action is: query.<field> or mutation.<field> (query.__schema for introspection)",
      oneOf: [graphqlField, { type: "array", minItems: 1, items: graphqlField }],
    },
    mcp: {
      type: "object",
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      description: "What this action is at the service's MCP endpoint: one tool, prompt or resource URI (template)",
      properties: {
        tool: { type: "string", minLength: 1, description: "The tool's name, as tools/list gives it" },
        prompt: { type: "string", minLength: 1, description: "The prompt's name, as prompts/list gives it" },
        uri: { type: "string", minLength: 1, description: "A resource URI, or a template with whole-segment {name}s" },
      },
    },
  },
};

export const serviceSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://firebreak.dev/schema/service.schema.json",
  title: "A Firebreak service and its action catalog (policies/services/*.yaml)",
  type: "object",
  additionalProperties: false,
  required: ["service", "upstream", "credential", "actions"],
  properties: {
    service: name,
    upstream: { type: "string", description: "https base URL of the API" },
    credential: {
      type: "object",
      additionalProperties: false,
      required: ["secret", "header", "format"],
      properties: {
        secret: secretName,
        header: { type: "string", pattern: "^[A-Za-z0-9-]+$" },
        format: { type: "string", pattern: "\\{secret\\}" },
      },
    },
    args_in: { type: "array", items: { enum: ["body", "query"] }, uniqueItems: true },
    reject_params: { type: "array", items: { type: "string" } },
    strip_headers: { type: "array", items: headerName },
    body_format: {
      enum: ["json", "form", "content_type"],
      default: "content_type",
      description:
        "How the upstream parses a body: json (whatever the Content-Type says), form (form-encoded only), content_type (JSON or form, by the Content-Type)",
    },
    forward_headers: {
      type: "array",
      items: headerName,
      description:
        "Request headers forwarded as sent besides the defaults (API versions, previews); others are dropped",
    },
    semantic_headers: {
      type: "object",
      description:
        "Headers that change what the upstream does: forwarded, visible to rules as request.headers[name], bound into approvals",
      propertyNames: headerName,
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        properties: {
          scope: {
            type: "string",
            pattern: "\\{value\\}",
            description: "Resource prefix when the header is sent, e.g. account:{value}/",
          },
        },
      },
    },
    link_aliases: {
      type: "array",
      description:
        "Other addresses the upstream writes in Link headers for the resource a call names (GitHub: /repositories/{id} for /repos/{owner}/{repo})",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["from", "to"],
        properties: { from: { type: "string", pattern: "^/" }, to: { type: "string", pattern: "^/" } },
      },
    },
    graphql: {
      type: "object",
      additionalProperties: false,
      required: ["path", "schema"],
      description:
        "A GraphQL endpoint: POSTs to path are classified by the document's root fields (docs/design/graphql.md)",
      properties: {
        path: { type: "string", pattern: "^/", description: "The endpoint under the service (/graphql)" },
        schema: {
          type: "string",
          pattern: "^[a-z][a-z0-9-]*\\.graphql$",
          description: "The schema (SDL) beside this file, written by `firebreak catalog import`",
        },
        max_depth: { type: "integer", minimum: 1, maximum: 100, default: 20 },
        max_fields: { type: "integer", minimum: 1, maximum: 100000, default: 1000, description: "Aliases included" },
      },
    },
    mcp: {
      type: "object",
      additionalProperties: false,
      required: ["path"],
      description:
        "An MCP server (Streamable HTTP): POSTs to path are classified by the JSON-RPC method and the tool, prompt or URI it names (docs/design/mcp.md)",
      properties: { path: { type: "string", pattern: "^/", description: "The endpoint under the service (/mcp)" } },
    },
    refusal: {
      enum: ["firebreak", "slack", "stripe"],
      default: "firebreak",
      description: "The error shape of refusals, as the service's SDKs read errors",
    },
    actions: {
      type: "object",
      minProperties: 1,
      propertyNames: { pattern: "^[a-z][A-Za-z0-9_]*(\\.[a-z][A-Za-z0-9_]*)*$" },
      additionalProperties: action,
    },
  },
};

const agents = {
  type: "object",
  additionalProperties: false,
  minProperties: 1,
  properties: {
    issuer: strings,
    sub: strings,
    claims: { type: "object", additionalProperties: { oneOf: [{ type: "string" }, strings] } },
  },
};
const selectors = { type: "array", minItems: 1, items: { type: "string", minLength: 1 } };

const rule = {
  type: "object",
  additionalProperties: false,
  required: ["id", "effect", "actions"],
  properties: {
    id: { type: "string", pattern: "^[a-z0-9][a-z0-9._-]*$", maxLength: 80 },
    description: { type: "string" },
    effect: { enum: ["allow", "deny", "approve"] },
    mode: { enum: ["enforce", "report"] },
    agents,
    actions: selectors,
    when: {
      type: "string",
      minLength: 1,
      description: "CEL condition over agent, action, resource, request, task, now",
    },
    message: { type: "string", maxLength: 300 },
    approvers: {
      ...identitySelector,
      description: "effect approve: who may approve (person issuers); omitted: settings.approvers",
    },
    accept,
  },
};

export const rulesSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://firebreak.dev/schema/rules.schema.json",
  title: "Firebreak rules (policies/rules/*.yaml)",
  type: "object",
  additionalProperties: false,
  required: ["rules"],
  properties: { rules: { type: "array", items: rule } },
};

// Action names and labels are checked by the compiler, which says what is wrong and suggests a name.
const actionName = { type: "string", minLength: 1, description: "One qualified action name, service:action" };
const actionNames = { type: "array", minItems: 1, items: actionName };
const label = { type: "string", minLength: 1, description: "kind:<kind>, risk:<risk> or data:<label>" };
const labels = { type: "array", minItems: 1, items: label };
const count = { type: "integer", minimum: 0 };

const budgets = {
  type: "object",
  additionalProperties: false,
  description: "Limits on what one task may do; each is checked and reserved atomically before a call is forwarded",
  properties: {
    calls: { ...count, description: "Total calls in the task" },
    per_action: {
      type: "object",
      description: "Qualified action name -> max calls of exactly that action",
      additionalProperties: count,
    },
    per_label: {
      type: "object",
      description: "Label (kind:write, risk:high, data:pii) -> max calls of actions carrying it",
      additionalProperties: count,
    },
    services: { type: "integer", minimum: 1, description: "Distinct services the task may touch" },
    windows: {
      type: "array",
      description: "At most `calls` in any sliding window of `seconds` (429 with Retry-After beyond)",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["calls", "seconds"],
        properties: {
          calls: { type: "integer", minimum: 1 },
          seconds: { type: "integer", minimum: 1, maximum: 86400 },
        },
      },
    },
    totals: {
      type: "array",
      description: "Running total of a declared numeric argument of one action (in-flight calls included)",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["action", "arg", "max"],
        properties: {
          action: actionName,
          arg: {
            type: "string",
            pattern: "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$",
            description: "A declared argument of the action; a GraphQL action's is an argument path (input.amount)",
          },
          max: { type: "number", minimum: 0 },
        },
      },
    },
  },
};

const sequence = {
  type: "object",
  additionalProperties: false,
  properties: {
    requires: {
      type: "array",
      description: "`action` only after one of `after` succeeded in this task",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["action", "after"],
        properties: { action: actionName, after: actionNames },
      },
    },
    forbid_after: {
      type: "array",
      description:
        "Once an action carrying a `read` label succeeded, actions carrying a `deny` label are refused outside `allow_services`",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["read", "deny"],
        properties: {
          read: labels,
          deny: labels,
          allow_services: { type: "array", items: name },
        },
      },
    },
    correlate: {
      type: "array",
      description: "`action` may only target a resource that one of `read_by` returned in this task",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["action", "read_by"],
        properties: { action: actionName, read_by: actionNames },
      },
    },
  },
};

/** `scope` of a profile; the patterns' syntax is the compiler's check (src/compiler/scope.ts), with words. */
const profileScope = {
  type: "object",
  description:
    "Per service, the most a task of this profile may reach; each task names its own repositories within it when it starts (docs/credentials.md)",
  propertyNames: name,
  additionalProperties: {
    type: "object",
    additionalProperties: false,
    required: ["repositories"],
    properties: {
      repositories: {
        type: "array",
        minItems: 1,
        maxItems: MAX_SCOPE_PATTERNS,
        items: { type: "string", minLength: 1, maxLength: 140 },
        description: "Repository patterns: owner/name, or owner/* for every repository of owner",
      },
    },
  },
};

const profile = {
  type: "object",
  additionalProperties: false,
  required: ["name", "actions"],
  properties: {
    name,
    description: { type: "string" },
    agents: { ...agents, description: "Who may start a task of this profile (omitted: any verified agent)" },
    ttl: { type: "integer", minimum: 1, maximum: 3600, default: 600, description: "Task token lifetime, seconds" },
    max_lifetime: {
      type: "integer",
      minimum: 1,
      maximum: 86400,
      default: 3600,
      description: "Hard end of a task from its start, seconds (>= ttl); renewals never pass it",
    },
    actions: { ...selectors, description: "Selectors of the actions a task may call at all (as in rules)" },
    budgets,
    sequence,
    scope: profileScope,
    oauth_scopes: {
      type: "object",
      description:
        "Per OAuth service (client credentials, token exchange), the scopes this profile's tasks ask for, within the credential's scopes (omitted: the credential's scopes)",
      propertyNames: name,
      additionalProperties: {
        type: "array",
        minItems: 1,
        maxItems: 100,
        items: { type: "string", pattern: "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$" },
      },
    },
    accept,
    approvals: {
      type: "object",
      additionalProperties: false,
      description: "Human approval in tasks of this profile",
      properties: {
        ttl: {
          type: "integer",
          minimum: 30,
          maximum: 86400,
          default: 900,
          description: "Seconds an approval request waits for a person; no answer means no",
        },
        risk: {
          enum: ["low", "medium", "high", "critical"],
          description: "Calls of actions at or above this risk need a person's approval even when a rule allows them",
        },
        approvers: {
          ...identitySelector,
          description: "Who approves in this profile (omitted: the deciding rules' approvers, else settings.approvers)",
        },
      },
    },
  },
};

export const profilesSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://firebreak.dev/schema/profiles.schema.json",
  title: "Firebreak task profiles (policies/profiles/*.yaml)",
  type: "object",
  additionalProperties: false,
  required: ["profiles"],
  properties: { profiles: { type: "array", items: profile } },
};

export const testsSchema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://firebreak.dev/schema/tests.schema.json",
  title: "Firebreak policy tests (policies/tests/*.yaml)",
  type: "object",
  additionalProperties: false,
  required: ["tests"],
  properties: {
    tests: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "agent", "request", "expect"],
        properties: {
          name: { type: "string" },
          agent: {
            type: "object",
            additionalProperties: false,
            required: ["issuer", "sub"],
            properties: { issuer: { type: "string" }, sub: { type: "string" }, claims: { type: "object" } },
          },
          request: {
            type: "object",
            additionalProperties: false,
            required: ["method", "url"],
            properties: {
              method: { type: "string" },
              url: { type: "string", description: "/<service>/<path>?<query>" },
              headers: { type: "object", additionalProperties: { type: "string" } },
              body: {},
            },
          },
          now: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}T", description: "ISO 8601 time of the request" },
          expect: {
            type: "object",
            additionalProperties: false,
            required: ["decision"],
            properties: {
              decision: { enum: ["allow", "deny", "approval_required"] },
              reason: { type: "string" },
              action: { type: "string" },
              resource: { type: "string" },
              rules: strings,
            },
          },
        },
      },
    },
  },
};

export const SCHEMAS = {
  "firebreak.schema.json": configSchema,
  "service.schema.json": serviceSchema,
  "rules.schema.json": rulesSchema,
  "profiles.schema.json": profilesSchema,
  "tests.schema.json": testsSchema,
} as const;
