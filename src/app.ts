import { type Context, Hono } from "hono";
import { background, type Clock } from "./api/common";
import { api } from "./api/routes";
import { localStore, teeToStore } from "./decisions/local-store";
import type { Env } from "./env";
import { handleProxy } from "./gateway/pipeline";
import { BundleHolder } from "./policy/holder";
import { BUNDLE_ORDER_NAME } from "./tasks/bundle-order-object";

export interface AppOptions {
  /** Where every request reads the time (default: the real one); tests move it to reach deadlines. */
  clock?: Clock;
}

export function createApp(bundleJson: unknown, opts: AppOptions = {}): Hono<{ Bindings: Env }> {
  const clock = opts.clock ?? (() => new Date());
  // The built-in bundle, replaced by a newer signed one from KV when configured (docs/bundles.md).
  const holder = new BundleHolder(bundleJson);
  const getBundle = () => holder.state();
  const app = new Hono<{ Bindings: Env }>();
  // Before every route: a KV check when one is due, in the background (the first ones of an isolate wait).
  app.use("*", async (c, next) => {
    const order = c.env?.BUNDLE_ORDER;
    const config = {
      store: c.env?.BUNDLES,
      keys: c.env?.FIREBREAK_BUNDLE_KEYS,
      order: order && ((sequence: number) => order.getByName(BUNDLE_ORDER_NAME).raise(sequence)),
    };
    await holder.refresh(config, clock(), background(c));
    await next();
  });
  app.route(
    "/_firebreak/v1",
    api(getBundle, clock, () => holder.status()),
  );
  app.all("/_firebreak/*", (c) =>
    c.json({ error: "not_found", reason: "route.not_found", message: "Not found." }, 404),
  );
  app.all("*", (c) =>
    handleProxy(c.req.raw, {
      bundle: getBundle(),
      env: c.env,
      gatewayDomain: c.env.GATEWAY_DOMAIN || undefined,
      now: clock,
      fetcher: (request) => fetch(request),
      analytics: analyticsSink(c),
      newId: () => crypto.randomUUID(),
      background: background(c),
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

/** Analytics Engine, plus the local decision store in dev runs (wrangler.toml [env.dev]; never deployed). */
function analyticsSink(c: Context<{ Bindings: Env }>) {
  const db = localStore(c.env);
  if (!db) return c.env.DECISIONS;
  return teeToStore(c.env.DECISIONS, db, background(c));
}
