/** Firebreak's own API under /_firebreak/v1. Tasks, approvals and decisions join here in later issues. */
import { Hono } from "hono";
import type { Env } from "../env";
import type { BundleState } from "../policy/load";

export function api(getBundle: () => BundleState): Hono<{ Bindings: Env }> {
  const api = new Hono<{ Bindings: Env }>();
  api.get("/health", (c) => {
    const state = getBundle();
    if (!state.ok) return c.json({ status: "unavailable", reason: "bundle.invalid" }, 503);
    const m = state.bundle.spec.manifest;
    return c.json({
      status: "ok",
      bundle: { revision: m.revision, compiler_version: m.compiler_version, dev: m.dev, counts: m.counts },
    });
  });
  return api;
}
