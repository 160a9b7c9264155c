/**
 * The replay tests' deployed policy set (RULES, SERVICE, profile `work`) and a hand-built export of two
 * tasks (`firebreak task-log` format), written as the task object and the gateway write their entries,
 * as RULES decided them:
 *
 * T1 (agent ci:bot, profile work)
 *   2 items.get item:1 reserved, 3 settle 200      6 notes.create reserved (no pii read yet), 7 settle 201
 *   4 users.get user:7 reserved, 5 settle 404      8 items.update count 5 refused policy.denied (3 calls)
 *   9 users.get user:8 reserved, 10 settle 200     11 notes.create refused policy.denied (pii read)
 *   12 items.get item:2 refused budget.exhausted   13 GET /nothing refused action.unknown
 *   14 DELETE /items refused action.forbidden      15 notes.create refused request.body_invalid
 *   16 items.get reserved, written before facts were kept (no facts)
 * T2 (same agent and profile)
 *   2 approval ap_1 (count 50, no facts), 3 approve, 4 its retry reserved (facts), 5 settle 200
 *   6 approval ap_2 (count 20), never redeemed: no facts anywhere
 *   7 items.update count 2 reserved (1 call before), 8 settle 200, 9 items.update count 3 reserved (2 calls)
 */
import type { LoadedBundle } from "../../src/policy/load";
import { CI_ISSUER, compileSet, STAFF_ISSUER } from "../helpers/policy-set";

export type Rule = Record<string, unknown>;

export const ITEMS_GET = { method: "GET", path: "/items/{id}", kind: "read", risk: "low", resource: "item:{id}" };
export const SERVICE = {
  service: "svc",
  upstream: "https://api.example.com",
  credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
  actions: {
    "items.get": ITEMS_GET,
    "items.update": {
      method: "PATCH",
      path: "/items/{id}",
      kind: "write",
      risk: "medium",
      resource: "item:{id}",
      args: { count: "integer" },
    },
    "items.purge": { method: "DELETE", path: "/items", kind: "delete", risk: "critical", forbidden: "never purge" },
    "users.get": {
      method: "GET",
      path: "/users/{id}",
      kind: "read",
      risk: "low",
      data: ["pii"],
      resource: "user:{id}",
    },
    "notes.create": {
      method: "POST",
      path: "/notes",
      kind: "write",
      risk: "low",
      resource: "note:{args.topic}",
      args: { topic: "string", text: "string" },
    },
  },
};

export const RULES: Rule[] = [
  { id: "reads", effect: "allow", actions: ["kind:read"] },
  { id: "updates-small", effect: "allow", actions: ["svc:items.update"], when: "request.args.count < 10" },
  {
    id: "big-updates-need-approval",
    effect: "approve",
    actions: ["svc:items.update"],
    when: "request.args.count >= 10",
  },
  { id: "early-updates", effect: "deny", actions: ["svc:items.update"], when: "task.calls >= 3" },
  { id: "notes", effect: "allow", actions: ["svc:notes.create"] },
  { id: "no-notes-after-pii", effect: "deny", actions: ["svc:notes.create"], when: '"data:pii" in task.labels_read' },
];

export const PROFILE = { name: "work", actions: ["svc:*"] };

export interface Over {
  rules?: Rule[];
  service?: unknown;
  profile?: Record<string, unknown>;
}

/** The deployed policy files, or a variant: other rules, another catalog, profile settings. */
export function policyFiles(over: Over = {}): Record<string, unknown> {
  return {
    "firebreak.yaml": {
      settings: { approvers: { issuer: ["staff"] } },
      secrets: ["API_TOKEN"],
      issuers: [{ ...CI_ISSUER, claims: ["team"] }, STAFF_ISSUER],
    },
    "services/svc.yaml": over.service ?? SERVICE,
    "rules/rules.yaml": { rules: over.rules ?? RULES },
    "profiles/work.yaml": { profiles: [{ ...PROFILE, ...over.profile }] },
  };
}

export const bundle = (over: Over = {}): LoadedBundle => compileSet(policyFiles(over));

export const T1 = "t_0000000000000000000000001A";
export const T2 = "t_0000000000000000000000002B";

const T0 = Date.parse("2026-05-01T12:00:00Z");
const agent = { issuer: "ci", sub: "bot", claims: { team: "infra" } };
const task = (task_id: string) => ({ task_id, profile: "work", purpose: "tests", state: "live", agent });

const READ = ["kind:read", "risk:low"];
const PII = [...READ, "data:pii"];
const WRITE = ["kind:write", "risk:medium"];
const NOTE = ["kind:write", "risk:low"];

type Facts = { method: string; path: string; query?: [string, string][]; args?: Record<string, unknown> };

function step(seq: number, kind: string, fields: Record<string, unknown> = {}) {
  return {
    seq,
    ts: T0 + seq * 1000,
    kind,
    decision_id: kind === "call" || kind === "approval" ? `d-${seq}` : null,
    action: null,
    service: kind === "call" || kind === "approval" ? "svc" : null,
    resource: null,
    labels: null,
    args: null,
    outcome: null,
    reason: null,
    ref: null,
    status: null,
    settled: false,
    by: null,
    facts: null,
    hash: "0".repeat(64),
    ...fields,
  };
}

function call(seq: number, action: string | null, labels: string[], f: Facts | null, outcome: string, extra = {}) {
  const facts = f && { query: [], args: {}, ...f };
  return step(seq, "call", { action, labels, facts, outcome, ...extra });
}
const refused = (reason: string) => ({ reason });
const settle = (seq: number, ref: number, status: number) => step(seq, "settle", { ref, status });
const get = (path: string): Facts => ({ method: "GET", path });
const update = (id: string, count: number): Facts => ({ method: "PATCH", path: `/items/${id}`, args: { count } });
const note = (topic: string, text: string): Facts => ({ method: "POST", path: "/notes", args: { topic, text } });

const t1 = [
  step(1, "open", { by: "ci bot" }),
  call(2, "svc:items.get", READ, get("/items/1"), "reserved", { resource: "item:1" }),
  settle(3, 2, 200),
  call(4, "svc:users.get", PII, get("/users/7"), "reserved", { resource: "user:7" }),
  settle(5, 4, 404),
  call(6, "svc:notes.create", NOTE, note("x", "hello"), "reserved", { resource: "note:x" }),
  settle(7, 6, 201),
  call(8, "svc:items.update", [], update("1", 5), "refused", refused("policy.denied")),
  call(9, "svc:users.get", PII, get("/users/8"), "reserved", { resource: "user:8" }),
  settle(10, 9, 200),
  call(11, "svc:notes.create", [], note("y", "a user's words"), "refused", refused("policy.denied")),
  call(12, "svc:items.get", READ, get("/items/2"), "refused", refused("budget.exhausted")),
  call(13, null, [], get("/nothing"), "refused", refused("action.unknown")),
  call(14, "svc:items.purge", [], { method: "DELETE", path: "/items" }, "refused", refused("action.forbidden")),
  call(15, "svc:notes.create", [], { method: "POST", path: "/notes" }, "refused", refused("request.body_invalid")),
  call(16, "svc:items.get", READ, null, "reserved"),
];

const approval = (seq: number, id: string, outcome: string) =>
  step(seq, "approval", {
    action: "svc:items.update",
    resource: "item:9",
    args: { approval_id: id, digest: "ab".repeat(32), expires_at: T0 + 900_000 },
    outcome,
    reason: "approval.required",
  });

const t2 = [
  step(1, "open", { by: "ci bot" }),
  approval(2, "ap_1", "requested"),
  step(3, "approve", { action: "svc:items.update", outcome: "approved", by: "staff alice" }),
  call(4, "svc:items.update", WRITE, update("9", 50), "reserved", { resource: "item:9", by: "approval ap_1" }),
  settle(5, 4, 200),
  approval(6, "ap_2", "requested"),
  call(7, "svc:items.update", WRITE, update("3", 2), "reserved", { resource: "item:3" }),
  settle(8, 7, 200),
  call(9, "svc:items.update", WRITE, update("4", 3), "reserved", { resource: "item:4" }),
];

const lines = (id: string, steps: unknown[]) => [
  JSON.stringify({ task: task(id) }),
  ...steps.map((s) => JSON.stringify(s)),
];

export const LOG = `${[...lines(T1, t1), ...lines(T2, t2)].join("\n")}\n`;
