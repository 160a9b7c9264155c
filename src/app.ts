import { Hono } from "hono";
import { api } from "./api/routes";
import type { Env } from "./env";
import { handleProxy } from "./gateway/pipeline";
import { bundleState } from "./policy/load";

export function createApp(bundleJson: unknown): Hono<{ Bindings: Env }> {
  const getBundle = bundleState(bundleJson);
  const app = new Hono<{ Bindings: Env }>();
  app.route("/_firebreak/v1", api(getBundle));
  app.all("/_firebreak/*", (c) =>
    c.json({ error: "not_found", reason: "route.not_found", message: "Not found." }, 404),
  );
  app.all("*", (c) =>
    handleProxy(c.req.raw, {
      bundle: getBundle(),
      env: c.env as unknown as Record<string, unknown>,
      gatewayDomain: c.env.GATEWAY_DOMAIN || undefined,
      now: () => new Date(),
      fetcher: (request) => fetch(request),
      analytics: c.env.DECISIONS,
      newId: () => crypto.randomUUID(),
    }),
  );
  // handleProxy never throws; this only guards Firebreak's own API routes.
  app.onError((_err, c) =>
    c.json(
      { error: "unavailable", reason: "internal.error", message: "Firebreak could not handle this request." },
      503,
    ),
  );
  return app;
}
