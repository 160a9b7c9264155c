/**
 * What the task object's RPC methods take and answer beyond admission (src/tasks/admission.ts): the
 * start, the ends and renewal, and the view CEL's `task` reads. Types only, shared by the object and
 * its callers (the tasks API, the gateway).
 */
import type { CredentialFailureCode } from "../credentials/types";
import type { Scope } from "../policy/scope";
import type { ProfileSpec } from "../policy/types";
import type { MintPlan } from "./credentials";
import type { TaskState } from "./task-store";

export interface OpenInit {
  task_id: string;
  profile: ProfileSpec;
  agent: { issuer: string; sub: string };
  /** The agent's claims the rules may read (the issuer's `claims:`), kept for `firebreak replay`. */
  claims?: Record<string, unknown>;
  purpose: string;
  /** What the task declared it reaches (checked against its profile by the gateway), or null. */
  scope?: Scope | null;
  /** The credentials to mint for the task (src/tasks/credentials.ts), all before it opens. */
  credentials?: MintPlan[];
  /** The agent's workload JWT, for a token exchange only; kept with that credential, never logged. */
  subject_token?: string;
  /** Epoch milliseconds. */
  now: number;
}

export type OpenResult =
  | { ok: true; deadline: number }
  | { ok: false; reason: "task.agent_mismatch" }
  | { ok: false; reason: CredentialFailureCode; detail: string };

export type EndResult = { ok: true } | { ok: false; reason: "task.unknown" | `task.${Exclude<TaskState, "live">}` };

export type RenewResult = { ok: true; deadline: number } | Exclude<EndResult, { ok: true }>;

/** What rules may read as CEL `task`, and renew reads: state, deadline, calls, services, data read. */
export interface TaskStateView {
  state: TaskState;
  deadline: number;
  calls: number;
  services: string[];
  labels_read: string[];
}
