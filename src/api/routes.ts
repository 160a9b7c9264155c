/** Firebreak's own API under /_firebreak/v1. Tasks, approvals and decisions join here in later issues. */
import { Hono } from "hono";
import { taskKeys } from "../identity/task-token";
import type { HolderStatus } from "../policy/holder";
import type { BundleState } from "../policy/load";
import { approvalsApi } from "./approvals";
import { type ApiEnv, type Clock, withClock } from "./common";
import { dashboardApi } from "./dashboard";
import { decisionsApi } from "./decisions";
import { tasksApi } from "./tasks";

export function api(getBundle: () => BundleState, clock: Clock, bundles?: () => HolderStatus): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  // Before every route: each one reads the time as `c.var.now`.
  api.use("*", withClock(clock));
  api.get("/health", (c) => {
    const state = getBundle();
    // Which bundle is in force and where it came from (built-in or KV), and the last KV value refused.
    const held = bundles?.();
    const { kind, ...signed } = held?.source ?? { kind: "built-in" };
    const source = { source: kind, ...signed };
    const kv = held && {
      kv: held.kv,
      refresh_s: held.refresh_s,
      checked_at: held.checked_at,
      last_rejection: held.last_rejection,
    };
    if (!state.ok) return c.json({ status: "unavailable", reason: "bundle.invalid", bundles: kv }, 503);
    const m = state.bundle.spec.manifest;
    return c.json({
      status: "ok",
      bundle: { revision: m.revision, compiler_version: m.compiler_version, dev: m.dev, counts: m.counts, ...source },
      bundles: kv,
    });
  });
  // The public task-token keys (current, then previous during a rotation): public members only.
  api.get("/jwks", async (c) => {
    const keys = await taskKeys(c.env ?? {});
    if (!keys.ok) {
      // The detail names the variable and the problem, never the key.
      console.error(JSON.stringify({ event: "firebreak.task_keys_unavailable", detail: keys.detail }));
      return c.json(
        { error: "unavailable", reason: keys.reason, message: "Task signing keys are not configured." },
        503,
        { "cache-control": "no-store" },
      );
    }
    return c.json(keys.keys.jwks, 200, { "cache-control": "public, max-age=300" });
  });
  api.route("/tasks", tasksApi(getBundle));
  api.route("/approvals", approvalsApi(getBundle));
  api.route("/decisions", decisionsApi(getBundle));
  api.route("/dashboard", dashboardApi(getBundle));
  return api;
}
