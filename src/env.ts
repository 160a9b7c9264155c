import type { AgentObject } from "./tasks/agent-object";
import type { DirectoryObject } from "./tasks/directory-object";
import type { TaskObject } from "./tasks/task-object";

/** Bindings of the Firebreak worker (wrangler.toml); service credentials are secrets named by the bundle. */
export interface Env {
  /** Analytics Engine dataset: one data point per decision (docs/analytics.md). */
  DECISIONS?: AnalyticsEngineDataset;
  /** `<service>.<GATEWAY_DOMAIN>` routes by host; empty: path routing only. */
  GATEWAY_DOMAIN?: string;
  /**
   * The gateway's own origin, e.g. `https://firebreak.acme.example`: `iss` and `aud` of the task tokens
   * it signs. A bearer token whose `iss` is this value is verified as a task token. Empty: tasks are off
   * (starting one answers 503 `task.unavailable`).
   */
  GATEWAY_ORIGIN?: string;
  /** Secret: the private Ed25519 JWK (with kid) that signs task tokens (`firebreak task-key`). */
  FIREBREAK_TASK_KEY?: string;
  /** Secret, optional: the previous task key during a rotation; verifies, never signs. */
  FIREBREAK_TASK_KEY_PREVIOUS?: string;
  /** Secret, optional: a Slack incoming-webhook URL told about every new approval (src/approvals/notify.ts). */
  FIREBREAK_APPROVAL_WEBHOOK?: string;
  /** One task Durable Object per task id (`getByName(taskId)`): admission and the step log. */
  TASKS?: DurableObjectNamespace<TaskObject>;
  /** One agent Durable Object per agent (`getByName(agentKey(agent))`): live tasks, starts per hour, kill switch. */
  AGENTS?: DurableObjectNamespace<AgentObject>;
  /**
   * One object for the gateway (`getByName("directory")`): tasks and approvals listed for the operator
   * dashboard, written in the background, best effort (src/tasks/directory.ts). Absent: no listing.
   */
  DIRECTORY?: DurableObjectNamespace<DirectoryObject>;
}
