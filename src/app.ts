import { Hono } from "hono";
import { api } from "./api/routes";
import type { Env } from "./env";
import { handleProxy } from "./gateway/pipeline";
import { type LoadedBundle, loadBundle } from "./policy/load";

export type BundleState = { ok: true; bundle: LoadedBundle } | { ok: false; error: string };

/** Loads the bundle once per isolate; a bundle that does not load makes every call fail closed. */
export function bundleState(json: unknown): () => BundleState {
  let state: BundleState | undefined;
  return () => {
    if (!state) {
      try {
        state = { ok: true, bundle: loadBundle(json) };
      } catch (e) {
        state = { ok: false, error: e instanceof Error ? e.message : "unloadable bundle" };
      }
    }
    return state;
  };
}

export function createApp(bundleJson: unknown): Hono<{ Bindings: Env }> {
  const getBundle = bundleState(bundleJson);
  const app = new Hono<{ Bindings: Env }>();
  app.route("/_firebreak/v1", api(getBundle));
  app.all("/_firebreak/*", (c) =>
    c.json({ error: "not_found", reason: "route.not_found", message: "Not found." }, 404),
  );
  app.all("*", (c) => {
    const state = getBundle();
    if (!state.ok) {
      return c.json(
        {
          error: "unavailable",
          reason: "bundle.invalid",
          message: "The policy bundle could not be loaded; nothing was forwarded.",
        },
        503,
      );
    }
    return handleProxy(c.req.raw, {
      bundle: state.bundle,
      env: c.env as unknown as Record<string, unknown>,
      gatewayDomain: c.env.GATEWAY_DOMAIN || undefined,
      now: () => new Date(),
      fetcher: (request) => fetch(request),
      analytics: c.env.DECISIONS,
      newId: () => crypto.randomUUID(),
    });
  });
  app.onError((_err, c) =>
    c.json(
      { error: "unavailable", reason: "internal.error", message: "Firebreak could not handle this request." },
      503,
    ),
  );
  return app;
}
