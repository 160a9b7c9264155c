import type { TaskObject } from "./tasks/task-object";

/** Bindings of the Firebreak worker (wrangler.toml); service credentials are secrets named by the bundle. */
export interface Env {
  /** Analytics Engine dataset: one data point per decision (docs/analytics.md). */
  DECISIONS?: AnalyticsEngineDataset;
  /** `<service>.<GATEWAY_DOMAIN>` routes by host; empty: path routing only. */
  GATEWAY_DOMAIN?: string;
  /** One task Durable Object per task id (`getByName(taskId)`): admission and the step log (issue 3). */
  TASKS?: DurableObjectNamespace<TaskObject>;
}
